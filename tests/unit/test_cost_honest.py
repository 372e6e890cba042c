"""#35 finding 7: the cost estimate counts every line item the stacks bill, says which figures it
measured and which it assumed, prices a region it knows or refuses, and is one figure everywhere.

A platform engineer found `estimate-cost --invocations 10000` said $0.20 (Lambda and S3 only),
and `--invocations 10000000` $202 (1,200 ms billed per call assumed without saying so, where the
deployed function's calls bill 8 ms: $3.33), without log ingestion (about $5 a month at 10M
calls), alarms, custom metrics, the signing key or image storage; `--region` was ignored."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import ops
from ops import cli
from ops.cost import ASSUMED, prices, stack_items
from ops.errors import ConfigurationError
from ops.observe import Metrics

ROOT = Path(__file__).resolve().parents[2]


def _lines(estimate: ops.CostEstimate) -> dict[str, float]:
    return {f"{line.service}: {line.item}": line.usd for line in estimate.lines}


def test_every_item_the_stacks_bill_is_in_the_estimate_even_at_small_use() -> None:
    lines = _lines(ops.estimate_cost(10_000))
    assert lines["KMS: signing key (customer managed)"] == pytest.approx(prices.KMS_KEY_MONTH)
    assert lines["KMS: requests (verify at each cold start, sign at each upload)"] > 0
    alarms = lines["CloudWatch: alarms"]
    assert alarms == pytest.approx(stack_items.ALARM_METRICS * prices.CW_ALARM_STANDARD)
    assert lines["CloudWatch: custom metrics"] > 0
    assert "CloudWatch: dashboard" in lines  # free within the account's first three
    assert lines["CloudWatch: log ingestion"] > 0 and "CloudWatch: log storage" in lines
    assert lines["ECR: image storage"] > 0
    assert "S3: access logs storage" in lines
    # the seed's "about $1 a month" cannot hold: the key alone is $1
    assert ops.estimate_cost(10_000).total_usd > prices.KMS_KEY_MONTH


def test_ten_million_calls_of_8_ms_bill_what_lambda_bills_and_the_logs_they_write() -> None:
    estimate = ops.estimate_cost(10_000_000, duration_ms=8.0)
    by_service = estimate.by_service()
    lambda_usd = 10_000_000 * prices.LAMBDA_REQUEST + 80_000 * prices.LAMBDA_GB_SECOND_X86
    assert by_service["Lambda"] == pytest.approx(lambda_usd, abs=0.01)  # $3.33
    ingestion = _lines(estimate)["CloudWatch: log ingestion"]
    assert 3.0 < ingestion < 8.0  # about a kilobyte of log per call


def test_the_estimate_says_which_figures_it_assumed_and_which_it_measured() -> None:
    assumed = ops.estimate_cost(10_000)
    notes = " ".join(assumed.card().notes)
    assert f"assumed: {ASSUMED['duration_ms']:g} ms billed per call" in notes
    assert "assumed" in assumed.record()["figures"]["duration_ms"]
    figures = Metrics(
        invocations=200,
        cold_starts=2,
        p50_ms=7.0,
        p99_ms=30.0,
        mean_billed_ms=8.0,
        mean_init_ms=1500.0,
        memory_mb=1536,
    )
    measured = ops.estimate_cost(10_000, measured=figures)
    notes = " ".join(measured.card().notes)
    assert "measured (200 REPORT lines): 8 ms billed per call" in notes
    assert "measured (200 REPORT lines): 1,536 MB" in notes
    assert "measured (200 REPORT lines): 1.00% of calls start" in notes
    assert measured.record()["figures"]["memory_mb"].startswith("measured")
    given = ops.estimate_cost(10_000, duration_ms=50.0, measured=figures)
    assert given.record()["figures"]["duration_ms"].startswith("given")


def test_a_region_without_prices_is_refused_and_a_priced_one_is_used() -> None:
    with pytest.raises(ConfigurationError, match=r"no prices for region eu-central-1"):
        ops.estimate_cost(10_000, region="eu-central-1")
    assert ops.estimate_cost(10_000, region="us-west-2").region == "us-west-2"
    assert cli.main(["estimate-cost", "--region", "ap-south-1"]) == 2


def test_the_cli_and_the_readme_give_one_figure_for_small_use(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no local target runs for this state folder (the project's own may be running the
    # notebooks on make test's other worker): the CLI says it assumed, and starts nothing
    monkeypatch.setenv("REINTENTO_STATE_DIR", str(tmp_path / "no-target"))
    assert cli.main(["estimate-cost", "--invocations", "10000", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    total = f"${record['total_usd']:,.2f}"
    readme = (ROOT / "README.md").read_text()
    stated = re.search(r"about (\$[0-9.,]+) a month for 10,000 calls", readme)
    assert stated, "README states the small-use figure"
    assert stated.group(1) == total
    assert total == f"${ops.estimate_cost(10_000).total_usd:,.2f}"
    stacks = (ROOT / "docs" / "stacks.md").read_text()  # the page with every line item
    assert f"no\ndeployment to measure: {total} a month" in stacks
