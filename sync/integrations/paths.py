"""Which route a request path names, whatever URL of the function it came through.

A gen2 function answers at ``https://REGION-PROJECT.cloudfunctions.net/FUNCTION_NAME/...`` as
well as at its run.app URL; the former may hand the path on with the function's name in front.
So a leading ``/<function name>`` (``K_SERVICE`` in the cloud, the ``integrations`` target, or
``FUNCTION_TARGET``) is dropped before routing. Links and redirects never use this: they are
built from PUBLIC_BASE_URL.
"""

from __future__ import annotations

from collections.abc import Mapping

TARGET = "integrations"


def function_names(env: Mapping[str, str]) -> tuple[str, ...]:
    names = (env.get("K_SERVICE"), env.get("FUNCTION_TARGET"), TARGET)
    return tuple(dict.fromkeys(n for n in names if n and "/" not in n))


def route_path(raw_path: str, names: tuple[str, ...]) -> str:
    """``raw_path`` without trailing slashes and without one leading ``/<function name>``."""
    path = raw_path.rstrip("/") or "/"
    for name in names:
        prefix = "/" + name
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix):] or "/"
    return path
