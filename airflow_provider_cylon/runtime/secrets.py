"""Secret references in a worker's environment, resolved once at cold start.

``cylon-airflow deploy`` never puts a secret in the function's configuration:
the environment holds ``NAME_SECRET`` = a Secrets Manager ARN or an SSM
parameter, and the worker turns each into ``NAME`` = its value in its own
process environment (never logged, never in a payload).
"""
from __future__ import annotations

import os
from typing import Any

SECRET_SUFFIX = "_SECRET"


def resolve_secret_env(environ: dict[str, str] | None = None, *, session: Any = None) -> list[str]:
    """At a worker's cold start, replace every ``NAME_SECRET`` reference by ``NAME`` = its value.

    ``CYLON_REDIS_PASSWORD_SECRET=arn:...:secret:cylon-redis`` gives
    ``CYLON_REDIS_PASSWORD`` (what the runtime's Redis connect reads). Values are
    set in this process's environment only and never logged. A variable already
    set (``NAME``) wins over its reference.

    :param environ: the environment to read and update (default ``os.environ``).
    :param session: a boto3 session (default: a new one).
    :returns: the names that were resolved.
    """
    env = os.environ if environ is None else environ
    refs = {k: v for k, v in env.items() if k.startswith("CYLON_") and k.endswith(SECRET_SUFFIX)}
    todo = {k.removesuffix(SECRET_SUFFIX): v for k, v in refs.items() if not env.get(k.removesuffix(SECRET_SUFFIX))}
    if not todo:
        return []
    import boto3

    session = session or boto3.session.Session()
    resolved = []
    for name, ref in sorted(todo.items()):
        if ":secretsmanager:" in ref:
            value = session.client("secretsmanager").get_secret_value(SecretId=ref)["SecretString"]
        else:
            param = ref.split(":parameter", 1)[1] if ref.startswith("arn:") else ref
            value = session.client("ssm").get_parameter(Name=param, WithDecryption=True)["Parameter"]["Value"]
        env[name] = value
        resolved.append(name)
    return resolved
