"""The job protocol in Redis: key names, the abort record and the Lua scripts.

Shared by the workers (runtime/) and the submit side (client/): nobody else
spells a key. Every key lives under ``cylon:{job_id}:`` with a TTL
(docs/contracts.md lists them all):

=====================  =========================  ============================================
key                    type                       meaning
=====================  =========================  ============================================
``spec``               string (JSON)              the JobSpec, written by the submitter
``handle``             string (JSON)              the submit's JobHandle (invocations, request ids)
``fence``              string (integer)           this submission's fencing token for its destination
``rank``               counter                    INCR - 1 gives a rank
``claim:{inv}``        string                     rank claimed by that invocation (set once)
``endpoints``          hash rank -> JSON          all_gather of worker endpoints
``gather:{name}``      hash rank -> JSON          any other all_gather (same protocol)
``barrier:{name}``     set of ranks               barrier arrivals
``status``             hash rank -> JSON          ok/error, traceback, rows, bytes, timings
``done``               set of ranks               ranks that reported
``abort``              string (JSON rank, error)  stop everything now (:func:`abort_record`)
``manifest``           string (JSON)              the published ``_SUCCESS`` manifest
``heartbeats``         sorted set rank -> time    last beat of each rank (Redis server time)
``ch:...``             (channel-specific)         the channels' exchange keys
``wake:{...}``         list                       BLPOP wake-ups instead of busy polling
=====================  =========================  ============================================

A gather or barrier has one wake list (``wake:gather:{name}``,
``wake:barrier:{name}``): the arrival that completes it pushes one token per
waiter, so each call names two keys whatever the world size.

Writers push a token to ``wake:final`` on every report, the manifest and an
abort, so a submitter blocks on one list instead of polling; an abort also
pushes every rank's ``wake:abort:{rank}``.

One key lives outside a job: ``cylon:fence:{sha1(destination)[:20]}``, the
destination's last fencing token (INCR per submission). Rank 0 commits only while
its job's ``fence`` is still that token (:data:`FENCE_CHECK_LUA`), so an older
fan-out that outlived its task never publishes over the submission that replaced it.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

KEY_PREFIX = "cylon"
#: TTL of every job key unless the spec says otherwise (a day: a failed job stays inspectable).
DEFAULT_TTL_S = 24 * 3600
#: TTL of a destination's fencing counter, refreshed on every submission (outlives any job's keys).
FENCE_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class JobKeys:
    """Names of one job's Redis keys.

    :param job_id: the job id.
    """

    job_id: str

    @property
    def prefix(self) -> str:
        """``cylon:{job_id}:``: every key of the job starts with it."""
        return f"{KEY_PREFIX}:{self.job_id}:"

    def key(self, kind: str) -> str:
        """``cylon:{job_id}:{kind}``.

        :param kind: ``spec``, ``manifest``, ``abort``, ``done``, ``status``, ``barrier:{name}``, ...
        """
        return f"{self.prefix}{kind}"

    @property
    def spec(self) -> str:
        return self.key("spec")

    @property
    def handle(self) -> str:
        """The submitter's JobHandle (client/executors/base.py): who was started, where they log."""
        return self.key("handle")

    @property
    def fence(self) -> str:
        """This submission's fencing token (see :func:`destination_fence_key`)."""
        return self.key("fence")

    @property
    def rank(self) -> str:
        return self.key("rank")

    def claim(self, invocation_id: str) -> str:
        return self.key(f"claim:{invocation_id}")

    def gather(self, name: str) -> str:
        return self.key("endpoints") if name == "endpoints" else self.key(f"gather:{name}")

    def barrier(self, name: str) -> str:
        return self.key(f"barrier:{name}")

    @property
    def status(self) -> str:
        return self.key("status")

    @property
    def done(self) -> str:
        return self.key("done")

    @property
    def abort(self) -> str:
        return self.key("abort")

    @property
    def manifest(self) -> str:
        return self.key("manifest")

    @property
    def heartbeats(self) -> str:
        """Sorted set rank -> server time of its last beat (runtime/heartbeat.py)."""
        return self.key("heartbeats")

    @property
    def channel_prefix(self) -> str:
        """Prefix of every key the channels write (``cylon:{job_id}:ch:``)."""
        return self.key("ch:")

    def wake(self, what: str) -> str:
        return self.key(f"wake:{what}")

    def wake_abort(self, rank: int) -> str:
        """List pushed when the job is aborted; rank ``rank`` BLPOPs it beside its own wake list."""
        return self.wake(f"abort:{rank}")

    @property
    def wake_final(self) -> str:
        """List a submitter/trigger may BLPOP: pushed on every report, the manifest and abort."""
        return self.wake("final")

    def abort_wakes(self, world_size: int) -> list[str]:
        """Every list an abort pushes: each rank's abort wake list, then ``wake:final``."""
        return [*(self.wake_abort(r) for r in range(world_size)), self.wake_final]


def job_key(job_id: str, kind: str) -> str:
    """Redis key ``cylon:{job_id}:{kind}`` (see :class:`JobKeys`)."""
    return JobKeys(job_id).key(kind)


