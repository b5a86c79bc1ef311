"""Start and stop Google's Pub/Sub and Firestore emulators on free loopback ports."""

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
from typing import IO

from local import shutdown

SDK_PLATFORM = Path("/usr/lib/google-cloud-sdk/platform")


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


def start(kind: str, log_dir: Path, port: int | None = None, timeout: float = 60.0) -> Process:
    """Start the ``pubsub`` or ``firestore`` emulator and wait until it answers."""
    if shutil.which("java") is None:
        raise RuntimeError("java is needed by the emulators (apt-get install openjdk-17-jre-headless)")
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{kind}-emulator.log"
    log: IO[bytes] = open(log_path, "wb")
    proc = shutdown.spawn(_command(kind, port), f"{kind} emulator", stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    handle = Process(kind, proc, host, log_path)
    try:
        wait_http(f"http://{host}/", timeout, proc, log_path)
    except BaseException:
        handle.stop()
        raise
    return handle
