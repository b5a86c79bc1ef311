"""The error the Calendar stand-in answers with, shaped as Google's JSON errors (``local.standin``
and its parts raise it; the WSGI app turns it into the response)."""

from __future__ import annotations


class ApiError(Exception):
    """``{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}`` with ``code``
    as the HTTP status. ``domain`` is ``global`` except where Google says otherwise
    (``usageLimits`` for Calendar's usage limits)."""

    def __init__(self, code: int, reason: str, message: str, headers: dict[str, str] | None = None,
                 domain: str = "global") -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.headers = code, reason, message, headers or {}
        self.domain = domain
