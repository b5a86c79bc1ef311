import json
import logging
import sys

from sync.kernel.errors import Retryable
from sync.kernel.logs import MAX_VALUE_CHARS, CloudLoggingFormatter, safe_traceback, trace_from_headers


def record(fields, exc=None, trace=None):
    rec = logging.LogRecord("sync", logging.WARNING, __file__, 10, "change processed", None,
                            (type(exc), exc, exc.__traceback__) if exc else None)
    rec.fields, rec.trace = fields, trace
    return rec


def test_one_json_object_in_cloud_logging_shape():
    line = CloudLoggingFormatter("proj").format(record({"event_id": "ev-1", "outcome": "created"},
                                                       trace=("abc123", "0001")))
    entry = json.loads(line)
    assert entry["severity"] == "WARNING" and entry["message"] == "change processed"
    assert entry["event_id"] == "ev-1" and entry["outcome"] == "created"
    assert entry["logging.googleapis.com/trace"] == "projects/proj/traces/abc123"
    assert entry["logging.googleapis.com/spanId"] == "0001"
    assert "\n" not in line


def test_only_allow_listed_scalar_fields_are_written():
    entry = json.loads(CloudLoggingFormatter("p").format(record(
        {"title": "Reunião secreta", "refresh_token": "1//rt", "event_id": {"nested": 1}, "account_id": "a"})))
    assert "title" not in entry and "refresh_token" not in entry and "event_id" not in entry
    assert entry["account_id"] == "a"


def test_foreign_exception_messages_are_not_logged_but_ours_are():
    try:
        try:
            raise ValueError("title: Reunião secreta")
        except ValueError as inner:
            raise Retryable("calendar 503") from inner
    except Retryable as exc:
        text = safe_traceback(exc)
    assert "Reunião secreta" not in text
    assert "builtins.ValueError" in text and "calendar 503" in text


def test_trace_headers():
    assert trace_from_headers({"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}) == ("a" * 32, "b" * 16)
    assert trace_from_headers({"X-Cloud-Trace-Context": "105445aa7843bc8bf206b1200/1;o=1"}) == \
        ("105445aa7843bc8bf206b1200", "1")
    assert trace_from_headers({}) is None


def test_every_logged_string_is_bounded_the_message_too():
    huge = "x" * 1_000_000
    rec = record({"account_id": huge, "user_id": "u", "count": 10 ** 30})
    rec.msg = "GET " + huge
    line = CloudLoggingFormatter("p").format(rec)
    entry = json.loads(line)
    assert len(line) < 2_000
    assert len(entry["account_id"]) == MAX_VALUE_CHARS and entry["account_id"].endswith("…")
    assert len(entry["message"]) == MAX_VALUE_CHARS and entry["message"].startswith("GET xxx")
    assert entry["user_id"] == "u" and entry["count"] == 10 ** 30


def test_a_line_names_the_code_that_logged_it(caplog):
    from sync.kernel import logs

    caplog.set_level(logging.INFO, logger="sync")
    logs.log(logging.INFO, "here", {"count": 1}); line = sys._getframe().f_lineno  # noqa: E702
    [record] = [r for r in caplog.records if r.getMessage() == "here"]
    where = (record.pathname, record.lineno, record.funcName)
    assert where == (__file__, line, "test_a_line_names_the_code_that_logged_it")
    assert record.name == "sync" and record.fields == {"count": 1}
    caplog.set_level(logging.WARNING, logger="sync")
    logs.log(logging.INFO, "not at this level", {})
    assert not [r for r in caplog.records if r.getMessage() == "not at this level"]
