"""Fixtures of the AWS-side tests: a real rendezvous server on loopback."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_cylon.runtime.rendezvous import RendezvousServer


class ServerThread:
    """A :class:`RendezvousServer` on its own event loop in a daemon thread (blocking clients need it)."""

    def __init__(self, port: int = 0, **kwargs: Any) -> None:
        self.server = RendezvousServer("127.0.0.1", port, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rendezvous", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.server.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.close())
        self._loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("rendezvous server did not start within 10 s")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.server.port)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (to read its state consistently)."""
        done = threading.Event()
        box: list[Any] = []
        self._loop.call_soon_threadsafe(lambda: (box.append(fn()), done.set()))
        done.wait(5)
        return box[0]


@pytest.fixture()
def rendezvous_factory() -> Iterator[Callable[..., ServerThread]]:
    """Start rendezvous servers with any options; all are stopped after the test."""
    started: list[ServerThread] = []

    def make(**kwargs: Any) -> ServerThread:
        srv = ServerThread(**kwargs).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture()
def rendezvous_server(rendezvous_factory: Callable[..., ServerThread]) -> ServerThread:
    """A rendezvous server with default limits and no token."""
    return rendezvous_factory(pair_ttl_s=10.0)
