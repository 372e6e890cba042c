"""The monthly items estimate_cost counts for the stacks (ops/cost/stack_items.py) are the ones
the default synthesis creates: a new alarm, key, dashboard or log group fails here until the
estimate counts it (#35 finding 7)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra.app import build_app
from infra.settings import settings_from_context
from ops.cost import stack_items
from ops.modelfiles.versions import PROJECT_ROOT


def _resources(tmp_path: Path) -> list[dict[str, Any]]:
    app = cdk.App(outdir=str(tmp_path))
    settings = settings_from_context({})
    build_app(settings, app)
    assembly = app.synth()
    return [
        resource
        for name in (settings.model_stack_name, settings.service_stack_name)
        for resource in assembly.get_stack_by_name(name).template["Resources"].values()
    ]


def _of(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in resources if r["Type"] == kind]


def test_the_estimates_stack_items_are_what_the_default_synthesis_bills(tmp_path: Path) -> None:
    resources = _resources(tmp_path)
    keys = [p for p in _of(resources, "AWS::KMS::Key")]
    assert len(keys) == stack_items.SIGNING_KEYS
    # an alarm bills per metric it evaluates: one, or each metric of its expression
    alarm_metrics = sum(
        1 if "MetricName" in p else sum("MetricStat" in m for m in p["Metrics"])
        for p in _of(resources, "AWS::CloudWatch::Alarm")
    )
    assert alarm_metrics == stack_items.ALARM_METRICS
    assert len(_of(resources, "AWS::CloudWatch::Dashboard")) == stack_items.DASHBOARDS
    groups = _of(resources, "AWS::Logs::LogGroup")
    assert len(groups) == stack_items.LOG_GROUPS
    assert {g["RetentionInDays"] for g in groups} == {stack_items.LOG_RETENTION_DAYS}
    from infra.model_store import ACCESS_LOG_DAYS

    assert stack_items.ACCESS_LOG_DAYS == ACCESS_LOG_DAYS


def test_the_metrics_counted_are_ones_the_function_publishes() -> None:
    handler = (PROJECT_ROOT / "lambda/reintento_function/lambda_predict_reintento.py").read_text()
    published = set(re.findall(r'add_metric\(\s*name="(\w+)"', handler)) | {"ColdStart"}
    assert "capture_cold_start_metric=True" in handler  # Powertools' ColdStart metric
    assert set(stack_items.REALTIME_METRICS + stack_items.BATCH_METRICS) <= published
