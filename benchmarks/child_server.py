"""A benchmark's fake service in a child process: started with ``with``, stopped on exit.

The child prints ``listening PORT`` once it accepts connections (and stops by
itself after its lifetime, so a crashed benchmark leaves nothing behind). A
child process keeps the service's threads off the GIL of the client it measures.
"""
from __future__ import annotations

import subprocess
from typing import Any


class ChildServer:
    """Run ``args`` (a command that prints ``listening PORT``) for the span of a ``with`` block.

    :param args: the child's command line.
    :param what: the service's name, for the error when it does not start.
    """

    def __init__(self, args: list[str], what: str) -> None:
        self.args = args
        self.what = what
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> Any:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.what} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
