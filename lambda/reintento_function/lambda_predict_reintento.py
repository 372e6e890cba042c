"""Lambda entry point (``lambda_predict_reintento.handler``): parse, call the core, answer.

Events:
- realtime: ``{"instances": [{feature: value, ...}, ...]}`` (or an API-style ``{"body": "<json>"}``)
- batch work item: ``{"batch_slice": {...}}`` (see batch_slice.py)
- model check: ``{"describe_model": {}}`` looks for a new model version now and answers which
  version serves and what input it expects (used by ops after an upload and by status)

Configuration (read on first use, never at import): MODEL_BUCKET, MODEL_KEY,
MODEL_SIGNING_KEY_ARN (the deployer's KMS signing key), BATCH_BUCKET, MODEL_REFRESH_SECONDS
(default 60), MAX_ROWS (default 1000).

No client input raises: bad input is answered (``InvalidInput``), a work item that is not one of
a signed run's slices is answered (``WorkItemRefused``, work_items.py), and anything unexpected
becomes an ``InternalError`` whose message echoes nothing of the request (the exception is
logged, with the request id).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.config import Config

from reintento_function.batch_slice import SliceRef, run_slice, store_errors
from reintento_function.contract import (
    ALARM_DIMENSIONS,
    ANSWER_CLASSES,
    ANSWER_ERROR,
    ANSWER_MODEL,
    ANSWER_PREDICTIONS,
    BATCH_SLICE_LOG_MESSAGE,
    DEFAULT_MAX_ROWS,
    DESCRIBE_FEATURES,
    DESCRIBE_MAX_ROWS,
    ENV_BATCH_BUCKET,
    ENV_MAX_ROWS,
    ENV_MODEL_BUCKET,
    ENV_MODEL_KEY,
    ENV_MODEL_REFRESH_SECONDS,
    ENV_MODEL_SHA256,
    ENV_MODEL_VERSION,
    ENV_SIGNING_KEY,
    ENV_STAGE,
    ERROR_DETAILS,
    ERROR_MESSAGE,
    ERROR_TYPE,
    EVENT_DESCRIBE,
    EVENT_REALTIME,
    EVENT_SLICE,
    INVALID_REQUESTS_METRIC,
    NO_MODEL,
    PROBLEM_MISSING,
    REALTIME_LATENCY_METRIC,
    REFUSED_WORK_ITEMS_METRIC,
    SLICE_FAILED,
    SLICE_ROWS,
    SLICE_SUCCEEDED,
    VERSION_DIMENSIONS,
    WORK_ITEM_REFUSED,
    RunTicket,
    drift_key,
)
from reintento_function.drift_metrics import DriftTally
from reintento_function.inference_core import (
    Problem,
    accepted_input,
    invalid_input,
    loads_strict,
    predict_request,
)
from reintento_function.inference_errors import (
    BatchSliceError,
    InferenceServiceError,
    InternalError,
    ModelUnavailableError,
)
from reintento_function.model_loader import LoadedModel, ModelCache, ModelStore
from reintento_function.signatures import KmsVerifier
from reintento_function.work_items import WorkItemRefusedError, admit, read_ticket

# service and namespace come from the environment the stack sets (POWERTOOLS_SERVICE_NAME,
# POWERTOOLS_METRICS_NAMESPACE)
logger = Logger()
metrics = Metrics()
# a call that adds no metric (a describe-model question) flushes nothing: Powertools would say
# so in a warning line on every such call, which is noise in the function's log
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

_state: dict[str, Any] = {}


def _client(service: str) -> Any:
    if service not in _state:
        config = Config(
            connect_timeout=2, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"}
        )
        _state[service] = boto3.client(service, config=config)
    return _state[service]


def _s3() -> Any:
    return _client("s3")


def _cache() -> ModelCache:
    cache = _state.get("cache")
    if cache is None:
        bucket, key = os.environ.get(ENV_MODEL_BUCKET), os.environ.get(ENV_MODEL_KEY)
        signing_key = os.environ.get(ENV_SIGNING_KEY)
        if not bucket or not key or not signing_key:
            raise ModelUnavailableError(
                f"{ENV_MODEL_BUCKET}, {ENV_MODEL_KEY} and {ENV_SIGNING_KEY} must be set in the "
                "function's environment; deploy the stack with `python -m ops deploy`"
            )
        refresh = float(os.environ.get(ENV_MODEL_REFRESH_SECONDS, "60"))
        cache = ModelCache(
            ModelStore(
                _s3(),
                bucket,
                key,
                verify=KmsVerifier(_client("kms"), signing_key),
                stage=os.environ.get(ENV_STAGE, ""),
            ),
            refresh,
            on_error=lambda err: logger.warning("model refresh failed", error=str(err)),
            pinned_version=os.environ.get(ENV_MODEL_VERSION) or None,
            pinned_sha256=os.environ.get(ENV_MODEL_SHA256) or None,
        )
        _state["cache"] = cache
    return cache


def _model(force_check: bool = False) -> LoadedModel:
    model, loaded_now = _cache().get(force_check)
    if loaded_now:
        gc.collect()
        gc.freeze()  # the model's objects are long-lived: keep them out of later GC passes
        metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=model.load_ms)
        # which libraries this environment has imported: none of scikit-learn's when the
        # compiled engine serves (no pickle is read then)
        imported = [m for m in ("sklearn", "scipy", "pandas", "joblib") if m in sys.modules]
        logger.info(
            "model loaded",
            model=model.describe(),
            load_ms=round(model.load_ms, 1),
            imported=imported,
        )
    return model


def _max_rows() -> int:
    return int(os.environ.get(ENV_MAX_ROWS, str(DEFAULT_MAX_ROWS)))


def _realtime(event: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        return _answer_realtime(event)
    finally:
        _count_latency((time.perf_counter() - started) * 1000)


def _count_latency(ms: float) -> None:
    """A realtime request's handler time under the function's own dimensions (the latency
    alarm's metric, ``REALTIME_LATENCY_METRIC``)."""
    (dimension,) = ALARM_DIMENSIONS
    with single_metric(
        name=REALTIME_LATENCY_METRIC, unit=MetricUnit.Milliseconds, value=round(ms, 3)
    ) as metric:
        metric.add_dimension(name=dimension, value=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))


