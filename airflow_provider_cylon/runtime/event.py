"""The invocation event: the tiny JSON each worker is started with (docs/contracts.md).

```json
{"protocol": 1, "job_id": "...", "redis_url": "redis://host:port/0",
 "invocation_id": "...", "redis_password_env": "CYLON_REDIS_PASSWORD"}
```

The spec itself lives in Redis, so the event stays far below Lambda's 1 MB async
payload limit. No secret travels in it: a Redis password in the URL is refused;
the worker reads it from the environment variable named by ``redis_password_env``.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_cylon.runtime.errors import InvocationEventError

PROTOCOL_VERSION = 1
DEFAULT_PASSWORD_ENV = "CYLON_REDIS_PASSWORD"
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$")
_INVOCATION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=+-]{0,199}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def make_job_id(*parts: str, max_len: int = 120) -> str:
    """A Redis-safe job id from readable parts (dag, task, run, try), unique per input.

    Characters outside ``[A-Za-z0-9._=+-]`` become ``-``; a short hash of the raw parts
    keeps ids distinct after that sanitising and truncation.

    :param parts: pieces of the id, e.g. ``(dag_id, task_id, run_id, str(try_number))``.
    :param max_len: longest id returned.
    """
    if not parts:
        raise InvocationEventError("job_id", "make_job_id needs at least one part")
    raw = "\x1f".join(parts)
    digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
    readable = re.sub(r"[^A-Za-z0-9._=+-]+", "-", "__".join(parts)).strip("-._=+") or "job"
    readable = readable[: max(1, max_len - len(digest) - 1)]
    return f"{readable}-{digest}"


def split_redis_password(redis_url: str) -> tuple[str, str | None]:
    """Return the URL without its password, and the password (``None`` if none).

    Submitters use it to move a password from a connection URL into the worker's
    environment before building an event.

    :param redis_url: ``redis://[user[:password]@]host:port/db`` or ``rediss://...``.
    """
    parts = urlsplit(redis_url)
    if parts.password is None:
        return redis_url, None
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{user}@{host}" if user else host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), parts.password


def validate_job_id(job_id: Any, field: str = "job_id") -> str:
    """Check a job id is safe inside ``cylon:{job_id}:`` keys and object paths.

    :param job_id: the id.
    :param field: field name used in the error.
    """
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise InvocationEventError(field, f"expected an id matching {JOB_ID_RE.pattern} but found {job_id!r} "
                                          "(make_job_id() builds one from any text)")
    return job_id


def validate_redis_url(redis_url: Any, field: str = "redis_url") -> str:
    """Check a Redis URL: known scheme, a host, and no password.

    :param redis_url: the URL.
    :param field: field name used in the error.
    """
    if not isinstance(redis_url, str) or not redis_url:
        raise InvocationEventError(field, f"expected a redis:// or rediss:// URL but found {redis_url!r}")
    parts = urlsplit(redis_url)
    if parts.scheme not in REDIS_SCHEMES:
        raise InvocationEventError(field, f"expected scheme redis, rediss or unix but found {parts.scheme!r}")
    if parts.scheme != "unix" and not parts.hostname:
        raise InvocationEventError(field, "expected a host in the URL but found none")
    if parts.password is not None:
        raise InvocationEventError(
            field, "the URL carries a password; secrets never travel in an event: put it in the worker's "
                   "environment and name the variable in redis_password_env")
    return redis_url


@dataclass(frozen=True)
class InvocationEvent:
    """One worker's start event.

    :param job_id: the job (``cylon:{job_id}:`` namespace).
    :param redis_url: Redis location, without a password.
    :param invocation_id: unique per logical invocation; a redelivery repeats it.
    :param redis_password_env: name of the environment variable holding the password.
    :param protocol: event format version (:data:`PROTOCOL_VERSION`).
    """

    job_id: str
    redis_url: str
    invocation_id: str
    redis_password_env: str = DEFAULT_PASSWORD_ENV
    protocol: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        if self.protocol != PROTOCOL_VERSION:
            raise InvocationEventError("protocol", f"this worker speaks protocol {PROTOCOL_VERSION} "
                                                   f"but found {self.protocol!r}")
        validate_job_id(self.job_id)
        validate_redis_url(self.redis_url)
        if not isinstance(self.invocation_id, str) or not _INVOCATION_ID_RE.match(self.invocation_id):
            raise InvocationEventError("invocation_id", f"expected an id matching {_INVOCATION_ID_RE.pattern} "
                                                        f"but found {self.invocation_id!r}")
        if not isinstance(self.redis_password_env, str) or not _ENV_RE.match(self.redis_password_env):
            raise InvocationEventError("redis_password_env", "expected an environment variable name but found "
                                                             f"{self.redis_password_env!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "job_id": self.job_id, "redis_url": self.redis_url,
                "invocation_id": self.invocation_id, "redis_password_env": self.redis_password_env}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InvocationEvent:
        """Validate an event mapping (a Lambda payload).

        :param data: the decoded payload.
        """
        if not isinstance(data, Mapping):
            raise InvocationEventError("<root>", f"expected a JSON object but found {type(data).__name__}")
        known = {"protocol", "job_id", "redis_url", "invocation_id", "redis_password_env"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvocationEventError(unknown[0], f"unknown field; expected only {sorted(known)}")
        for name in ("protocol", "job_id", "redis_url", "invocation_id"):
            if name not in data:
                raise InvocationEventError(name, "missing")
        return cls(job_id=data["job_id"], redis_url=data["redis_url"], invocation_id=data["invocation_id"],
                   redis_password_env=data.get("redis_password_env") or DEFAULT_PASSWORD_ENV,
                   protocol=data["protocol"])

    @classmethod
    def from_json(cls, text: str | bytes) -> InvocationEvent:
        try:
            data = json.loads(text)
        except ValueError as err:
            raise InvocationEventError("<root>", f"not valid JSON: {err}") from err
        return cls.from_dict(data)


def build_events(
    job_id: str,
    redis_url: str,
    world_size: int,
    *,
    redis_password_env: str = DEFAULT_PASSWORD_ENV,
    invocation_prefix: str | None = None,
) -> list[InvocationEvent]:
    """One event per worker, each with its own invocation id.

    :param job_id: the job id.
    :param redis_url: Redis URL without a password (see :func:`split_redis_password`).
    :param world_size: number of workers.
    :param redis_password_env: environment variable that holds the password on workers.
    :param invocation_prefix: prefix of the invocation ids (random when ``None``); a
        retried submission with the same prefix yields the same ids (idempotent).
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise InvocationEventError("world_size", f"expected a positive integer but found {world_size!r}")
    prefix = invocation_prefix or uuid.uuid4().hex[:12]
    return [InvocationEvent(job_id=job_id, redis_url=redis_url, invocation_id=f"{prefix}-{i}",
                            redis_password_env=redis_password_env) for i in range(world_size)]
