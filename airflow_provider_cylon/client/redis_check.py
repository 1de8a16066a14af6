"""A Redis that does not answer: the error says which URL (password masked) and what to check.

redis-py's own text (``Error 111 connecting to cache:6379. Connection refused.``)
names neither where the URL came from nor what a user can change. The submit
side pings once, when it first connects, and wraps any failure with both.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow_provider_cylon.runtime.errors import CoordinationError
from airflow_provider_cylon.runtime.event import DEFAULT_PASSWORD_ENV


class RedisUnreachableError(CoordinationError):
    """The job's Redis could not be reached (refused, timed out, TLS or password refused)."""


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to log and to put in errors).

    :param url: ``redis://[user[:password]@]host:port/db``, ``rediss://...`` or ``unix://...``.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _hints(url: str, err: BaseException, origin: str | None) -> list[str]:
    """What to check, most likely first, from the error's kind and the URL."""
    import redis.exceptions

    scheme = urlsplit(url).scheme
    text = f"{type(err).__name__} {err}".lower()
    hints: list[str] = []
    if isinstance(err, redis.exceptions.AuthenticationError) or "auth" in text or "password" in text:
        hints.append("the password: in the URL (redis://:PASSWORD@host:port/0) for the submitter, and "
                     f"${DEFAULT_PASSWORD_ENV} in the workers' environment (Lambda function configuration)")
    if (scheme == "rediss" or "ssl" in text or "tls" in text or "wrong version number" in text
            or "closed by server" in text):
        # A TLS handshake with a plain server hangs until the connect timeout: rediss:// is a suspect
        # whatever the error says.
        hints.append("TLS: rediss:// for a server that requires TLS (ElastiCache in-transit encryption), "
                     "redis:// for one that does not" + (f" (this URL uses {scheme}://)" if scheme else ""))
    if origin and "embedded" in origin:
        hints.append("the embedded Valkey was stopped (idle, or `cylon-airflow valkey stop`): the next task "
                     "starts a new one; a job that was running on it lost its coordination state")
    else:
        hints.append("host and port: the server runs and is reachable from this machine (security group, "
                     "firewall, VPC); `redis-cli -u URL ping` from here should answer PONG")
        if scheme == "redis":
            hints.append("TLS: a server that requires it needs rediss://")
    hints.append("which URL is used: the `cylon` connection's extra `redis_url`; without one, the embedded "
                 "Valkey of this machine (local executor only)")
    return list(dict.fromkeys(hints))


def unreachable(url: str, err: BaseException, origin: str | None = None) -> RedisUnreachableError:
    """The error to raise for ``err`` from a Redis at ``url`` (never carries the password).

    :param url: the URL the client used (may hold a password: it is masked).
    :param err: redis-py's error.
    :param origin: where the URL came from (``connection 'cylon_default' (extra redis_url)``,
        ``the embedded Valkey ...``), for the message.
    """
    where = f" ({origin})" if origin else ""
    detail = str(err)
    secret = urlsplit(url).password
    if secret:
        detail = detail.replace(secret, "***")
    checks = "; ".join(f"({i}) {h}" for i, h in enumerate(_hints(url, err, origin), 1))
    return RedisUnreachableError(f"cannot reach Redis at {redacted_url(url)}{where}: {type(err).__name__}: "
                                 f"{detail}. Check {checks}")


def ping_or_raise(client: Any, url: str, origin: str | None = None) -> None:
    """PING once; raise :class:`RedisUnreachableError` naming the URL and what to check.

    :param client: a ``redis.Redis``.
    :param url: its URL (for the message; the password is masked).
    :param origin: where the URL came from.
    """
    import redis.exceptions

    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as err:
        raise unreachable(url, err, origin) from err
