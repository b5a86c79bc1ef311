"""Routes of the ``integrations`` function.

The OAuth connect flow, calendar choice, status and disconnect routes land with issue 3;
until then every route answers 501 so nothing pretends to work.
"""

from __future__ import annotations

import json
from typing import Any


def handle(request: Any) -> tuple[str, int, dict[str, str]]:
    return (json.dumps({"error": "not_implemented", "detail": "the integrations flow is not built yet"}), 501,
            {"Content-Type": "application/json"})