def _answer_realtime(event: Any) -> dict[str, Any]:
    model = _model()
    if isinstance(event, Mapping) and "body" in event and EVENT_REALTIME not in event:
        event = event["body"]
    if isinstance(event, str | bytes):
        try:
            event = loads_strict(event)
        except ValueError as err:
            return invalid_input(model.schema, f"the request body is not valid JSON: {err}")
    if not isinstance(event, Mapping) or EVENT_REALTIME not in event:
        answer = invalid_input(
            model.schema,
            f'the request must be a JSON object {{"{EVENT_REALTIME}": [row, ...]}}',
            [Problem(None, EVENT_REALTIME, PROBLEM_MISSING)],
        )
    else:
        tally = _tally(model)
        answer = predict_request(
            model.estimator,
            model.schema,
            event[EVENT_REALTIME],
            _max_rows(),
            tally.seen if tally else None,
        )
        _published(tally)
    answer[ANSWER_MODEL] = model.describe()
    if ANSWER_ERROR in answer:
        metrics.add_metric(name=INVALID_REQUESTS_METRIC, unit=MetricUnit.Count, value=1)
        _count_refusal()
        logger.info("invalid request", problems=len(answer[ANSWER_ERROR][ERROR_DETAILS]))
    else:
        rows = len(answer[ANSWER_PREDICTIONS])
        metrics.add_metric(name="RowsPredicted", unit=MetricUnit.Count, value=rows)
        logger.info("predicted", rows=rows, model_version=model.version_id)
    return answer


def _count_refusal() -> None:
    """One more invalid request under this function version's dimensions (a rollout compares
    versions) and under the function's own, whatever version answered (the stage's alarm)."""
    values = (
        os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", ""),
    )
    for dimensions in (VERSION_DIMENSIONS, ALARM_DIMENSIONS):
        with single_metric(name=INVALID_REQUESTS_METRIC, unit=MetricUnit.Count, value=1) as metric:
            for dimension, value in zip(dimensions, values, strict=False):
                metric.add_dimension(name=dimension, value=value)


def _tally(model: LoadedModel, *, with_histograms: bool = False) -> DriftTally | None:
    """A call's drift tally, for a model whose signed manifest has a profile (drift_metrics.py);
    None for one without."""
    if model.profile is None:
        return None
    return DriftTally(model.profile, with_histograms=with_histograms)


def _published(tally: DriftTally | None) -> None:
    """A call's drift counts, published once its answer is made (or written, for a slice)."""
    if tally is None:
        return
    if tally.error is not None:
        logger.warning("drift not counted", error=type(tally.error).__name__)
        return
    tally.publish()


def _write_histograms(ref: SliceRef, histograms: dict[str, Any]) -> None:
    """The slice's histograms beside its results (ops compares the whole batch with the
    profile from them); a transient S3 failure retries the slice, as for its results."""
    key = drift_key(ref.output_key)
    with store_errors(f"write s3://{ref.bucket}/{key}"):
        _s3().put_object(
            Bucket=ref.bucket,
            Key=key,
            Body=json.dumps(histograms, separators=(",", ":")).encode(),
            ContentType="application/json",
        )


