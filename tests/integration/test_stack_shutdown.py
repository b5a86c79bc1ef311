"""``make dev``'s stack (``python -m local.stack``) leaves nothing behind: not on Ctrl-C pressed
twice, not on SIGTERM twice (a CI runner cancelling), not even when it is SIGKILLed itself.

Each case starts the real stack in a process group of its own, records every process it
started (its descendants, walked through /proc), signals it, and checks that none is left.
Whatever happens, the test kills the processes it recorded before it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc (Linux)")]
UP_TIMEOUT = 120


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process, else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """pid → start time of every process below ``root``."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
            starts[int(entry)] = st[2]
    out, todo = {}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def alive(recorded: dict[int, int]) -> dict[int, str]:
    """Those of ``recorded`` still running (a zombie has let go of everything), with their command."""
    out = {}
    for pid, start in recorded.items():
        st = _stat(pid)
        if st is not None and st[2] == start and st[1] != "Z":
            try:
                out[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
            except OSError:
                pass
    return out


def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


@pytest.fixture
def running_stack(tmp_path):
    """``python -m local.stack`` up and serving, and every process it started (pid → start time)."""
    out = tmp_path / "stack.out"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
    env.update(LOCAL_STATE_DIR=str(tmp_path / "state"), PYTHONUNBUFFERED="1")
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    recorded: dict[int, int] = {}
    try:
        assert wait_until(lambda: b"Local stack is up" in out.read_bytes() or proc.poll() is not None,
                          UP_TIMEOUT), "the stack did not come up"
        assert proc.poll() is None, out.read_text()
        recorded.update(descendants(proc.pid))
        names = " ".join(alive(recorded).values())
        assert "java" in names and "handle_webhook" in names and "integrations" in names, names
        yield proc, recorded, out
    finally:
        for pid in list(alive(recorded)) + ([proc.pid] if proc.poll() is None else []):
            for kill in (os.killpg, os.kill):  # its group, then itself if it left it
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        proc.wait(timeout=30)


@pytest.mark.parametrize("sig, gap, whole_group", [
    (signal.SIGINT, 0.5, True),    # Ctrl-C twice in a terminal: python (and make) get both
    (signal.SIGTERM, 0.2, False),  # a CI runner cancelling the job, then insisting
])
def test_a_second_signal_during_cleanup_leaves_nothing_behind(running_stack, sig, gap, whole_group):
    proc, recorded, out = running_stack
    # A child that does not stop (SIGSTOPped: the SIGTERM of the graceful stop stays pending)
    # holds the cleanup for its 10 s grace, so the second signal surely lands during it, on a
    # quiet machine too (where the whole cleanup can take less than ``gap``).
    stuck = next(pid for pid, cmd in alive(recorded).items()
                 if "integrations" in cmd and (st := _stat(pid)) is not None and st[0] == proc.pid)
    os.kill(stuck, signal.SIGSTOP)
    send = (lambda: os.killpg(proc.pid, sig)) if whole_group else (lambda: proc.send_signal(sig))
    send()
    time.sleep(gap)
    assert proc.poll() is None, "cleanup already over: the second signal tests nothing"
    send()
    proc.wait(timeout=30)  # no longer than it takes to SIGKILL and reap
    assert wait_until(lambda: not alive(recorded), 10), f"left running: {alive(recorded)}\n{out.read_text()}"


def test_nothing_outlives_the_stack_even_when_it_is_killed(running_stack):
    proc, recorded, out = running_stack
    proc.kill()
    proc.wait(timeout=10)
    # PR_SET_PDEATHSIG kills the direct children; gunicorn's worker follows its master in ~1 s.
    assert wait_until(lambda: not alive(recorded), 15), f"left running: {alive(recorded)}"
