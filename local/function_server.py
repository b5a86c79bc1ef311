"""A function under functions-framework's own server (gunicorn, as ``functions-framework`` runs
it), on a listening socket its parent bound and handed over: the port belongs to us before the
server starts and stays ours between restarts (local/ports.py says why).

    python -m local.function_server --target=sync_worker --source=main.py --fd=5

``spawn`` starts one from the stack (local.stack) or ``make bench``. Only the ``bind`` differs
from the ``functions-framework`` command: gunicorn serves ``fd://N`` instead of binding a port.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from local import shutdown


def spawn(target: str, source: str, sock: socket.socket, name: str, cwd: Path, env: dict[str, str],
          log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start ``target`` of ``source`` serving ``sock`` (kept open by the caller: restarts reuse it)."""
    fd = sock.fileno()
    return shutdown.spawn([sys.executable, "-m", "local.function_server", f"--target={target}", f"--source={source}",
                           f"--fd={fd}"], name, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, pass_fds=(fd,))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--fd", type=int, required=True, help="a listening TCP socket inherited from the parent")
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
    create_server(app, False, bind=f"fd://{args.fd}", post_worker_init=_die_with_the_master).run("127.0.0.1", 0)
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
