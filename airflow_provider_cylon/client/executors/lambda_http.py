"""Lambda ``Invoke`` as a raw SigV4-signed HTTP request: the fan-out's cheap call (as Lithops does).

botocore spends about 1.7 ms of CPU on one ``invoke`` call (measured here: request
serialisation, its event hooks, SigV4 through ``AWSRequest``, urllib3, response
parsing); under the GIL that caps one client at some 600 calls per CPU-second,
whatever the thread count. The same call written directly costs about 0.3 ms:

* :class:`SigV4Signer` signs exactly what Lambda checks (host, ``x-amz-date``,
  ``x-amz-invocation-type``, the session token) with the signing key derived
  once per day, region and secret (four HMACs saved per call); its output equals
  botocore's ``SigV4Auth`` for the same request (tests/unit/client);
* :class:`RawInvokeClient` sends it over ``http.client`` connections kept alive
  in a small pool (one per invoke thread in flight, reused by the next fan-out), and answers in
  botocore's shapes: a response dict with ``StatusCode`` and ``ResponseMetadata``,
  ``ClientError`` for an HTTP error, ``HTTPClientError`` for a transport failure,
  so :class:`~airflow_provider_cylon.client.executors.aws_lambda.LambdaInvoker`'s
  retry policy and error translation apply unchanged.

Everything else (``GetFunction``, the region, the endpoint) stays with the boto3
client it wraps: the endpoint URL, region and credentials chain are boto3's own,
so FIPS/VPC endpoints, profiles and role credentials work as they do there.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit
from urllib.request import getproxies, proxy_bypass

#: Headers Lambda needs on an asynchronous invocation besides the signature's own.
_INVOKE_HEADERS = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}
_ALGORITHM = "AWS4-HMAC-SHA256"
#: What a request on a connection the server already closed fails with, before any answer.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

log = logging.getLogger(__name__)


def invoke_path(function_name: str) -> str:
    """``/2015-03-31/functions/{name}/invocations`` with the name percent-encoded as botocore does.

    :param function_name: a name, ``name:alias`` or a full ARN (its colons become ``%3A``).
    """
    return f"/2015-03-31/functions/{quote(function_name, safe='-._~')}/invocations"


class SigV4Signer:
    """AWS Signature Version 4 header auth for one service and region.

    :param region: the signing region (``us-east-1``).
    :param service: the signing service name (``lambda``).
    """

    def __init__(self, region: str, service: str = "lambda") -> None:
        self.region = region
        self.service = service
        self._lock = threading.Lock()
        self._key: tuple[str, str, bytes] | None = None  # (secret, date, signing key)

    def _signing_key(self, secret: str, date: str) -> bytes:
        with self._lock:
            if self._key is not None and self._key[0] == secret and self._key[1] == date:
                return self._key[2]
        key = f"AWS4{secret}".encode()
        for part in (date, self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        with self._lock:
            self._key = (secret, date, key)
        return key

    def sign(self, method: str, host: str, path: str, payload: bytes, headers: Mapping[str, str],
             credentials: Any, amz_date: str | None = None) -> dict[str, str]:
        """The request's headers plus ``X-Amz-Date``, ``X-Amz-Security-Token`` and ``Authorization``.

        :param method: HTTP method.
        :param host: the ``Host`` header (``host`` or ``host:port``, as sent).
        :param path: the request path as sent (already percent-encoded once).
        :param payload: the body.
        :param headers: headers to send and sign (besides ``Host``).
        :param credentials: ``access_key``, ``secret_key``, ``token`` (botocore's frozen credentials).
        :param amz_date: ``YYYYMMDDTHHMMSSZ`` (default: now, UTC).
        """
        amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        signed = {"host": host, "x-amz-date": amz_date, **{k.lower(): v for k, v in headers.items()}}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        canonical_headers = "".join(f"{n}:{' '.join(signed[n].split())}\n" for n in names)
        signed_headers = ";".join(names)
        # Services other than S3 sign the path percent-encoded a second time.
        canonical = "\n".join((method, quote(path, safe="/~"), "", canonical_headers, signed_headers,
                               hashlib.sha256(payload).hexdigest()))
        scope = f"{amz_date[:8]}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join((_ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
        signature = hmac.new(self._signing_key(credentials.secret_key, amz_date[:8]), to_sign.encode(),
                             hashlib.sha256).hexdigest()
        out = {**headers, "X-Amz-Date": amz_date}
        if credentials.token:
            out["X-Amz-Security-Token"] = credentials.token
        out["Authorization"] = (f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, "
                                f"SignedHeaders={signed_headers}, Signature={signature}")
        return out


def proxy_for(endpoint_url: str) -> str | None:
    """The proxy the environment sets for ``endpoint_url`` (``HTTPS_PROXY``...), or ``None``."""
    parts = urlsplit(endpoint_url)
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(parts.hostname or ""):
        return proxy
    return None


class RawInvokeClient:
    """A boto3 ``lambda`` client whose ``invoke`` is a raw signed request; all else is the client's.

    :param client: the boto3 ``lambda`` client (endpoint, region, ``get_function``).
    :param credentials: botocore credentials (``session.get_credentials()``; refreshed as they near expiry).
    :param connect_timeout_s: TCP (and TLS) connect limit.
    :param read_timeout_s: socket read limit of one call.
    :param ca_bundle: CA file for TLS (default: botocore's, i.e. certifi's where installed).
    :param max_idle: idle connections kept between calls (the invoke threads' count suffices).
    """

    def __init__(self, client: Any, credentials: Any, *, connect_timeout_s: float = 10.0,
                 read_timeout_s: float = 30.0, ca_bundle: str | None = None, max_idle: int = 64) -> None:
        self._client = client
        self.meta = client.meta
        self.credentials = credentials
        parts = urlsplit(client.meta.endpoint_url)
        self.endpoint_url = client.meta.endpoint_url
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.secure else 80)
        # The Host header carries the port only when it is not the scheme's default (as botocore signs it).
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        if parts.port in ((443,) if self.secure else (80,)):
            self.host_header = self.host
        self.signer = SigV4Signer(client.meta.region_name)
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._ssl: ssl.SSLContext | None = None
        if self.secure:
            if ca_bundle is None:
                from botocore.httpsession import get_cert_path

                ca_bundle = get_cert_path(True)
            self._ssl = ssl.create_default_context(cafile=ca_bundle if isinstance(ca_bundle, str) else None)
        # Idle connections outlive the threads of one fan-out: the next fan-out (the next job)
        # reuses them instead of dialling (on AWS: a TLS handshake) again.
        self.max_idle = max_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @classmethod
    def from_session(cls, client: Any, session: Any, **kwargs: Any) -> RawInvokeClient | None:
        """The raw client for ``client``, or ``None`` where raw requests would not reach it the same way.

        ``None`` when the session has no credentials, or a proxy applies (from the
        environment or the client's config): botocore honours proxies, ``http.client`` does not.

        :param client: the boto3 ``lambda`` client.
        :param session: its boto3 session.
        :param kwargs: :class:`RawInvokeClient` options.
        """
        credentials = session.get_credentials()
        if credentials is None or getattr(client.meta.config, "proxies", None) or proxy_for(client.meta.endpoint_url):
            return None
        # boto3 keeps the botocore session (config file, AWS_CA_BUNDLE) as ``_session``.
        core = getattr(session, "_session", None)
        if core is not None:
            kwargs.setdefault("ca_bundle", core.get_config_variable("ca_bundle"))
        return cls(client, credentials, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _acquire(self, reuse: bool = True) -> tuple[http.client.HTTPConnection, bool]:
        """An idle kept-alive connection (and ``True``), or a new one (and ``False``)."""
        if reuse:
            with self._lock:
                if self._idle:
                    return self._idle.pop(), True
        if self.secure:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout_s, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout_s)
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self.read_timeout_s)
        return conn, False

    def _release(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        """``Invoke`` with botocore's keyword names; only ``InvocationType="Event"`` is sent this way.

        :raises botocore.exceptions.ClientError: for any HTTP status other than 2xx.
        :raises botocore.exceptions.HTTPClientError: the connection failed or timed out.
        """
        from botocore.exceptions import ClientError, HTTPClientError

        if InvocationType != "Event":
            raise ValueError(f"RawInvokeClient sends Event invocations only, not {InvocationType!r}")
        path = invoke_path(FunctionName)
        headers = self.signer.sign("POST", self.host_header, path, Payload, _INVOKE_HEADERS,
                                   self.credentials.get_frozen_credentials())
        headers["Content-Length"] = str(len(Payload))
        conn = None
        try:
            conn, reused = self._acquire()
            try:
                response, body = self._send(conn, path, Payload, headers)
            except _STALE as err:
                if not reused:
                    raise
                # The server closed this idle connection meanwhile (keep-alive timeout): not a
                # failure of the call, so no backoff; the same request once more on a fresh one.
                log.debug("idle connection to %s was closed (%s); resending on a new one", self.host, err)
                conn.close()
                conn, _ = self._acquire(reuse=False)
                response, body = self._send(conn, path, Payload, headers)
        except (OSError, http.client.HTTPException) as err:
            # The request may or may not have reached Lambda: resending is safe (idempotent by
            # invocation id), and the next attempt takes another connection or dials a fresh one.
            if conn is not None:
                conn.close()
            raise HTTPClientError(error=f"{type(err).__name__}: {err} (POST {self.endpoint_url}{path})") from err
        if response.will_close:
            conn.close()
        else:
            self._release(conn)
        request_id = response.getheader("x-amzn-RequestId")
        if 200 <= response.status < 300:
            return {"StatusCode": response.status, "ResponseMetadata": {"RequestId": request_id,
                                                                        "HTTPStatusCode": response.status}}
        code, message = _error_of(response.getheader("x-amzn-ErrorType"), body)
        raise ClientError({"Error": {"Code": code, "Message": message},
                           "ResponseMetadata": {"HTTPStatusCode": response.status, "RequestId": request_id}},
                          "Invoke")

    @staticmethod
    def _send(conn: http.client.HTTPConnection, path: str, payload: bytes,
              headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
        """One request, its response and the whole body (read, so the connection can serve the next)."""
        conn.request("POST", path, body=payload, headers=headers)
        response = conn.getresponse()
        return response, response.read()

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _error_of(error_type: str | None, body: bytes) -> tuple[str, str]:
    """(code, message) of a Lambda error response (``x-amzn-ErrorType`` or the JSON body)."""
    data: dict[str, Any] = {}
    try:
        parsed = json.loads(body) if body else {}
        data = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    code = error_type or str(data.get("__type") or data.get("code") or data.get("Type") or "")
    # "TooManyRequestsException:http://internal.amazon.com/coral/..." and "ns#Code" both name the code.
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    message = str(data.get("message") or data.get("Message") or body[:200].decode(errors="replace"))
    return code, message
