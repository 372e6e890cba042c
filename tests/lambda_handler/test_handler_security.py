"""Security findings reproduced against the handler: an unsigned model is never unpickled, a
work item cannot leave its run, and client input never raises (SECURITY.md)."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from ops.modelfiles.demo_model import sample_rows
from reintento_function.contract import parse_batch_key
from reintento_function.inference_errors import ModelIntegrityError
from tests.lambda_handler.conftest import Context, ModelBucket, new_signing_key


class _LeavesAMark:
    """A pickle that runs code when loaded: it creates a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (Path.touch, (self.path,))


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[bytes, Path]:
    mark = tmp_path / "code-ran"
    return pickle.dumps(_LeavesAMark(mark)), mark


def test_unsigned_model_with_valid_metadata_is_refused_before_unpickling(
    handler_env: Any, model_bucket: ModelBucket, crafted: tuple[bytes, Path]
) -> None:
    # GIVEN a crafted pickle written with a correct sha256 and version, but no signature
    body, mark = crafted
    model_bucket.put(body, signature=None)
    # WHEN the function loads the model THEN it refuses it and the pickle never ran
    with pytest.raises(ModelIntegrityError, match="not signed by the deployer"):
        handler_env.handler({"instances": sample_rows(1)}, Context())
    assert not mark.exists()


def test_model_signed_by_another_key_is_refused_before_unpickling(
    handler_env: Any, model_bucket: ModelBucket, crafted: tuple[bytes, Path]
) -> None:
    # GIVEN a crafted pickle signed with a key that is not the deployer's
    body, mark = crafted
    other_key = new_signing_key(model_bucket.kms)
    sha = hashlib.sha256(body).hexdigest()
    import sklearn

    signature = model_bucket.sign(sha, sklearn.__version__, key_id=other_key)
    model_bucket.put(body, signature=signature)
    # THEN it is refused and never unpickled
    with pytest.raises(ModelIntegrityError, match="signature is not valid"):
        handler_env.handler({"instances": sample_rows(1)}, Context())
    assert not mark.exists()


def test_replaced_bytes_under_a_copied_signature_are_refused_before_unpickling(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes, crafted: tuple[bytes, Path]
) -> None:
    # GIVEN the metadata and signature of a genuine model copied onto a crafted pickle
    body, mark = crafted
    import sklearn

    genuine = hashlib.sha256(demo_bytes).hexdigest()
    signature = model_bucket.sign(genuine, sklearn.__version__)
    model_bucket.put(body, sha256=genuine, signature=signature)
    # THEN the bytes' sha256 differs from the signed one: refused, never unpickled
    with pytest.raises(ModelIntegrityError, match="does not match"):
        handler_env.handler({"instances": sample_rows(1)}, Context())
    assert not mark.exists()


def test_a_signed_model_is_served(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes
) -> None:
    # the same call succeeds where AWS would allow it: the deployer's signature
    version = model_bucket.put(demo_bytes)
    answer = handler_env.handler({"instances": sample_rows(2)}, Context())
    assert answer["model"]["version_id"] == version and len(answer["predictions"]) == 2


BOUND = {"uploaded-at": "2026-12-05T06:00:00Z", "serial": "7", "stage": "test"}


def test_the_signature_binds_the_upload_time_the_serial_and_the_stage(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes
) -> None:
    """#35 finding 1: the signed message bound only key, sha256 and scikit-learn version, so a
    bucket writer could copy an old signed model as the newest, under another time or serial."""
    # GIVEN a model signed with its upload time, serial and stage, as upload-model signs it
    version = model_bucket.put(demo_bytes, bound=BOUND)
    answer = handler_env.handler({"instances": sample_rows(1)}, Context())
    assert answer["model"]["version_id"] == version
    # WHEN a bucket writer copies it with its time, serial or stage changed
    for change in ({"serial": "99"}, {"uploaded-at": "2099-01-01T00:00:00Z"}, {"stage": "x"}):
        head = model_bucket.s3.head_object(
            Bucket=model_bucket.bucket, Key=model_bucket.key, VersionId=version
        )
        model_bucket.s3.copy_object(
            Bucket=model_bucket.bucket,
            Key=model_bucket.key,
            CopySource={
                "Bucket": model_bucket.bucket,
                "Key": model_bucket.key,
                "VersionId": version,
            },
            Metadata={**head["Metadata"], **change},
            MetadataDirective="REPLACE",
        )
        handler_env._state.clear()
        # THEN the copy's signature no longer verifies: refused, never loaded
        with pytest.raises(ModelIntegrityError, match="signature is not valid"):
            handler_env.handler({"instances": sample_rows(1)}, Context())


def test_a_model_signed_for_another_stage_is_refused(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes
) -> None:
    # GIVEN a genuine signature, for another stage than the function's (MODEL_STAGE "test")
    model_bucket.put(demo_bytes, bound={**BOUND, "stage": "prod"})
    # THEN this stage's function refuses it, saying which stage it was signed for
    with pytest.raises(ModelIntegrityError, match="signed for stage prod"):
        handler_env.handler({"instances": sample_rows(1)}, Context())


