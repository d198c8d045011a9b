"""Is a run that says `running` still running? Asked of the process that recorded it.

A run killed with SIGKILL (or by a power cut) never gets to record its end,
so its row says `running` forever. On the host that started it we can tell:
the process id it recorded is gone. On another host we cannot, and say
`running` as recorded.
"""

from __future__ import annotations

import os
import socket

from headrace.metadata.records import RunRecord


def process_alive(pid: int | None) -> bool:
    """Whether a process with this id exists on this host (``kill(pid, 0)`` sends nothing)."""
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def observed_state(run: RunRecord) -> str:
    """The run's state as a person should see it: `interrupted` for a running run whose process died here."""
    if run.state == "running" and run.host == socket.gethostname() and not process_alive(run.pid):
        return "interrupted"
    return run.state