def _batch_slice(item: Any) -> dict[str, Any]:
    try:
        ref = SliceRef.from_event(item, os.environ.get(ENV_BATCH_BUCKET))
        ticket = read_ticket(_ticket_reader(ref.bucket), _verifier(), ref.run_id, _tickets())
        admit(ticket, ref, os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", ""))
    except (BatchSliceError, WorkItemRefusedError) as refused:
        return _refused_work_item(refused)
    model = _model()
    tally = _tally(model, with_histograms=True)
    result = run_slice(_s3(), ref, model, tally.seen if tally else None)
    if tally is not None and tally.histograms is not None:
        _write_histograms(ref, tally.histograms)
    _published(tally)
    metrics.add_metric(
        name="BatchRowsPredicted", unit=MetricUnit.Count, value=result[SLICE_SUCCEEDED]
    )
    metrics.add_metric(name="BatchRowsFailed", unit=MetricUnit.Count, value=result[SLICE_FAILED])
    logger.info(
        BATCH_SLICE_LOG_MESSAGE,
        rows=result[SLICE_ROWS],
        failed=result[SLICE_FAILED],
        key=ref.input_key,
    )
    return result


def _refused_work_item(refused: Exception) -> dict[str, Any]:
    """A work item that is not one of a signed run's slices, answered as data (a function
    error would count in the errors alarm and in a canary's error guardrail: anyone who may
    invoke could trip them) and counted under its own metric. The message names the field,
    never echoes its value."""
    metrics.add_metric(name=REFUSED_WORK_ITEMS_METRIC, unit=MetricUnit.Count, value=1)
    logger.warning("work item refused", reason=str(refused))
    return {
        ANSWER_ERROR: {ERROR_TYPE: WORK_ITEM_REFUSED, ERROR_MESSAGE: str(refused)},
        SLICE_ROWS: 0,
        SLICE_FAILED: 0,
    }


def _tickets() -> dict[str, RunTicket]:
    tickets: dict[str, RunTicket] = _state.setdefault("tickets", {})
    return tickets


def _verifier() -> KmsVerifier:
    signing_key = os.environ.get(ENV_SIGNING_KEY)
    if not signing_key:
        raise WorkItemRefusedError(f"the function has no {ENV_SIGNING_KEY}; deploy the stack again")
    return KmsVerifier(_client("kms"), signing_key)


def _ticket_reader(bucket: str) -> Callable[[str], bytes]:
    def read(key: str) -> bytes:
        try:
            with store_errors(f"read s3://{bucket}/{key}"):
                return bytes(_s3().get_object(Bucket=bucket, Key=key)["Body"].read())
        except BatchSliceError as err:  # missing or denied: no run ops started
            raise WorkItemRefusedError("the run has no ticket: ops did not start it") from err

    return read


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
        try:
            return _dispatch(event)
        except InferenceServiceError:
            raise
        except Exception:
            logger.exception("unexpected error")
            metrics.add_metric(name="InternalErrors", unit=MetricUnit.Count, value=1)
            request = getattr(context, "aws_request_id", "unknown")
            raise InternalError(
                f"the function failed unexpectedly; its log has the details under request {request}"
            ) from None


def _describe(_: Any) -> dict[str, Any]:
    try:
        model = _model(force_check=True)
    except ModelUnavailableError as err:
        if not err.missing:
            raise
        # a fresh deploy asked which model it serves: an answer, not a fault (which would
        # count in the errors alarm)
        return {
            ANSWER_MODEL: None,
            NO_MODEL: str(err),
            DESCRIBE_FEATURES: [],
            ANSWER_CLASSES: None,
            DESCRIBE_MAX_ROWS: _max_rows(),
        }
    classes = model.schema.classes
    return {
        ANSWER_MODEL: model.describe(),
        DESCRIBE_FEATURES: accepted_input(model.schema),
        ANSWER_CLASSES: list(classes) if classes is not None else None,
        DESCRIBE_MAX_ROWS: _max_rows(),
    }


# event kind (the event's top-level key, lambda/contract.py) -> what answers it; anything else
# is a realtime request (an API-style {"body": ...} included)
HANDLERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    EVENT_SLICE: _batch_slice,
    EVENT_DESCRIBE: _describe,
}


def _dispatch(event: Any) -> dict[str, Any]:
    if isinstance(event, Mapping):
        for kind, answer in HANDLERS.items():
            if kind in event:
                return answer(event[kind])
    return _realtime(event)


def _init_phase() -> None:
    """Lambda's Init phase (the module's import in a new execution environment): load the
    pinned model now, so its fetch, signature check and unpickling count in Init Duration and
    not in the first call's Duration, the figure a rollout's p99 guardrail judges ("Function
    init" in https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html; an
    Init over 10 s is retried within the first call, as any init is). A failure here is logged
    only: the first call loads again and answers the error as usual."""
    if not os.environ.get("AWS_LAMBDA_RUNTIME_API") or not os.environ.get(ENV_MODEL_VERSION):
        return  # not in Lambda (tests import this module), or nothing pinned to load
    try:
        _model()
    except Exception as err:  # the first call answers it, typed
        logger.warning("model not loaded during init", error=str(err))


_init_phase()
