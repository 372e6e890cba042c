"""Results render as a card (HTML and text) with their key values recorded; links by target."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import urlparse

import pandas as pd
import pytest

import ops
from ops.aws.console import console_links
from ops.aws.outputs import StackOutputs
from ops.display import (
    LOCAL_COMMAND_CLASS,
    RECORD_MIME,
    Card,
    Link,
    Progress,
    progress_lines,
    short,
)
from ops.model_store import ModelVersion, ModelVersions
from ops.targets.local import cli_links

pytestmark = pytest.mark.unit

OUTPUTS = StackOutputs(
    model_bucket="reintento-dev-modelstore-modelbucket-kwm6bvb56zjp",
    model_key="models/mejor_modelo.pkl",
    batch_bucket="reintento-dev-service-batchbucket057aa9df-b8wxsp4mu580",
    function_name="Reintento-dev-Service-InferenceFunctionCC679B89-T6E2TDIJM9M1",
    function_arn="arn:aws:lambda:eu-west-1:111122223333:function:Reintento-dev-Service-Fn",
    function_log_group="/aws/lambda/Reintento-dev-Service-InferenceFunctionCC679B89",
    state_machine_arn="arn:aws:states:eu-west-1:111122223333:stateMachine:Batch-KRDSX3VGSZ7K",
    state_machine_log_group="/aws/vendedlogs/states/Batch",
    dashboard="Reintento-dev",
)
STACKS = ("Reintento-dev-ModelStore", "Reintento-dev-Service")
ROLES = {
    "model stack",
    "service stack",
    "function",
    "logs",
    "executions",
    "dashboard",
    "alarms",
    "model",
}


def test_a_card_escapes_html_and_shortens_only_long_identifiers() -> None:
    long_id = "arn:aws:states:eu-west-1:111122223333:stateMachine:Batch-KRDSX3VGSZ7K"
    card = Card(
        "Title <x>",
        "a & b",
        ok=False,
        key=(("id", long_id), ("sentence", "a long sentence " * 5), ("none", None)),
    )
    page = card.html()
    assert "<x>" not in page and "Title &lt;x&gt;" in page and "a &amp; b" in page
    # the identifier is cut in the middle with the whole value on hover; a sentence is not cut
    assert f'title="{long_id}"' in page and short(long_id) in page and "…" in short(long_id)
    assert "a long sentence " * 5 in page
    # the text form has every value whole, skips empty ones, and says it is not ok
    text = card.text()
    assert long_id in text and "NOT OK" in text and "none" not in text


def test_results_give_text_html_and_a_json_record() -> None:
    cost = ops.estimate_cost(10_000)
    bundle = cost._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", RECORD_MIME}
    assert bundle["text/plain"] == str(cost) and "<div" in bundle["text/html"]
    record = json.loads(json.dumps(bundle[RECORD_MIME]))  # JSON types only
    assert record["type"] == "CostEstimate" and record["total_usd"] == cost.total_usd


def test_model_versions_stay_a_tuple_and_show_as_a_card() -> None:
    versions = ModelVersions(
        [ModelVersion("v2", True, 10, "a" * 64, datetime(2026, 1, 2, tzinfo=UTC))]
    )
    assert isinstance(versions, tuple) and versions[0].version_id == "v2"
    assert str(versions).startswith("Model versions: 1 version(s)")
    assert versions.record() == {
        "versions": ["v2"],
        "sha256": ["a" * 64],
        "ever_live": [],
        "live": [],
    }
    # the version serving now is marked LIVE; the newest upload is not called "current"
    serving = ModelVersions(
        [
            ModelVersion("v2", True, 10, None, datetime(2026, 1, 2, tzinfo=UTC)),
            ModelVersion("v1", False, 10, None, datetime(2026, 1, 1, tzinfo=UTC), ("t",), 1.0),
        ]
    )
    text = str(serving)
    assert "current" not in text and "newest upload" in text
    assert re.search(r"v1\s+LIVE now \(100% of calls\)", text)
    assert serving.record()["live"] == ["v1"]


def test_the_command_line_shows_flags_and_notebooks_show_attributes() -> None:
    card = Card(
        "Batch",
        "done",
        notes=("for everyone",),
        python_notes=("`.results` has each row",),
        cli_notes=("`--output results.parquet` writes each row",),
    )
    assert "`.results`" in card.text() and "--output" not in card.text()
    assert "--output" in card.text(cli=True) and ".results" not in card.text(cli=True)
    assert "for everyone" in card.text(cli=True)
    # Markdown-style code in notes, headlines and sentences is code in HTML (no backticks)
    assert "<code>.results</code>" in card.html() and "`" not in card.html()
    refused = Card(
        "Model check", "refused: run `python -m ops pin-function x.pkl`", key=(("why", "a `b` c"),)
    )
    assert "`" not in refused.html() and "<code>python -m ops pin-function x.pkl</code>" in (
        refused.html()
    )
    # a local-only command is marked so that a run report hides it
    local = Card("Status", "ok", links=(Link("function", command="aws --endpoint-url x"),))
    assert LOCAL_COMMAND_CLASS in local.html()


def test_a_plot_is_an_inline_image_in_html() -> None:
    from ops.showcase.checks import Latency
    from ops.showcase.plots import plot_latency

    plot = plot_latency(
        Latency(3, 1.0, 2.0, (1.0, 1.5, 2.0)), ops.Metrics(0, 0, 0, 0, 0, None, None)
    )
    bundle = plot._repr_mimebundle_()
    assert bundle["text/html"].count('src="data:image/png;base64,') == 1
    assert bundle[RECORD_MIME] == {"type": "Plot", "name": "latency", "axes": 2}


def test_console_links_open_the_right_region_and_resource() -> None:
    links = console_links("eu-west-1", STACKS, OUTPUTS)
    assert set(links) == ROLES
    for link in links.values():
        url = urlparse(link.href)
        assert url.scheme == "https" and url.netloc == "eu-west-1.console.aws.amazon.com"
        assert "region=eu-west-1" in url.query and not link.command
    assert links["function"].href.endswith(f"#/functions/{OUTPUTS.function_name}")
    # the CloudWatch console double-encodes the log group's slashes in its fragment
    assert links["logs"].href.endswith(
        "log-group/$252Faws$252Flambda$252FReintento-dev-Service-InferenceFunctionCC679B89"
    )
    assert "prefix=models/mejor_modelo.pkl" in links["model"].href
    # before the service stack exists, only the stacks
    assert set(console_links("eu-west-1", STACKS, None)) == {"model stack", "service stack"}


def test_local_links_are_aws_cli_commands_for_the_same_roles() -> None:
    endpoint = "http://127.0.0.1:4566"
    links = cli_links(endpoint, STACKS, OUTPUTS)
    assert set(links) == set(console_links("us-east-1", STACKS, OUTPUTS))
    for link in links.values():
        assert not link.href and link.command.startswith(f"aws --endpoint-url {endpoint} ")
    assert links["model"].command.endswith(
        f"s3api head-object --bucket {OUTPUTS.model_bucket} --key {OUTPUTS.model_key}"
    )
    # the commands never carry the local target's key (they end up in notebooks)
    assert not any(re.search(r"AKIA|secret", link.command, re.I) for link in links.values())


def test_batch_result_says_whether_every_row_is_accounted_for() -> None:
    whole = pd.DataFrame({"row": range(3), "error_type": [None, None, "InvalidInput"]})
    batch = ops.BatchResult(3, 2, 1, 0, 1, whole)
    assert batch.record()["accounted_for"] is True and batch.card().ok is True
    lost = ops.BatchResult(4, 2, 1, 0, 1, whole)
    assert lost.record()["accounted_for"] is False and "NOT one per input row" in str(lost)


def test_link_without_an_address_is_a_command() -> None:
    card = Card("t", "h", links=(Link("logs", command="aws logs tail g"),))
    assert "<code" in card.html() and "<a " not in card.html()


def test_a_failed_deploy_is_not_an_ok_status() -> None:
    from ops.service.status import Status

    for state, ok in (
        ("CREATE_COMPLETE", True),
        ("UPDATE_COMPLETE", True),
        ("ROLLBACK_COMPLETE", False),
        ("UPDATE_ROLLBACK_COMPLETE", False),
        ("CREATE_IN_PROGRESS", False),
        (None, False),
    ):
        status = Status("aws", True, "CREATE_COMPLETE", state, None, None, (), "")
        assert status.ok is ok, state
    firing = Status(
        "aws", True, "CREATE_COMPLETE", "UPDATE_COMPLETE", None, None, (("a", "ALARM"),)
    )
    assert not firing.ok


def test_progress_lines_are_printed_outside_a_notebook(capsys: pytest.CaptureFixture[str]) -> None:
    say = progress_lines("Rollout")
    say("before traffic: version 2 agrees")
    assert capsys.readouterr().out == "before traffic: version 2 agrees\n"


def test_progress_in_a_notebook_is_one_card_that_grows() -> None:
    shown = Progress("Rollout")
    shown.lines += ["before traffic: agrees", "10% on version 2: 0 calls"]
    bundle = shown._repr_mimebundle_()
    assert bundle[RECORD_MIME] == {"type": "Progress"}
    assert bundle["text/plain"].splitlines() == [
        "Rollout: 10% on version 2: 0 calls",
        "  before traffic: agrees",
        "  10% on version 2: 0 calls",
    ]
