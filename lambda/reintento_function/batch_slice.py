"""One batch work item: read a slice from S3, predict it, write one result per row.

A slice is Parquet (the columnar path, ``columnar_slice``) or JSON lines (rows checked one by
one, below); its results are written in the same format.
Event: ``{"batch_slice": {"bucket", "input_key", "output_key", "first_row", "rows",
"probabilities"}}``. The
function trusts no caller-supplied location: the bucket must be its own batch bucket (from its
environment) and both keys must be well-formed slice keys of the same run
(``batch/<run id>/input/...`` and ``batch/<run id>/output/...``, ``contract.parse_batch_key``).
Every input line yields exactly one output line (``{"row": n, "prediction": ...}`` or
``{"row": n, "error": {...}}``), so no row is lost even when some are invalid. The answer to the
state machine is the slice's counts; the output object's metadata names the model version.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from reintento_function import contract
from reintento_function.contract import (
    RESULT_ERROR_TYPE,
    RESULT_FAILED_METADATA,
    RESULT_MODEL_METADATA,
    RESULT_ROWS_METADATA,
    parse_batch_key,
)
from reintento_function.inference_core import (
    ModelSchema,
    Seen,
    loads_strict,
    predict_records,
)
from reintento_function.inference_errors import BatchSliceError, BatchStoreUnreachableError
from reintento_function.model_loader import LoadedModel


@dataclass(frozen=True)
class SliceRef:
    """Where a work item's rows are and where its results go."""

    bucket: str
    input_key: str
    output_key: str
    first_row: int
    probabilities: bool = True

    @property
    def run_id(self) -> str:
        """The run the work item belongs to (its keys were checked to name one run)."""
        return self.input_key.split("/")[1]

    @classmethod
    def from_event(cls, item: Any, batch_bucket: str | None) -> SliceRef:
        """A work item of this function's own batch bucket and one run, or ``BatchSliceError``
        (which names the field, never echoes its value)."""
        if not isinstance(item, Mapping):
            raise BatchSliceError("batch_slice must be an object with bucket/input_key/output_key")
        bucket, input_key, output_key = (
            item.get(k)
            for k in (contract.SLICE_BUCKET, contract.SLICE_INPUT_KEY, contract.SLICE_OUTPUT_KEY)
        )
        first_row = item.get(contract.SLICE_FIRST_ROW, 0)
        probabilities = item.get(contract.SLICE_PROBABILITIES, True)
        if not batch_bucket:
            raise BatchSliceError("the function has no BATCH_BUCKET; deploy the stack again")
        if bucket != batch_bucket:
            raise BatchSliceError("batch_slice.bucket is not this function's batch bucket")
        if not isinstance(input_key, str) or not isinstance(output_key, str):
            raise BatchSliceError("batch_slice.input_key and .output_key must be strings")
        source, target = parse_batch_key(input_key), parse_batch_key(output_key)
        if source is None or source[1] != "input":
            raise BatchSliceError(
                "batch_slice.input_key is not batch/<run id>/input/part-N.parquet (or .jsonl)"
            )
        if target is None or target[1] != "output":
            raise BatchSliceError(
                "batch_slice.output_key is not batch/<run id>/output/part-N.parquet (or .jsonl)"
            )
        if source[0] != target[0]:
            raise BatchSliceError("batch_slice input and output keys belong to different runs")
        if _format(input_key) != _format(output_key):
            raise BatchSliceError("batch_slice input and output keys have different formats")
        if type(first_row) is not int or not 0 <= first_row < 10**12:
            raise BatchSliceError("batch_slice.first_row must be a whole number >= 0")
        if type(probabilities) is not bool:
            raise BatchSliceError("batch_slice.probabilities must be true or false")
        return cls(bucket, input_key, output_key, first_row, probabilities)


