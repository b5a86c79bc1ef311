"""Start and stop Google's Pub/Sub and Firestore emulators on free loopback ports.

A port chosen free may be taken by another process before the emulator binds it (another test
session starting its own servers, any client's outgoing connection): ``start`` declares an
emulator up only once the socket listening on its port is the emulator's own (``local.ports``),
and starts it again on another port when someone else holds it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from local import ports, shutdown

SDK_PLATFORM = Path("/usr/lib/google-cloud-sdk/platform")
PORT_ATTEMPTS = 4  # ports tried before giving up, each found taken by another process


class PortTaken(RuntimeError):
    """Another process holds the port a server we started was meant to listen on."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last ``lines`` of a process's log, for an error message ('' without a log)."""
    if path is None:
        return ""
    try:
        text = path.read_bytes()[-16384:].decode(errors="replace")
    except OSError as exc:
        return f"\n(no log at {path}: {exc.strerror})"
    return f"\n--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
              log_path: Path | None = None) -> None:
    """Poll ``url`` until it answers, the process dies, or ``timeout`` passes; the last two raise
    with the end of the process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}{log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error status still means it is up
                return
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up within {timeout}s{log_tail(log_path)}")


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    host: str
    log_path: Path | None = None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 10 s (or at once on a second Ctrl-C)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        else:  # the leader is gone; a child of it (a wrapper's java) may not be
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutdown.forget(self.proc)


def _command(kind: str, port: int) -> list[str]:
    """The emulator itself when the SDK layout is known (faster), else through gcloud."""
    if kind == "pubsub":
        direct = SDK_PLATFORM / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
        if direct.exists():
            return [str(direct), "--host=127.0.0.1", f"--port={port}"]
        return ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}"]
    jar = SDK_PLATFORM / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"
    if jar.exists():  # what its bash wrapper runs, minus the wrapper (which forks java instead of exec)
        main_class = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
        return [os.environ.get("JAVA", "java"), "-Duser.language=en", "-cp", str(jar), main_class, "start",
                "--host=127.0.0.1", f"--port={port}", "--database-mode=firestore-native"]
    return ["gcloud", "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}"]


def _bind_failed(log_path: Path | None, offset: int) -> bool:
    """Whether the log, from ``offset`` on, tells of a bind refused (java.net.BindException:
    Address already in use)."""
    if log_path is None:
        return False
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            return b"Address already in use" in log.read(1 << 20)
    except OSError:
        return False


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float, log_path: Path | None = None,
                   log_from: int = 0) -> None:
    """Wait until a socket of ``proc``'s process group listens on 127.0.0.1:``port``.

    Raises PortTaken when another process listens there, when ``proc`` exited with the port bound
    by someone else, or when its log (from ``log_from`` on) says it could not bind it;
    RuntimeError when it exited otherwise; TimeoutError after ``timeout``. Where /proc cannot
    tell (not Linux), returns at once and leaves it to ``wait_http``."""
    if not ports.supported():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if ports.taken(port):
                raise PortTaken(f"port {port} is held by another process (ours exited with {proc.returncode})"
                                f"{log_tail(log_path, 5)}")
            raise RuntimeError(f"process for port {port} exited with {proc.returncode}{log_tail(log_path)}")
        who = ports.owner(port, proc.pid)
        if who == "ours":
            return
        if who == "other":
            raise PortTaken(f"another process listens on port {port}")
        if _bind_failed(log_path, log_from):  # the Pub/Sub emulator stays up, listening nowhere, after one
            raise PortTaken(f"port {port} is held by another process (ours could not bind it){log_tail(log_path, 5)}")
        time.sleep(0.1)
    raise TimeoutError(f"nothing of ours listens on port {port} after {timeout}s{log_tail(log_path)}")


def start(kind: str, log_dir: Path, port: int | None = None, timeout: float = 60.0) -> Process:
    """Start the ``pubsub`` or ``firestore`` emulator and wait until it answers on a port it
    listens on itself: on a port found taken by another process, again on another one (a port
    given by the caller is not changed: then PortTaken is raised)."""
    return start_all((kind,), log_dir, {kind: port} if port else None, timeout)[kind]


def start_all(kinds: tuple[str, ...], log_dir: Path, ports_given: dict[str, int] | None = None,
              timeout: float = 60.0) -> dict[str, Process]:
    """``start`` for several emulators at once: each is launched before any is waited for, so their
    JVMs start side by side (a stack's Pub/Sub and Firestore: about half the wait on two cores).
    All are up when this returns; if one cannot be started, the others are stopped."""
    if shutil.which("java") is None:
        raise RuntimeError("java is needed by the emulators (apt-get install openjdk-17-jre-headless)")
    log_dir.mkdir(parents=True, exist_ok=True)
    given = ports_given or {}
    launched: dict[str, tuple[Process, int, int]] = {}
    started: dict[str, Process] = {}
    try:
        for kind in kinds:
            (log_dir / f"{kind}-emulator.log").write_bytes(b"")
            chosen = given.get(kind) or free_port()
            while chosen in {p for _, p, _ in launched.values()}:  # the kernel may hand a port out twice
                chosen = free_port()
            launched[kind] = _launch(kind, log_dir, chosen, None)
        for kind in kinds:
            taken: list[str] = []
            while True:
                handle, chosen, log_from = launched.pop(kind)
                try:
                    started_at = time.monotonic()
                    wait_listening(chosen, handle.proc, timeout, handle.log_path, log_from)
                    wait_http(f"http://{handle.host}/", max(1.0, timeout - (time.monotonic() - started_at)),
                              handle.proc, handle.log_path)
                except PortTaken as exc:
                    handle.stop()
                    if given.get(kind):
                        raise
                    taken.append(str(exc).splitlines()[0])
                    if len(taken) >= PORT_ATTEMPTS:
                        raise PortTaken(f"{kind} emulator: every port tried was taken by another process: "
                                        f"{'; '.join(taken)}") from None
                    launched[kind] = _launch(kind, log_dir, free_port(), taken[-1])
                    continue
                except BaseException:
                    handle.stop()
                    raise
                started[kind] = handle
                break
    except BaseException:
        for handle, _, _ in launched.values():
            handle.stop()
        for handle in started.values():
            handle.stop()
        raise
    return started


def _launch(kind: str, log_dir: Path, chosen: int, retrying: str | None) -> tuple[Process, int, int]:
    """Spawn one emulator on ``chosen`` (not waited for): its handle, the port, where its log starts."""
    log_path = log_dir / f"{kind}-emulator.log"
    with open(log_path, "ab") as log:
        log_from = log.tell()
        if retrying:
            log.write(f"--- {retrying}: starting again on port {chosen}\n".encode())
            log.flush()
        proc = shutdown.spawn(_command(kind, chosen), f"{kind} emulator", stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    return Process(kind, proc, f"127.0.0.1:{chosen}", log_path), chosen, log_from
