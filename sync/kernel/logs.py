"""Structured logs in Cloud Logging's format: one JSON object per line on stdout.

Only allow-listed fields are ever written, and each must be a plain scalar, so no secret,
token or event content can reach a log line by accident (a test reads every line to prove it).
Foreign exceptions are logged by type and stack only: their messages may quote data.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sync.kernel.errors import SyncError

LOGGER_NAME = "sync"
ALLOWED_FIELDS = frozenset({
    "function", "webhook_id", "ordering_key", "account_id", "user_id", "event_id", "change_type",
    "version", "outcome", "latency_ms", "status", "reason", "message_id", "delivery_attempt",
    "calendar_calls", "error_type", "count", "subscription",
    # jobs on the bulk lane, snapshots, notifications, drift repair
    "job", "task", "lane", "snapshot_id", "notification_type", "drift_kind",
    # usage limits: when a usage_limited calendar is tried again, after how many refused tries
    "retry_at", "failed_tries",
})
MAX_VALUE_CHARS = 256  # every logged string (the message too) is cut to this: input never sizes a log line
_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}
# Libraries that may log URLs or request bodies at low levels are held at WARNING.
_QUIET = ("googleapiclient", "google_auth_httplib2", "google.auth", "urllib3", "google.api_core",
          "google.cloud")
_configured = False
_lock = threading.Lock()
_logger = logging.getLogger(LOGGER_NAME)  # getLogger takes logging's module lock: once, not per line
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode  # made once, not per line


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": bounded(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None) or {}
        for key, value in fields.items():
            if key not in ALLOWED_FIELDS:
                continue
            if type(value) is str:  # the usual case first (a subclass of str goes the long way)
                entry[key] = value if len(value) <= MAX_VALUE_CHARS else bounded(value)
            elif isinstance(value, (str, int, float, bool)):
                entry[key] = bounded(value) if isinstance(value, str) else value
        trace = getattr(record, "trace", None)
        if trace and self.project:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace[0]}"
            if trace[1]:
                entry["logging.googleapis.com/spanId"] = trace[1]
        if record.exc_info and record.exc_info[1] is not None:
            entry["stack_trace"] = safe_traceback(record.exc_info[1])
        entry["logging.googleapis.com/sourceLocation"] = {
            "file": record.pathname, "line": record.lineno, "function": record.funcName,
        }
        return _encode(entry)


def bounded(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked with "…" when it was longer."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def safe_traceback(exc: BaseException) -> str:
    """The frames of ``exc`` and its causes (no source text); messages only for our own errors."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__module__ + "." + type(current).__qualname__
        text = f"{name}: {current}" if isinstance(current, SyncError) else name
        frames = "".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}\n'
                         for f in traceback.extract_tb(current.__traceback__))
        lines.insert(0, frames + text)
        current = current.__cause__ or current.__context__
    return "\n--- caused ---\n".join(lines)


def configure(project: str | None, level: str = "INFO") -> None:
    """Install the JSON handler on the root logger, once per process."""
    global _configured
    if _configured:  # every request calls this: no lock once done
        return
    with _lock:
        if _configured:
            return
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(CloudLoggingFormatter(project))
        root = logging.getLogger()
        root.handlers = [handler]
        root.setLevel(level if level in _SEVERITY else "INFO")
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)
        # Records need no process, thread or multiprocessing names (never written): skip the lookups.
        logging.logProcesses = logging.logMultiprocessing = logging.logThreads = False
        _configured = True


def trace_from_headers(headers: Mapping[str, str]) -> tuple[str, str | None] | None:
    """(trace id, span id) from ``traceparent`` or ``X-Cloud-Trace-Context``."""
    parent = headers.get("traceparent")
    if parent:
        parts = parent.split("-")
        if len(parts) >= 3 and len(parts[1]) == 32:
            return parts[1], parts[2]
    cloud = headers.get("X-Cloud-Trace-Context")
    if cloud:
        trace_id, _, rest = cloud.partition("/")
        span = rest.split(";")[0] or None
        if trace_id:
            return trace_id, span
    return None


def log(level: int, message: str, fields: Mapping[str, Any], trace: tuple[str, str | None] | None = None,
        exc_info: BaseException | None = None) -> None:
    """One line through the ``sync`` logger, its source location the line that called this (what
    ``stacklevel=2`` finds, read off the caller's frame instead of walking the stack for it)."""
    if not _logger.isEnabledFor(level):
        return
    caller = sys._getframe(1)
    _logger.handle(_logger.makeRecord(
        LOGGER_NAME, level, caller.f_code.co_filename, caller.f_lineno, message, (),
        (type(exc_info), exc_info, exc_info.__traceback__) if exc_info else None, caller.f_code.co_name,
        {"fields": dict(fields), "trace": trace},
    ))
