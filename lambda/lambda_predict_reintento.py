"""Lambda entry point (``lambda_predict_reintento.handler``): parse, call the core, answer.

Events:
- realtime: ``{"instances": [{feature: value, ...}, ...]}`` (or an API-style ``{"body": "<json>"}``)
- batch work item: ``{"batch_slice": {...}}`` (see batch_slice.py)
- batch totals: ``{"batch_summary": {"items": [...]}}``
- model check: ``{"describe_model": {}}`` looks for a new model version now and answers which
  version serves and what input it expects (used by ops after an upload and by status)

Configuration (read on first use, never at import): MODEL_BUCKET, MODEL_KEY,
MODEL_REFRESH_SECONDS (default 60), MAX_ROWS (default 1000).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from batch_slice import SliceRef, run_slice, summarize
from inference_core import invalid_input, loads_strict, predict_request
from inference_errors import ModelUnavailableError
from model_loader import LoadedModel, ModelCache, ModelStore

SERVICE = "reintento-predict"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Reintento", service=SERVICE)

_state: dict[str, Any] = {}


def _s3() -> Any:
    if "s3" not in _state:
        config = Config(
            connect_timeout=2, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"}
        )
        _state["s3"] = boto3.client("s3", config=config)
    return _state["s3"]


def _cache() -> ModelCache:
    cache = _state.get("cache")
    if cache is None:
        bucket, key = os.environ.get("MODEL_BUCKET"), os.environ.get("MODEL_KEY")
        if not bucket or not key:
            raise ModelUnavailableError(
                "MODEL_BUCKET and MODEL_KEY must be set in the function's environment; "
                "deploy the stack with `python -m ops deploy`"
            )
        refresh = float(os.environ.get("MODEL_REFRESH_SECONDS", "60"))
        cache = ModelCache(
            ModelStore(_s3(), bucket, key),
            refresh,
            on_error=lambda err: logger.warning("model refresh failed", error=str(err)),
        )
        _state["cache"] = cache
    return cache


def _model(force_check: bool = False) -> LoadedModel:
    model, loaded_now = _cache().get(force_check)
    if loaded_now:
        gc.collect()
        gc.freeze()  # the model's objects are long-lived: keep them out of later GC passes
        metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=model.load_ms)
        logger.info("model loaded", model=model.describe(), load_ms=round(model.load_ms, 1))
    return model


def _max_rows() -> int:
    return int(os.environ.get("MAX_ROWS", "1000"))


def _realtime(event: Any) -> dict[str, Any]:
    model = _model()
    if isinstance(event, Mapping) and "body" in event and "instances" not in event:
        event = event["body"]
    if isinstance(event, str | bytes):
        try:
            event = loads_strict(event)
        except ValueError as err:
            return invalid_input(model.schema, f"the request body is not valid JSON: {err}")
    if not isinstance(event, Mapping) or "instances" not in event:
        answer = invalid_input(
            model.schema,
            'the request must be a JSON object {"instances": [row, ...]}',
        )
        answer["error"]["details"] = [{"row": None, "field": "instances", "problem": "missing"}]
    else:
        answer = predict_request(model.estimator, model.schema, event["instances"], _max_rows())
    answer["model"] = model.describe()
    if "error" in answer:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        logger.info("invalid request", problems=len(answer["error"]["details"]))
    else:
        rows = len(answer["predictions"])
        metrics.add_metric(name="RowsPredicted", unit=MetricUnit.Count, value=rows)
        logger.info("predicted", rows=rows, model_version=model.version_id)
    return answer


def _batch_slice(item: Any) -> dict[str, Any]:
    ref = SliceRef.from_event(item)
    result = run_slice(_s3(), ref, _model())
    metrics.add_metric(name="BatchRowsPredicted", unit=MetricUnit.Count, value=result["succeeded"])
    metrics.add_metric(name="BatchRowsFailed", unit=MetricUnit.Count, value=result["failed"])
    logger.info("batch slice", rows=result["rows"], failed=result["failed"], key=ref.input_key)
    return result


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """No cyclic-GC passes while a request builds thousands of small objects (they are freed by
    reference counting); the collector runs again between requests."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    with _no_gc_pauses():
        return _dispatch(event)


def _dispatch(event: Any) -> dict[str, Any]:
    if isinstance(event, Mapping) and "batch_slice" in event:
        return _batch_slice(event["batch_slice"])
    if isinstance(event, Mapping) and "describe_model" in event:
        model = _model(force_check=True)
        return {
            "model": model.describe(),
            "features": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "nullable": f.nullable,
                    "categories": list(f.categories) if f.categories is not None else None,
                }
                for f in model.schema.features
            ],
            "classes": list(model.schema.classes) if model.schema.classes is not None else None,
            "max_rows": _max_rows(),
        }
    if isinstance(event, Mapping) and "batch_summary" in event:
        summary = event["batch_summary"]
        totals = summarize(summary.get("items") if isinstance(summary, Mapping) else None)
        metrics.add_metric(name="BatchRows", unit=MetricUnit.Count, value=totals["rows"])
        echo = (
            {k: v for k, v in summary.items() if k != "items"}
            if isinstance(summary, Mapping)
            else {}
        )
        return {**echo, **totals}
    return _realtime(event)
