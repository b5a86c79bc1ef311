"""The bench's side-by-side rounds (bench/run.py, bench/ab.py): every handler loaded at the same
moment, and ratios taken round by round, not as a ratio of medians."""

from __future__ import annotations

import argparse
import threading

import pytest

import bench.run
from bench.ab import handler_spec


def fake_round(barrier: threading.Barrier, cpu: dict[str, float]):  # type: ignore[no-untyped-def]
    def wrk_round(url, batch, connections, pgid):  # type: ignore[no-untyped-def]
        barrier.wait()  # breaks (after its timeout) unless every handler's round runs at the same moment
        if url == "boom":
            raise RuntimeError("wrk failed")
        return {"req_per_s": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_ms_per_req": cpu[url]}
    return wrk_round


class Proc:
    pid = 1


def handlers(*names: str) -> dict[str, object]:
    return {name: type("H", (), {"proc": Proc})() for name in names}


def test_side_by_side_loads_every_handler_at_once_and_answers_in_their_order(monkeypatch):
    monkeypatch.setattr(bench.run, "wrk_round", fake_round(threading.Barrier(3, timeout=10),
                                                           {"a": 1.0, "b": 2.0, "c": 3.0}))
    results = bench.run.side_by_side({"x": "a", "y": "b", "z": "c"}, handlers("x", "y", "z"),  # type: ignore[arg-type]
                                     {"z": [], "x": [], "y": []}, 16)
    assert list(results) == ["z", "x", "y"]
    assert [r["cpu_ms_per_req"] for r in results.values()] == [3.0, 1.0, 2.0]


def test_a_failed_round_is_raised_in_the_callers_thread(monkeypatch):
    monkeypatch.setattr(bench.run, "wrk_round", fake_round(threading.Barrier(2, timeout=10), {"a": 1.0}))
    with pytest.raises(RuntimeError, match="wrk failed"):
        bench.run.side_by_side({"x": "a", "y": "boom"}, handlers("x", "y"), {"x": [], "y": []}, 16)  # type: ignore[arg-type]


def test_ratios_are_taken_round_by_round(monkeypatch):
    monkeypatch.setattr(bench.run, "OUT", [])
    monkeypatch.setattr(bench.run, "emit", lambda line="": bench.run.OUT.append(line))

    def row(cpu: float) -> dict[str, float]:
        return {"req_per_s": 1.0, "p99_ms": 1.0, "cpu_ms_per_req": cpu}

    # The floor swings from round to round and the subject with it: each round's ratio is 1.5,
    # where the ratio of the medians (3.0 / 1.0) would be 3.
    rounds = [{"floor": row(1.0), "subject": row(1.5)}, {"floor": row(4.0), "subject": row(6.0)},
              {"floor": row(0.5), "subject": row(0.75)}]
    medians = bench.run.emit_side_by_side(rounds, "floor")
    assert medians == {"floor": 1.0, "subject": 1.5}
    assert "| subject | 1.50 | 1.00 | 1.00 | 1.50x (1.50, 1.50, 1.50) |" in bench.run.OUT


def test_a_handler_is_named_by_its_source_and_target(tmp_path):
    source = tmp_path / "variants.py"
    source.write_text("")
    assert handler_spec(f"{source}:try_this") == ("try_this", str(source))
    for wrong in ("main.py", ":handle_webhook", f"{source}:", f"{tmp_path}/absent.py:x"):
        with pytest.raises(argparse.ArgumentTypeError):
            handler_spec(wrong)


class Exited:
    returncode = -6  # SIGABRT

    def poll(self) -> int:
        return self.returncode


class Serving:
    returncode = None

    def poll(self) -> None:
        return None


def fake_handlers(monkeypatch, tmp_path, proc: object) -> list[str]:  # type: ignore[no-untyped-def]
    log = tmp_path / "handler.log"
    log.write_text("the child's last words\n")
    stopped: list[str] = []
    handler = bench.run.Handler(proc, None, log)  # type: ignore[arg-type]
    monkeypatch.setattr(bench.run, "start_handlers", lambda stack, handlers: ({"h": "url"}, {"h": handler}))
    monkeypatch.setattr(bench.run, "stop_handlers", lambda procs: stopped.extend(procs))
    return stopped


def test_a_handler_that_died_under_a_load_that_went_well_raises_with_its_log(monkeypatch, tmp_path):
    stopped = fake_handlers(monkeypatch, tmp_path, Exited())
    with pytest.raises(RuntimeError, match="h exited with -6") as raised:
        with bench.run.serving(None, {}):  # type: ignore[arg-type]
            pass
    assert "the child's last words" in str(raised.value)
    assert stopped == ["h"]


def test_a_load_that_failed_because_a_handler_died_raises_the_handlers_death_first(monkeypatch, tmp_path):
    stopped = fake_handlers(monkeypatch, tmp_path, Exited())
    with pytest.raises(RuntimeError, match="h exited with -6") as raised:
        with bench.run.serving(None, {}):  # type: ignore[arg-type]
            raise ConnectionError("refused")
    assert isinstance(raised.value.__context__, ConnectionError)  # the load's error, chained
    assert stopped == ["h"]


def test_a_load_that_failed_with_every_handler_alive_raises_its_own_error(monkeypatch, tmp_path):
    stopped = fake_handlers(monkeypatch, tmp_path, Serving())
    with pytest.raises(ConnectionError):
        with bench.run.serving(None, {}):  # type: ignore[arg-type]
            raise ConnectionError("refused")
    assert stopped == ["h"]


def test_a_failed_start_stops_the_handlers_already_serving_and_closes_every_socket(monkeypatch, tmp_path):
    import types

    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    class NoTopics:
        def create_topic(self, name: str) -> None:
            pass

    started: list[str] = []

    def serve(target, source, sock, name, cwd, env, log_path):  # type: ignore[no-untyped-def]
        if target == "broken":
            raise RuntimeError("broken exited with 1")
        started.append(str(log_path.name))
        return Serving()

    stopped: list[str] = []
    sockets: list[object] = []
    real_socket = bench.run.ports.listening_socket

    def listening_socket():  # type: ignore[no-untyped-def]
        sockets.append(real_socket())
        return sockets[-1]

    monkeypatch.setattr(pubsub_v1, "PublisherClient", NoTopics)
    monkeypatch.setattr(bench.run.function_server, "serve", serve)
    monkeypatch.setattr(bench.run.ports, "listening_socket", listening_socket)
    monkeypatch.setattr(bench.run, "stop_handlers",
                        lambda procs: [(stopped.append(n), h.sock.close()) for n, h in procs.items()])
    stack = types.SimpleNamespace(env={}, log_dir=tmp_path)
    handlers = {"a": ("same", "main.py"), "b": ("same", "main.py"), "c": ("broken", "main.py")}
    with pytest.raises(RuntimeError, match="broken exited"):
        bench.run.start_handlers(stack, handlers)  # type: ignore[arg-type]
    assert started == ["bench-0-same.log", "bench-1-same.log"]  # two copies of one target: a log each
    assert stopped == ["a", "b"]
    assert len(sockets) == 3 and all(s.fileno() == -1 for s in sockets)  # type: ignore[attr-defined]
