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
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

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
    create_server(app, False, bind=f"fd://{args.fd}").run("127.0.0.1", 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
