"""``python -m bench.run`` writes every section into bench/results.md.

Run as ``-m``, bench/run.py is ``__main__``, a module apart from the ``bench.run`` that
bench/drift.py and bench/snapshots.py import for ``emit``: their tables went to that module's
list of lines and never reached the file (seen: a full run's results.md ended before its drift
and snapshot tables, which the terminal showed). The entry point must run ``bench.run``'s own main.
"""

from __future__ import annotations

import runpy
import sys
import types

import pytest


# runpy warns that bench.run is imported already: that is the situation under test.
@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")
def test_the_entry_point_runs_the_main_of_the_module_the_sections_emit_into(monkeypatch):
    import bench.run
    from local.stack import Stack

    def no_stack(self):  # the __main__ module's own main would start the whole bench
        raise AssertionError("the entry point ran a main apart from bench.run's")

    called = []
    monkeypatch.setattr(Stack, "start", no_stack)
    monkeypatch.setattr(bench.run, "main", lambda: called.append(sys.modules["bench.run"]))
    monkeypatch.setattr(sys, "argv", ["bench.run", "--nothing"])
    runpy.run_module("bench.run", run_name="__main__")
    assert called == [bench.run]


@pytest.mark.parametrize("section", ["bench.drift", "bench.snapshots"])
def test_a_section_emits_into_the_list_bench_run_writes(section):
    import importlib

    import bench.run

    module: types.ModuleType = importlib.import_module(section)
    before = len(bench.run.OUT)
    try:
        module.emit("a line")  # type: ignore[attr-defined]
        assert bench.run.OUT[before:] == ["a line"]
    finally:
        del bench.run.OUT[before:]
