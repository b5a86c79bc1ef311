"""A function under functions-framework's own server (gunicorn, as ``functions-framework`` runs
it), on a listening socket its parent bound and handed over: the port belongs to us before the
server starts and stays ours between restarts (local/ports.py says why).

    python -m local.function_server --target=sync_worker --source=main.py --fd=5

``serve`` starts one from the stack (local.stack) or ``make bench`` and returns once it serves.
Only the ``bind`` differs from the ``functions-framework`` command: gunicorn serves ``fd://N``
instead of binding a port.

"It serves" is told by the function itself, not by an HTTP answer: gunicorn's worker writes a byte
to a pipe (``--ready-fd``) once it has loaded the app and is about to accept. A restart under load
(the chaos killer's) finds the socket's queue full of the pushers' requests, each held 10 s by a
Firestore lock the killed process left behind for 60 s (the emulator keeps an abandoned
transaction's locks as long as Firestore does); an HTTP probe waited behind them, and a restart
that had long been serving was declared not up within 60 s (seen in CI).
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local import shutdown
from local.emulators import Process, log_tail


def serve(target: str, source: str, sock: socket.socket, name: str, cwd: Path, env: dict[str, str],
          log_path: Path, timeout: float = 60,
          on_spawn: Callable[[subprocess.Popen[bytes]], None] | None = None) -> subprocess.Popen[bytes]:
    """Start ``target`` of ``source`` serving ``sock`` (kept open by the caller: restarts reuse it),
    its output appended to ``log_path``; return once it serves. ``on_spawn`` gets the process as
    soon as it exists (a stack keeps it, so a stop while it starts stops it too). Raises, with the
    end of the log, when it exits first (RuntimeError) or ``timeout`` passes (TimeoutError); the
    process is stopped then."""
    fd = sock.fileno()
    ready, told = os.pipe()
    try:
        with log_path.open("ab") as log:
            proc = shutdown.spawn([sys.executable, "-m", "local.function_server", f"--target={target}",
                                   f"--source={source}", f"--fd={fd}", f"--ready-fd={told}"], name, cwd=cwd, env=env,
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, pass_fds=(fd, told))
    except BaseException:
        os.close(ready)
        raise
    finally:
        os.close(told)
    try:
        if on_spawn is not None:
            on_spawn(proc)
        _wait_ready(proc, ready, timeout, name, log_path)
    except BaseException:
        Process(name, proc, "", log_path).stop()
        raise
    finally:
        os.close(ready)
    return proc


def _wait_ready(proc: subprocess.Popen[bytes], ready: int, timeout: float, name: str, log_path: Path) -> None:
    poller = select.poll()  # not select.select: it refuses descriptors over 1023
    poller.register(ready, select.POLLIN)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if poller.poll(min(left, 0.1) * 1000):
            if os.read(ready, 1):
                return
            # End of file: every holder of the write end is gone without a byte (the server is exiting).
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{name} closed its ready pipe without serving{log_tail(log_path)}") from None
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before serving{log_tail(log_path)}")
    raise TimeoutError(f"{name} did not serve within {timeout}s{log_tail(log_path)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--fd", type=int, required=True, help="a listening TCP socket inherited from the parent")
    parser.add_argument("--ready-fd", type=int, help="a pipe the worker writes a byte to once it serves")
    args = parser.parse_args(argv)
    try:
        kind = socket.socket(fileno=os.dup(args.fd))
    except OSError as exc:
        parser.error(f"--fd {args.fd}: {exc.strerror}")
    with kind:
        if kind.type != socket.SOCK_STREAM or kind.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 1:
            parser.error(f"--fd {args.fd} is not a listening TCP socket")

    from functions_framework import create_app
    from functions_framework._http import create_server

    app = create_app(args.target, args.source, "http")
    # What the functions-framework command does (create_app, then create_server(...).run), except
    # for the bind: options given to create_server override its "host:port".
    def post_worker_init(worker: Any) -> None:
        _die_with_the_master(worker)
        if args.ready_fd is not None:
            try:
                os.write(args.ready_fd, b"1")
            except BrokenPipeError:  # a worker gunicorn restarted: the parent heard the first one
                pass

    create_server(app, False, bind=f"fd://{args.fd}", post_worker_init=post_worker_init).run("127.0.0.1", 0)
    return 0


def _die_with_the_master(worker: Any) -> None:
    """gunicorn's hook in each worker it forks: SIGKILL the worker when its master (this process,
    which dies with the stack: setpriv --pdeathsig, local/shutdown.py) dies. gunicorn's own check
    of its parent runs between requests, and a worker still handling one (a client call against an
    emulator the stack's death took down, retrying for a minute) outlived a SIGKILLed stack by more
    than 15 s (tests/integration/test_stack_shutdown.py)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != worker.ppid:  # the master died before the signal was set
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
