"""A function restarted under load is up once it serves, not once an HTTP probe gets its turn.

The chaos killer restarts the worker while the pushers' requests queue on the socket the stack
holds, each of them held 10 s by a Firestore lock the killed process left behind; an HTTP probe
queued behind them and a restart that served was declared not up within 60 s (seen in CI). Here
the queue holds the function's only thread until the test releases it: the restart must be
reported up while it is still held.
"""

from __future__ import annotations

import os
import select
import signal
import socket

import pytest

from local import emulators, function_server, ports
from local.stack import ROOT

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not ports.supported(), reason="socket handover is Linux-only here")]

SOURCE = "tests/integration/held_function.py"


def held_request(port: int, release: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=60)
    client.sendall(f"GET /?release={release} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    return client


def answer(client: socket.socket) -> bytes:
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_restart_is_up_while_the_requests_queued_for_it_hold_its_only_thread(tmp_path):
    sock = ports.listening_socket()
    port = sock.getsockname()[1]
    log_path = tmp_path / "held.log"
    env = {**os.environ, "THREADS": "1"}
    release = tmp_path / "release"
    procs, clients = [], []
    try:
        procs.append(proc := function_server.serve("held", SOURCE, sock, "held", ROOT, env, log_path))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # Requests sent in the gap wait on the socket; the first one holds the only thread.
        clients = [held_request(port, str(release)) for _ in range(3)]
        procs.append(function_server.serve("held", SOURCE, sock, "held", ROOT, env, log_path, timeout=30))
        assert not select.select(clients, [], [], 0)[0], "up only once the queue was served"
        release.touch()
        for client in clients:
            assert answer(client).startswith(b"HTTP/1.1 200"), "a queued request was lost across the restart"
    finally:
        for client in clients:
            client.close()
        for proc in procs:
            emulators.Process("held", proc, "").stop()
        sock.close()


def test_a_function_that_dies_before_serving_says_so_with_its_log(tmp_path):
    sock = ports.listening_socket()
    try:
        with pytest.raises(RuntimeError, match=r"(?s)held exited with \d+ before serving.*no_such_target"):
            function_server.serve("no_such_target", SOURCE, sock, "held", ROOT, dict(os.environ), tmp_path / "held.log")
    finally:
        sock.close()


def test_a_process_stopped_while_it_starts_ends_the_start_at_once(tmp_path):
    """``on_spawn`` hands the process over before it serves (the stack keeps it, so its stop()
    stops a restart still under way); a stop then makes the start fail, not wait out its bound."""
    sock = ports.listening_socket()
    seen = []

    def stop_at_once(proc):
        seen.append(proc)
        emulators.Process("held", proc, "").stop()

    try:
        with pytest.raises(RuntimeError, match="before serving|without serving"):
            function_server.serve("held", SOURCE, sock, "held", ROOT, dict(os.environ), tmp_path / "held.log",
                                  timeout=600, on_spawn=stop_at_once)
        assert len(seen) == 1 and seen[0].poll() is not None
    finally:
        sock.close()
