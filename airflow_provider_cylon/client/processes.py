"""Whether a process is alive, seen from outside it (not necessarily its parent)."""
from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs: it exists and is not a zombie (exited, not yet reaped by its parent).

    Works for processes that are not our children (a warm host's workers, an embedded
    Valkey started by another process), where ``waitpid`` cannot tell.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (not Linux): existing is all we can tell
        return True