RUN = "20261128T120000-0123abcd"
OTHER = "20261128T120001-89abcdef"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"bucket": "MODEL_BUCKET_OF_ANOTHER_STACK"}, "not this function's batch bucket"),
        ({"input_key": f"batch/{OTHER}/input/part-000000000.jsonl"}, "different runs"),
        ({"output_key": f"batch/{OTHER}/output/part-000000000.jsonl"}, "different runs"),
        ({"input_key": "batch/a/output/b/input/c"}, "input_key is not"),
        ({"output_key": f"batch/{RUN}/input/part-000000000.jsonl"}, "output_key is not"),
        ({"input_key": "models/mejor_modelo.pkl"}, "input_key is not"),
        ({"input_key": f"batch/{RUN}/input/../../x"}, "input_key is not"),
        ({"first_row": "12"}, "first_row"),
        ({"first_row": -1}, "first_row"),
        ({"probabilities": "no"}, "probabilities must be true or false"),
        (
            {"output_key": f"batch/{RUN}/output/part-000000000.parquet"},
            "different formats",
        ),
    ],
)
def test_a_work_item_outside_its_run_is_refused(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes, change: Any, match: str
) -> None:
    # GIVEN a well-formed work item of one run, changed to point elsewhere
    model_bucket.put(demo_bytes)
    item = {
        "bucket": model_bucket.bucket,
        "input_key": f"batch/{RUN}/input/part-000000000.jsonl",
        "output_key": f"batch/{RUN}/output/part-000000000.jsonl",
        "first_row": 0,
        "rows": 1,
        **change,
    }
    # WHEN the function gets it THEN it is refused before any S3 call, echoing no value, and
    # answered as data: a function error would count in the errors alarm
    answer = handler_env.handler({"batch_slice": item}, Context())
    assert answer["error"]["type"] == "WorkItemRefused"
    assert (answer["rows"], answer["failed"]) == (0, 0)
    assert re.search(match, answer["error"]["message"])
    assert "MODEL_BUCKET_OF_ANOTHER_STACK" not in json.dumps(answer)


@pytest.mark.parametrize(
    ("ticket", "change", "match"),
    [
        ({}, {"probabilities": False}, "probabilities is not the run's"),
        ({}, {"first_row": 10}, "first_row"),
        ({}, {"first_row": 40}, "first_row"),
        ({"function_version": "7"}, {}, "started on function version 7"),
        ({"slice_format": "parquet"}, {}, "input_key is not the run's"),
        (None, {}, "no ticket"),
        ("other key", {}, "not signed by the deployer's key"),
    ],
)
def test_a_work_item_that_is_not_one_of_a_signed_runs_slices_is_refused(
    handler_env: Any,
    model_bucket: ModelBucket,
    demo_bytes: bytes,
    ticket: Any,
    change: dict[str, Any],
    match: str,
) -> None:
    # GIVEN a run of 40 rows in slices of 20 that ops started (its signed ticket), its first
    # slice's rows in the bucket
    model_bucket.put(demo_bytes)
    s3 = model_bucket.s3
    rows = "\n".join(json.dumps(r) for r in sample_rows(20))
    s3.put_object(
        Bucket=model_bucket.bucket, Key=f"batch/{RUN}/input/part-000000000.jsonl", Body=rows
    )
    if ticket == "other key":  # signed, but not by the deployer's key
        mine = model_bucket.signing_key
        model_bucket.signing_key = new_signing_key(model_bucket.kms)
        model_bucket.ticket(RUN, rows=40, slice_rows=20)
        model_bucket.signing_key = mine
    elif ticket is not None:
        model_bucket.ticket(RUN, rows=40, slice_rows=20, **ticket)
    item = {
        "bucket": model_bucket.bucket,
        "input_key": f"batch/{RUN}/input/part-000000000.jsonl",
        "output_key": f"batch/{RUN}/output/part-000000000.jsonl",
        "first_row": 0,
        "rows": 20,
        "probabilities": True,
    }
    # WHEN a work item that is not exactly one of its slices (or of no signed run) arrives
    answer = handler_env.handler({"batch_slice": item | change}, Context())
    # THEN it is refused as data, and nothing is written
    assert answer["error"]["type"] == "WorkItemRefused", answer
    assert re.search(match, answer["error"]["message"]), answer
    listed = s3.list_objects_v2(Bucket=model_bucket.bucket, Prefix=f"batch/{RUN}/output/")
    assert listed.get("KeyCount", 0) == 0
    # AND the run's own item is predicted
    if ticket == {}:
        done = handler_env.handler({"batch_slice": item}, Context())
        assert (done["rows"], done["failed"]) == (20, 0)


def test_input_and_output_key_patterns_cannot_overlap() -> None:
    # the review's key matched both IAM patterns; the layout now parses one way only
    assert parse_batch_key("batch/a/output/b/input/c") is None
    assert parse_batch_key(f"batch/{RUN}/input/part-000000000.jsonl") == (RUN, "input")
    from infra import names

    input_pattern, output_pattern = names.BATCH_INPUT_PATTERN, names.BATCH_OUTPUT_PATTERN
    prefix = len("batch/") + len(RUN) + 1
    assert input_pattern[prefix:].startswith("input/") and output_pattern[prefix:].startswith(
        "output/"
    )
    assert "*" not in input_pattern[:prefix] and "*" not in output_pattern[:prefix]


def test_the_reviews_inputs_are_answered_not_raised(
    handler_env: Any, model_bucket: ModelBucket, demo_bytes: bytes
) -> None:
    model_bucket.put(demo_bytes)
    # a 400-digit integer (was OverflowError)
    row = {**sample_rows(1)[0], "latencia_ms": 10**400}
    answer = handler_env.handler({"instances": [row]}, Context())
    assert answer["error"]["details"][0]["field"] == "latencia_ms"
    assert "digits" in answer["error"]["details"][0]["problem"]
    # a deeply nested body (was RecursionError)
    answer = handler_env.handler({"body": "[" * 100_000 + "]" * 100_000}, Context())
    assert answer["error"]["type"] == "InvalidInput" and "nested" in answer["error"]["message"]
    json.dumps(answer)
