"""Which route a request path names, whatever URL of the function it came through.

A gen2 function answers at ``https://REGION-PROJECT.cloudfunctions.net/FUNCTION_NAME/...`` as
well as at its run.app URL; the former may hand the path on with the function's name in front.
So a leading ``/<function name>`` (``K_SERVICE`` in the cloud, the ``integrations`` target, or
``FUNCTION_TARGET``) is dropped before routing. Links and redirects never use this: they are
built from PUBLIC_BASE_URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

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


def route_segments(environ: Mapping[str, object], decoded_path: str, names: tuple[str, ...]) -> list[str]:
    """The routed path's segments, each percent-decoded exactly once.

    ``request.path`` is already decoded, so an id holding ``/`` (sent as ``%2F``) would split in
    two, and decoding its segments again would turn an id's own ``%41`` into ``A``. The segments
    come from the request target as sent (``RAW_URI`` from gunicorn and werkzeug, or
    ``REQUEST_URI``); a server that gives neither leaves the decoded path, split as it is.
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not isinstance(raw, str) or not raw:
        return decoded_path.split("/")
    target = raw.split("?", 1)[0].split("#", 1)[0]
    if "://" in target:  # absolute-form request target: keep its path
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    # WSGI hands the target over as latin-1; its bytes are the URL's (UTF-8 once unquoted).
    target = target.encode("latin-1", "replace").decode("utf-8", "replace")
    return [unquote(segment) for segment in route_path(target, names).split("/")]
