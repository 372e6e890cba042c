"""One contract between the function, ops and the stacks: a rename breaks this test, not
production (like the version-pin test)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import ops
import reintento_function.contract as function_contract
from infra import names
from infra.settings import StackSettings
from ops.aws import outputs
from ops.modelfiles.versions import PROJECT_ROOT
from ops.service import function
from reintento_function import inference_errors
from reintento_local import lambda_runtime


def test_ops_and_infra_import_the_functions_own_contract_module() -> None:
    # one module object on all three sides: imported, never loaded by path or copied
    from ops.service import function as ops_function
    from ops.service import live_model

    for side in (names, ops_function, live_model):
        assert side.contract is function_contract, side.__name__
    assert Path(function_contract.__file__).parent.name == "reintento_function"
    for folder in ("ops", "infra"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            if "cdk.out" in path.parts:
                continue
            assert "spec_from_file_location" not in path.read_text(), path


def test_the_retried_errors_are_exactly_the_functions_transient_classes() -> None:
    classes = {
        cls.__name__: cls
        for _, cls in inspect.getmembers(inference_errors, inspect.isclass)
        if issubclass(cls, inference_errors.InferenceServiceError)
        and cls is not inference_errors.InferenceServiceError
    }
    transient = {name for name, cls in classes.items() if cls.transient}
    permanent = set(classes) - transient
    assert set(function_contract.TRANSIENT_ERROR_TYPES) == transient
    assert set(function_contract.PERMANENT_ERROR_TYPES) == permanent
    # the state machine retries the platform's errors and the function's transient ones only
    own = {
        e for e in names.TRANSIENT_ERRORS if not e.startswith(("Lambda.", "Sandbox.", "Runtime."))
    }
    assert own == transient
    assert set(names.PERMANENT_ERRORS) == permanent
    assert function_contract.MODEL_UNAVAILABLE in classes


def test_stack_names_are_built_once() -> None:
    for stage in ("dev", "prod-2"):
        built = StackSettings(stage=stage, stack_prefix="P")
        used = ops.Settings(stage=stage, stack_prefix="P")
        assert (built.model_stack_name, built.service_stack_name) == (
            used.model_stack_name,
            used.service_stack_name,
        )


def test_output_keys_ops_reads_are_the_ones_the_stacks_write() -> None:
    written = {v for k, v in vars(names).items() if k.startswith("OUT_")}
    read = set(outputs.OUTPUT_KEYS.values())
    assert read <= written and {names.OUT_MODEL_BUCKET, names.OUT_SIGNING_KEY} <= read


def test_limits_agree() -> None:
    assert StackSettings().max_rows == function_contract.DEFAULT_MAX_ROWS
    # the 6 MB synchronous invoke limit: checked by ops, emulated by the local target
    assert function.SYNC_PAYLOAD_LIMIT == lambda_runtime.SYNC_PAYLOAD_LIMIT == 6 * 1024 * 1024


def test_the_batch_layout_matches_its_iam_patterns() -> None:
    key = function_contract.batch_key("20261128T120000-0123abcd", "input", 7)
    assert function_contract.parse_batch_key(key) == ("20261128T120000-0123abcd", "input")
    pattern = (
        "^" + re.escape(names.BATCH_INPUT_PATTERN).replace(r"\?", ".").replace(r"\*", ".*") + "$"
    )
    assert re.match(pattern, key)
    assert not re.match(pattern, key.replace("/input/", "/output/"))
    # both slice formats, nothing else
    for slice_format in function_contract.SLICE_FORMATS:
        key = function_contract.batch_key("20261128T120000-0123abcd", "output", 7, slice_format)
        assert function_contract.parse_batch_key(key) == ("20261128T120000-0123abcd", "output")
    assert function_contract.parse_batch_key(key.replace(".jsonl", ".csv")) is None


def test_the_manifest_item_has_every_field_the_state_machine_passes_to_the_function() -> None:
    # the Distributed Map's ItemSelector reads these from each manifest item; a field the
    # manifest lacks fails the execution on AWS (a JSONPath that matches nothing)
    from ops.inputs.batch_io import plan_slices

    item = plan_slices(10, "20261128T120000-0123abcd", 5)[0].as_item()
    assert set(function_contract.SLICE_FIELDS) <= set(item)
    assert "failure_key" in item  # the state machine records a failed slice's error there


@pytest.mark.parametrize(
    "call",
    [
        lambda: ops.predict([], stge="prod"),
        lambda: ops.deploy(stage="prod"),
        lambda: ops.upload_model("m.pkl", stage="prod"),
        lambda: ops.run_batch([], stage="prod"),
        lambda: ops.teardown("x", stage="prod"),
        lambda: ops.status(target="aws"),
        lambda: ops.logs(3600, stage="prod"),
        lambda: ops.list_models(ops.Settings()),
    ],
)
def test_a_misspelled_or_unknown_argument_is_a_type_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError):
        call()