def _format(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def parse_lines(text: str) -> list[Any]:
    """One element per non-empty line; a line that is not JSON becomes a marker the core refuses."""
    rows: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rows.append(loads_strict(line))
        except ValueError as err:
            rows.append(_Unparsable(str(err)))
    return rows


class _Unparsable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def predict_lines(
    text: str, estimator: Any, schema: ModelSchema, first_row: int, seen: Seen | None = None
) -> list[dict[str, Any]]:
    """One record per non-empty line, in order: a prediction, or an error (bad row or not JSON)."""
    rows = parse_lines(text)
    parsable = [r for r in rows if not isinstance(r, _Unparsable)]
    predicted = iter(predict_records(estimator, schema, parsable, 0, seen))
    records: list[dict[str, Any]] = []
    for offset, row in enumerate(rows):
        if isinstance(row, _Unparsable):
            problem = {
                contract.DETAIL_FIELD: None,
                contract.DETAIL_PROBLEM: f"not JSON: {row.reason}",
            }
            record: dict[str, Any] = {
                contract.ANSWER_ERROR: {
                    contract.ERROR_TYPE: contract.INVALID_INPUT,
                    contract.ERROR_DETAILS: [problem],
                }
            }
        else:
            record = next(predicted)
        record[contract.RESULT_ROW] = first_row + offset
        records.append(record)
    return records


# S3's transient answers: a 5xx (InternalError 500, ServiceUnavailable and SlowDown 503),
# a request timeout, throttling (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
# and the SDKs' retry behavior, https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html),
# and a dropped or refused connection; a missing object or a denial is not transient
_TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
)
# a connection refused, dropped or timed out, before or while the body streams (botocore's
# ConnectionError and HTTPClientError families: EndpointConnectionError, SSLError,
# ConnectionClosedError, ReadTimeoutError, ResponseStreamingError, ...; and a short body)
_NETWORK_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """S3 failures while a slice is read or written: transient ones raise
    ``BatchStoreUnreachableError`` (the state machine retries), the rest ``BatchSliceError``."""
    try:
        yield
    except _NETWORK_ERRORS as err:
        raise BatchStoreUnreachableError(
            f"cannot {what}: S3 unreachable ({type(err).__name__}); the batch retries it"
        ) from err
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status >= 500 or code in _TRANSIENT_CODES:
            raise BatchStoreUnreachableError(
                f"cannot {what}: S3 answered {code or status}; the batch retries it"
            ) from err
        raise BatchSliceError(f"cannot {what}: {err}") from err


def run_slice(
    s3: Any, ref: SliceRef, model: LoadedModel, seen: Seen | None = None
) -> dict[str, Any]:
    """Predict one slice and write its results; return the counts. ``seen`` is shown the valid
    rows, by column."""
    with store_errors(f"read s3://{ref.bucket}/{ref.input_key}"):
        body = s3.get_object(Bucket=ref.bucket, Key=ref.input_key)["Body"].read()
    if _format(ref.input_key) == "parquet":
        # pyarrow only for a columnar slice (a JSON-lines one, realtime: no); pandas only for
        # the scikit-learn engine's frame
        from reintento_function.columnar_slice import predict_frame, read_table, write_table

        table = read_table(body, pandas_free=model.engine == contract.ENGINE_ONNX)
        results = predict_frame(
            model.estimator, model.schema, table, ref.first_row, ref.probabilities, seen
        )
        rows = results.num_rows
        failed = rows - results.column(RESULT_ERROR_TYPE).null_count
        output, content_type = write_table(results), "application/vnd.apache.parquet"
    else:
        text = body.decode("utf-8", errors="replace")
        records = predict_lines(text, model.estimator, model.schema, ref.first_row, seen)
        if not ref.probabilities:
            for record in records:
                record.pop(contract.ANSWER_PROBABILITIES, None)
        rows, failed = len(records), sum(1 for r in records if contract.ANSWER_ERROR in r)
        lines = [json.dumps(r, separators=(",", ":")) for r in records]
        output, content_type = ("\n".join(lines) + "\n").encode(), "application/x-ndjson"
    with store_errors(f"write s3://{ref.bucket}/{ref.output_key}"):
        s3.put_object(
            Bucket=ref.bucket,
            Key=ref.output_key,
            Body=output,
            ContentType=content_type,
            # which model predicted these rows (ops checks the batch ran on one version), and
            # the counts (a batch whose results stay in S3 is counted from these alone)
            Metadata={
                RESULT_MODEL_METADATA: model.version_id or "null",
                RESULT_ROWS_METADATA: str(rows),
                RESULT_FAILED_METADATA: str(failed),
            },
        )
    return {
        contract.SLICE_INPUT_KEY: ref.input_key,
        contract.SLICE_OUTPUT_KEY: ref.output_key,
        contract.SLICE_FIRST_ROW: ref.first_row,
        contract.SLICE_ROWS: rows,
        contract.SLICE_SUCCEEDED: rows - failed,
        contract.SLICE_FAILED: failed,
        contract.ANSWER_MODEL: model.describe(),
    }
