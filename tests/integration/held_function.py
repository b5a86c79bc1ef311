"""A function whose requests hold their thread until a file appears (tests/integration/test_function_server.py)."""

from __future__ import annotations

import time
from pathlib import Path


def held(request):  # type: ignore[no-untyped-def]
    release = Path(request.args["release"])
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return ("released", 200) if release.exists() else ("never released", 500)
