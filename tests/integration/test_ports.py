"""A port taken by another process between its choice and the start of the server meant for it.

Before: ``free_port()`` bound port 0 and closed it, the emulator or function started on it later,
and ``wait_http`` passed as soon as anything answered there. When another process took the port
in between (two test sessions side by side start servers all the time), the start "succeeded"
against that process and ours never served. Each case here takes the port in that gap, and
the start must still end with our process serving.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from werkzeug.wrappers import Response

from local import emulators, function_server, ports
from local.serving import BackgroundServer
from local.stack import ROOT

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not ports.supported(), reason="owners read from /proc (Linux)")]

# How long an emulator that has just started may take over its first answers. These tests check
# what it answers, not how fast: a JVM emulator serves its first document read while it is still
# loading classes, and on a loaded 2-core machine that took more than 10 s (the old bound).
ANSWER = 90


@pytest.fixture
def decoy():
    """Another process's HTTP server, answering 200 to anything (what wait_http took for ours)."""
    server = BackgroundServer(lambda environ, start: Response("decoy")(environ, start), "decoy").start()
    yield server
    server.stop()


@pytest.fixture
def first_choice(monkeypatch):
    """Make ``free_port`` hand out the given ports first, then free ones again."""
    queue: list[int] = []
    real = emulators.free_port
    monkeypatch.setattr(emulators, "free_port", lambda: queue.pop(0) if queue else real())
    return queue


@pytest.mark.parametrize("kind", ["pubsub", "firestore"])
def test_an_emulator_whose_port_was_taken_and_answers_starts_on_another(kind, decoy, first_choice, tmp_path):
    first_choice.append(decoy.port)
    started = emulators.start(kind, tmp_path)
    try:
        port = int(started.host.split(":")[1])
        assert port != decoy.port
        assert ports.owner(port, started.proc.pid) == "ours"
        if kind == "pubsub":  # the emulator's own answers: a topic made, no such document
            created = requests.put(f"http://{started.host}/v1/projects/p/topics/ports-test", timeout=ANSWER)
            assert created.status_code == 200 and created.json()["name"] == "projects/p/topics/ports-test"
        else:
            url = f"http://{started.host}/v1/projects/p/databases/(default)/documents/c/none"
            r = requests.get(url, timeout=ANSWER)
            assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND", r.text
        assert f"another process listens on port {decoy.port}" in started.log_path.read_text()
    finally:
        started.stop()


def test_an_emulator_whose_port_is_bound_but_silent_starts_on_another(first_choice, tmp_path):
    """A socket bound to the port without listening (a client's): the Pub/Sub emulator logs a
    BindException and stays up listening nowhere; before, the start waited out its 60 s."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        first_choice.append(holder.getsockname()[1])
        started = emulators.start("pubsub", tmp_path, timeout=60)
        try:
            port = int(started.host.split(":")[1])
            assert port != holder.getsockname()[1] and ports.owner(port, started.proc.pid) == "ours"
            created = requests.put(f"http://{started.host}/v1/projects/p/topics/ports-test", timeout=ANSWER)
            assert created.status_code == 200 and created.json()["name"] == "projects/p/topics/ports-test"
        finally:
            started.stop()
    finally:
        holder.close()


def test_an_emulator_on_a_given_port_that_is_taken_fails_loudly(decoy, tmp_path):
    with pytest.raises(emulators.PortTaken, match=f"another process listens on port {decoy.port}"):
        emulators.start("pubsub", tmp_path, port=decoy.port)


def serve_bare(sock: socket.socket, log_path: Path) -> subprocess.Popen[bytes]:
    return function_server.serve("bare", "bench/baselines.py", sock, "bare", ROOT, dict(os.environ), log_path)


def test_a_function_serves_the_socket_it_was_handed_from_choice_to_restart(tmp_path):
    sock = ports.listening_socket()
    port = sock.getsockname()[1]
    log_path = tmp_path / "bare.log"
    procs = []
    try:
        for attempt in range(2):  # a start, then a restart after a SIGKILL (the chaos killer's)
            thief = socket.socket()  # another process trying to take the port in the gap
            with pytest.raises(OSError) as refused:
                thief.bind(("127.0.0.1", port))
            thief.close()
            assert refused.value.errno == errno.EADDRINUSE
            procs.append(proc := serve_bare(sock, log_path))
            assert ports.owner(port, proc.pid) == "ours"
            assert requests.post(f"http://127.0.0.1:{port}/", json={}, timeout=10).status_code == 202
            if attempt == 0:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    finally:
        for proc in procs:
            emulators.Process("bare", proc, "").stop()
        sock.close()


def test_the_function_server_refuses_what_is_not_a_listening_socket(tmp_path):
    client = socket.socket()
    try:
        out = subprocess.run([sys.executable, "-m", "local.function_server", "--target=bare",
                              "--source=bench/baselines.py", f"--fd={client.fileno()}"], cwd=ROOT,
                             pass_fds=(client.fileno(),), capture_output=True, text=True, timeout=60)
    finally:
        client.close()
    assert out.returncode == 2 and "is not a listening TCP socket" in out.stderr
