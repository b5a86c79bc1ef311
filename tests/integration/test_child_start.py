"""Children started by ``local.shutdown.spawn`` while gRPC clients are busy in other threads (what
``make bench``, the chaos suite and the e2e stack do: a publisher or a pusher talks to the emulator
while a function is (re)started).

With the old ``preexec_fn`` (PR_SET_PDEATHSIG through ctypes) subprocess forked the whole
interpreter and ran Python in the child; gRPC printed "Other threads are currently calling into
gRPC, skipping fork() handlers" on every start, and children inherited gRPC's pollers mid-call.
Run once against the old spawn, this test failed: of 60 starts one child was killed by SIGABRT
(-6) and another printed "Epoll1Poller ... encountered epoll_wait error: Bad file descriptor"
before its own output. Now the child execs ``setpriv --pdeathsig KILL`` at once and no Python
runs between fork and exec.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from google.cloud import pubsub_v1

from local import emulators, shutdown

pytestmark = [pytest.mark.integration, pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG")]
PROJECT = "local-project"
STARTS = 60  # each start is a few tens of milliseconds; the old spawn failed ~1 in 30
# The child reports its parent-death signal (PR_GET_PDEATHSIG = 2) and nothing else.
CHILD = ("import ctypes; v = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0); "
         "print('pdeathsig', v.value)")


def start(args: list[str]) -> tuple[int, str]:
    proc = shutdown.spawn(args, "child", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        shutdown.forget(proc)
    return proc.returncode, out.decode(errors="replace").strip()


@pytest.fixture
def busy_publisher(emulator_hosts):
    """Four threads publishing on the emulator, without pause, until the test ends."""
    client = pubsub_v1.PublisherClient()
    topic = client.topic_path(PROJECT, "child-start")
    client.create_topic(name=topic)
    stop, published = threading.Event(), []

    def publish() -> None:
        while not stop.is_set():
            published.append(client.publish(topic, b"x" * 200).result(timeout=30))

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        yield published
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        client.delete_topic(topic=topic)


def test_children_start_cleanly_while_a_grpc_client_is_busy(busy_publisher, capfd):
    results = []
    for _ in range(STARTS):
        results.append(start([sys.executable, "-c", CHILD]))
    published = len(busy_publisher)
    assert published > STARTS, "the publisher was not busy while the children started"
    bad = [r for r in results if r != (0, "pdeathsig 9")]
    assert not bad, f"{len(bad)} of {STARTS} children did not start cleanly: {bad[:5]}"
    assert "skipping fork() handlers" not in capfd.readouterr().err  # no interpreter was forked


def test_children_started_from_another_thread_get_no_death_signal():
    """The kernel sends it when the forking *thread* exits: a helper thread's children must not have it."""
    got = []
    thread = threading.Thread(target=lambda: got.append(start([sys.executable, "-c", CHILD])))
    thread.start()
    thread.join(timeout=60)
    assert got == [(0, "pdeathsig 0")]


def test_preexec_fn_is_refused():
    with pytest.raises(ValueError, match="preexec_fn"):
        shutdown.spawn([sys.executable, "-c", "pass"], "child", preexec_fn=lambda: None)


def test_a_child_that_dies_while_starting_fails_loudly_with_its_log(tmp_path):
    """What ``make bench``, the stack and the emulators wait with: the error carries the log's end."""
    log_path = tmp_path / "child.log"
    with log_path.open("wb") as log:
        proc = shutdown.spawn([sys.executable, "-c", "import sys; print('cannot bind the port'); sys.exit(3)"],
                              "child", stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        with pytest.raises(RuntimeError, match=r"exited with 3(.|\n)*cannot bind the port"):
            emulators.wait_http(f"http://127.0.0.1:{emulators.free_port()}/", 30, proc, log_path)
    finally:
        proc.wait(timeout=30)
        shutdown.forget(proc)


def test_a_stack_process_that_died_is_named_with_the_end_of_its_log(tmp_path):
    """What ``make bench`` calls between and after its sections: a function that died mid-run."""
    from local.stack import Stack

    stack = Stack(tmp_path)
    log_path = tmp_path / "sync_worker.log"
    with log_path.open("wb") as log:
        proc = shutdown.spawn([sys.executable, "-c", "import sys; print('worker gave up'); sys.exit(3)"],
                              "child", stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        proc.wait(timeout=30)
        stack.processes["sync_worker"] = emulators.Process("sync_worker", proc, "", log_path)
        with pytest.raises(RuntimeError, match=r"sync_worker exited with 3(.|\n)*worker gave up"):
            stack.raise_if_dead()
        stack.processes.clear()
        stack.raise_if_dead()  # nothing dead: nothing raised
    finally:
        shutdown.forget(proc)