def destination_fence_key(destination: str) -> str:
    """``cylon:fence:{hash}``: the last fencing token handed out for a destination (INCR per submission).

    :param destination: the job's output destination, as the spec spells it.
    """
    return f"{KEY_PREFIX}:fence:{hashlib.sha1(destination.encode()).hexdigest()[:20]}"


# ---- the abort record -------------------------------------------------------------------

def abort_record(error: str, rank: int | None = None, now: float | None = None) -> str:
    """The JSON value of ``cylon:{job}:abort``: ``{"rank", "error", "time"}``.

    :param error: what went wrong (a traceback is fine; no secrets).
    :param rank: the failing rank (``None`` for the submitter, a cancel or on_kill).
    :param now: UNIX time of the abort (default: now).
    """
    return json.dumps({"rank": rank, "error": error, "time": time.time() if now is None else now})


def parse_abort_record(raw: Any) -> dict[str, Any] | None:
    """The abort record as a dict (``None`` when the key is absent).

    A value that is not a JSON object (written by hand, or by an older version)
    becomes ``{"rank": None, "error": <the text>}``.
    """
    if raw is None:
        return None
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        data = json.loads(text)
    except ValueError:
        return {"rank": None, "error": text}
    return data if isinstance(data, dict) else {"rank": None, "error": text}


# ---- Lua scripts (redis-py ``register_script``: the sync and the asyncio client alike) -----

#: Claim a rank once per invocation id: a redelivery gets the same rank back
#: (fresh=0); the check-and-increment must be atomic, or two concurrent deliveries
#: of one invocation would burn two ranks. KEYS = claim, rank counter; ARGV = ttl.
CLAIM_LUA = """
local c = redis.call('GET', KEYS[1])
if c then return {tonumber(c), 0} end
local r = redis.call('INCR', KEYS[2]) - 1
redis.call('SET', KEYS[1], r, 'EX', ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {r, 1}
"""

#: Arrive at a gather (hash) or barrier (set); the arrival that completes it wakes
#: the waiters exactly once, through ONE list holding a token per waiter (each BLPOP
#: takes its own). Per arrival that is two keys and a few bytes, whatever the world
#: size: naming every rank's own wake list in every call cost O(W) keys per call,
#: O(W^2) bytes per barrier (50 MB at W = 1,000). KEYS[1] = hash/set, KEYS[2] = wake list.
#: ARGV = kind ('hash'|'set'), member, value, world_size, ttl, tokens to push on completion.
ARRIVE_LUA = """
local n
if ARGV[1] == 'hash' then
  local added = redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  n = redis.call('HLEN', KEYS[1])
  if added == 0 then return n end
else
  local added = redis.call('SADD', KEYS[1], ARGV[2])
  n = redis.call('SCARD', KEYS[1])
  if added == 0 then return n end
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
if n == tonumber(ARGV[4]) then
  local left = tonumber(ARGV[6])
  while left > 0 do
    local batch = {}
    for i = 1, math.min(left, 1000) do batch[i] = '1' end
    redis.call('RPUSH', KEYS[2], unpack(batch))
    left = left - #batch
  end
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return n
"""

#: Abort a job: the first record wins (SET NX), and every waiter is woken either way
#: (a late waiter must not sleep a whole poll interval). KEYS[1] = abort,
#: KEYS[2..] = :meth:`JobKeys.abort_wakes`; ARGV = record, ttl. Returns 1 if this call set it.
ABORT_LUA = """
local first = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
for i = 2, #KEYS do
  redis.call('RPUSH', KEYS[i], '1')
  redis.call('EXPIRE', KEYS[i], ARGV[2])
end
if first then return 1 end
return 0
"""

#: May this job commit? KEYS[1] = the job's ``fence``, KEYS[2] = :func:`destination_fence_key`.
#: Yes (1) when the job holds no token (a submitter without fencing) or its token is still the
#: destination's latest (or that counter expired); no (0) when a later submission took the destination.
FENCE_CHECK_LUA = """
local mine = redis.call('GET', KEYS[1])
if not mine then return 1 end
local latest = redis.call('GET', KEYS[2])
if (not latest) or latest == mine then return 1 end
return 0
"""

#: One heartbeat. KEYS[1] heartbeats zset, KEYS[2] the job's spec; ARGV[1] rank, ARGV[2] key TTL (s).
#: Score: server time. No spec: the job was cleaned up; a late beat must not re-create keys.
BEAT_LUA = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(t[2]) / 1000000, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def abort_args(job_id: str, error: str, *, rank: int | None, world_size: int,
               ttl_s: int = DEFAULT_TTL_S) -> tuple[list[str], list[Any]]:
    """``(keys, args)`` of :data:`ABORT_LUA` for one abort (sync and async callers alike).

    :param job_id: the job.
    :param error: the abort's message.
    :param rank: the failing rank, or ``None`` (submitter, cancel).
    :param world_size: how many rank wake lists to push.
    :param ttl_s: TTL of the abort key and the wake lists.
    """
    keys = JobKeys(job_id)
    return [keys.abort, *keys.abort_wakes(world_size)], [abort_record(error, rank), int(ttl_s)]
