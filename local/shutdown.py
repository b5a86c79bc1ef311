"""Stopping what we started, like docker compose: the first Ctrl-C (or SIGTERM) stops every
process gracefully; another one while that runs SIGKILLs each process group that is left.

The one place for it: ``make dev`` (local.stack), the pytest session (tests/conftest.py, which
covers the chaos fixtures) and ``make bench`` all start their processes through ``spawn`` and
call ``install`` once. Nothing outlives the parent:

* ``spawn`` starts each child in a session (and process group) of its own, so the terminal's
  SIGINT reaches only us and we stop the children in order; the group is remembered until
  ``forget`` (called once it has been stopped and reaped).
* ``install``: the first signal raises KeyboardInterrupt (the ``finally`` blocks stop
  everything in order); the second SIGKILLs every remembered group and lets that cleanup finish
  at once (its waits return immediately), without interrupting it; a third exits on the spot.
* At interpreter exit, any group still remembered is SIGKILLed; and on Linux each child started
  from the main thread gets PR_SET_PDEATHSIG=SIGKILL, so it dies even when we are SIGKILLed.
  (The kernel sends it when the *thread* that forked exits, so children started from other
  threads, e.g. a worker restarted by a chaos test, rely on the other two guards.)

No Python runs in a child between fork and exec: no ``preexec_fn``. A ``preexec_fn`` makes
subprocess fork() the whole interpreter and run Python in the child; with gRPC clients live in
other threads (a publisher, a pusher) gRPC's fork handlers give up ("Other threads are currently
calling into gRPC, skipping fork() handlers") and the child inherits gRPC's pollers mid-call:
some children print epoll errors, some abort (SIGABRT, -6). So the death signal is set by
util-linux's ``setpriv --pdeathsig KILL``, which the child execs first and which execs the real
command (the signal survives exec); the new session is made by subprocess's own C code. Without
a ``preexec_fn`` subprocess can use vfork, which runs no fork handlers at all.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

_groups: dict[int, str] = {}  # process group id → name, while not stopped
_lock = threading.Lock()
_received = 0


@functools.cache
def _setpriv() -> str:
    path = shutil.which("setpriv")
    if path is None:
        raise RuntimeError("setpriv is needed to stop children with their parent (apt-get install util-linux)")
    return path


def _launcher() -> list[str]:
    """What the child execs first: ``setpriv --pdeathsig KILL`` on Linux, from the main thread."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return []
    return [_setpriv(), "--pdeathsig", "KILL", "--"]


def spawn(args: Sequence[str], name: str, **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` in a new session, remembered for the second signal and exit."""
    if "preexec_fn" in popen:
        raise ValueError("no preexec_fn: it runs Python between fork and exec (see the module docstring)")
    proc: subprocess.Popen[bytes] = subprocess.Popen([*_launcher(), *args], start_new_session=True, **popen)
    with _lock:
        _groups[proc.pid] = name
    return proc


def forget(proc: subprocess.Popen[Any]) -> None:
    """``proc``'s group was stopped and reaped: no longer ours to kill."""
    with _lock:
        _groups.pop(proc.pid, None)


def kill_all() -> list[str]:
    """SIGKILL every remembered process group now; the names of those signalled."""
    with _lock:
        groups = list(_groups.items())
    killed = []
    for pgid, name in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(name)
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def _handler(signum: int, frame: Any) -> None:
    global _received
    _received += 1
    if _received == 1:
        raise KeyboardInterrupt
    killed = kill_all()
    try:
        os.write(2, f"\n{signal.Signals(signum).name} again: killed {', '.join(killed) or 'nothing'}\n".encode())
    except OSError:
        pass
    if _received > 2:
        os._exit(128 + signum)


def install(signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)) -> None:
    """Graceful on the first signal, SIGKILL to what is left on the next (main thread only).

    Explicit handlers also matter for a job started in the background by a non-interactive
    shell, which inherits an ignored SIGINT.
    """
    global _received
    _received = 0
    for sig in signals:
        signal.signal(sig, _handler)


atexit.register(kill_all)
