"""`make test` and `make chaos`: pytest sessions side by side, each with its own emulators, stacks
and artifacts folder (test-artifacts/<suite>-<n>/, through TEST_ARTIFACTS).

    .venv/bin/python scripts/sessions.py test     # what `make test` runs after lint
    .venv/bin/python scripts/sessions.py chaos    # what `make chaos` runs
    .venv/bin/python scripts/sessions.py --list test   # each session's files, nothing run

Most of the suite waits (on push deliveries, backoffs, drift checks, a minute of faults), so
sessions side by side on two cores take little more than the longest one. Each suite's files are
split by hand into sessions of about the same length (on a fresh clone at load 4-16: 6 min 37 s,
6 min 12 s and 7 min 25 s, before tests/terraform/test_custom_domain.py's ~40 s moved from the
third to the second); every test file of the suite is in exactly one session, or in every one of
them (the e2e modules that run last and read what the session's earlier tests logged and
stored), and a file in none fails the run before anything starts, so a new file cannot be left out.

A session's output is printed as soon as it ends, the others' when they do; the exit status is
that of the worst session. PYTEST_ADDOPTS reaches every session (e.g. ``--durations=40``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Suite:
    marker: str  # pytest's -m expression
    roots: tuple[str, ...]  # every tests/**/test_*.py under these belongs to the suite
    sessions: tuple[tuple[str, ...], ...]  # each session's files (paths or globs, from ROOT)
    everywhere: tuple[str, ...] = ()  # files run in every session that holds a file of their folder


SUITES = {
    "test": Suite(
        marker="not chaos",
        roots=("tests/unit", "tests/integration", "tests/terraform", "tests/e2e"),
        sessions=(
            ("tests/e2e/test_security_review2.py", "tests/e2e/test_drift.py", "tests/e2e/test_snapshots.py",
             "tests/e2e/test_quota.py", "tests/e2e/test_fidelity_e2e.py", "tests/e2e/test_webhook_inputs.py",
             "tests/e2e/test_openapi_fuzz.py", "tests/e2e/test_security_review.py", "tests/e2e/test_guest_mails.py"),
            ("tests/e2e/test_dead_letters.py", "tests/e2e/test_disconnect.py", "tests/e2e/test_notifications.py",
             "tests/e2e/test_snapshots_switch.py", "tests/e2e/test_spine.py", "tests/e2e/test_security_review3.py",
             "tests/e2e/test_usage_limits.py",
             "tests/e2e/test_meet.py",
             "tests/e2e/test_integrations_*.py", "tests/terraform/test_custom_domain.py"),
            ("tests/unit", "tests/integration", "tests/terraform/test_terraform.py",
             "tests/terraform/test_variables.py"),
        ),
        everywhere=("tests/e2e/test_zz_*.py",),
    ),
    "chaos": Suite(
        marker="chaos",
        roots=("tests/chaos",),
        sessions=(
            ("tests/chaos/test_chaos.py",),
            ("tests/chaos/test_chaos_drift.py", "tests/chaos/test_chaos_notifications.py",
             "tests/chaos/test_chaos_snapshot.py", "tests/chaos/test_chaos_disconnect.py",
             "tests/chaos/test_chaos_mails.py"),
        ),
    ),
}


def expand(patterns: tuple[str, ...]) -> list[Path]:
    """The test files a session's patterns name (a folder: every test_*.py below it)."""
    out: list[Path] = []
    for pattern in patterns:
        matches = sorted(ROOT.glob(pattern))
        if not matches:
            raise SystemExit(f"sessions: {pattern} names no file")
        for path in matches:
            out += sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
    return out


def plan(suite: Suite) -> list[list[str]]:
    """Each session's pytest arguments (files, relative to ROOT); SystemExit when a file of the
    suite is in no session, or in two."""
    everywhere = set(expand(suite.everywhere)) if suite.everywhere else set()
    owner: dict[Path, int] = {}
    for n, patterns in enumerate(suite.sessions):
        for path in expand(patterns):
            if path in everywhere:
                continue
            if path in owner and owner[path] != n:
                raise SystemExit(f"sessions: {path.relative_to(ROOT)} is in sessions {owner[path] + 1} and {n + 1}")
            owner[path] = n
    known = set(owner) | everywhere
    missing = sorted(p for root in suite.roots for p in (ROOT / root).rglob("test_*.py") if p not in known)
    if missing:
        raise SystemExit("sessions: in no session (add each to one in scripts/sessions.py): "
                         + ", ".join(str(p.relative_to(ROOT)) for p in missing))
    out = []
    for n in range(len(suite.sessions)):
        files = sorted(p for p, owned in owner.items() if owned == n)
        folders = {p.parent for p in files}
        files += sorted(p for p in everywhere if p.parent in folders)  # by name, they sort last
        out.append([str(p.relative_to(ROOT)) for p in files])
    return out


def main(argv: list[str]) -> int:
    listing = argv[:1] == ["--list"]
    argv = argv[1:] if listing else argv
    if len(argv) != 1 or argv[0] not in SUITES:
        print(f"usage: sessions.py [--list] {{{','.join(SUITES)}}}", file=sys.stderr)
        return 2
    name = argv[0]
    suite = SUITES[name]
    sessions = plan(suite)
    if listing:
        for n, files in enumerate(sessions, 1):
            print(f"{name} session {n}: {' '.join(files)}")
        return 0
    artifacts = ROOT / "test-artifacts"
    procs: list[tuple[int, subprocess.Popen[bytes], Path, float]] = []

    def forward(signum: int, _frame: object) -> None:
        for _, proc, _, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    # Were this process killed outright, each session gets SIGTERM (a first signal: it stops its
    # stacks and emulators as on Ctrl-C) instead of running on unwatched.
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    launcher = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for n, files in enumerate(sessions, 1):
        folder = artifacts / f"{name}-{n}"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "pytest.out"
        with out.open("wb") as sink:
            proc = subprocess.Popen([*launcher, sys.executable, "-m", "pytest", "-m", suite.marker, *files], cwd=ROOT,
                                    env={**os.environ, "TEST_ARTIFACTS": str(folder)}, stdout=sink,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)  # a Ctrl-C reaches each once: forwarded
        procs.append((n, proc, out, time.monotonic()))
        print(f"=== {name} session {n} started ({len(files)} files, output in {out.relative_to(ROOT)})", flush=True)
    status = 0
    waiting = list(procs)
    while waiting:
        for entry in list(waiting):
            n, proc, out, started = entry
            if proc.poll() is None:
                continue
            waiting.remove(entry)
            code = proc.returncode
            status = max(status, 1 if code else 0)
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            print(f"=== {name} session {n} {verdict} after {time.monotonic() - started:.0f} s: "
                  f"{' '.join(sessions[n - 1])}", flush=True)
            sys.stdout.write(out.read_text(errors="replace"))
            sys.stdout.flush()
        time.sleep(0.5)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
