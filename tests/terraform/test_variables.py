"""Variables whose bad values the Google APIs would refuse only halfway through an apply (after
the database, secrets and builds exist) are refused at plan time by their own validation blocks,
run here by Terraform itself."""

from __future__ import annotations

import pytest

from tests.terraform.test_custom_domain import accepted

SIZING = {"memory": "512Mi", "cpu": "1", "timeout_seconds": 60, "max_instances": 5, "min_instances": 0,
          "concurrency": 16}


def sizing(**change: object) -> dict[str, dict[str, object]]:
    one = {**SIZING, **change}
    return {name: one for name in ("handle_webhook", "sync_worker", "integrations", "deliver_notification")}


RETRY_BACKOFFS = [
    ({"minimum": "10s", "maximum": "600s"}, True), ({"minimum": "0s", "maximum": "0s"}, True),
    ({"minimum": "0.5s", "maximum": "60s"}, True),
    ({"minimum": "10", "maximum": "600s"}, False),  # no unit
    ({"minimum": "10s", "maximum": "10m"}, False),  # Pub/Sub takes seconds only
    ({"minimum": "10s", "maximum": "601s"}, False),  # above Pub/Sub's 600 s
    ({"minimum": "60s", "maximum": "10s"}, False),  # minimum above maximum
]
FUNCTIONS = [
    (sizing(), True), (sizing(cpu="0.5", concurrency=1), True), (sizing(cpu="2", min_instances=5), True),
    (sizing(cpu="0.5", concurrency=8), False),  # Cloud Run: concurrency above 1 needs a whole vCPU
    (sizing(cpu="one"), False), (sizing(min_instances=6), False), (sizing(min_instances=-1), False),
]
RUNTIMES = [("python311", True), ("python312", True), ("python3.11", False), ("nodejs20", False)]


@pytest.mark.parametrize("name,cases", [
    ("retry_backoff", RETRY_BACKOFFS), ("functions", FUNCTIONS), ("python_runtime", RUNTIMES),
])
def test_apply_time_refusals_are_plan_time_errors(name, cases, tmp_path):
    values = [value for value, _ in cases]
    assert accepted(name, values, tmp_path) == [ok for _, ok in cases], values
