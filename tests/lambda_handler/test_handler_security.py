"""Security findings reproduced against the handler: an unsigned model is never unpickled, a
work item cannot leave its run, and client input never raises (SECURITY.md)."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from ops.modelfiles.demo_model import sample_rows
from reintento_function.contract import parse_batch_key
from reintento_function.inference_errors import BatchSliceError, ModelIntegrityError
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
    # WHEN the function gets it THEN it is refused before any S3 call, echoing no value
    with pytest.raises(BatchSliceError, match=match) as caught:
        handler_env.handler({"batch_slice": item}, Context())
    assert "MODEL_BUCKET_OF_ANOTHER_STACK" not in str(caught.value)


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
