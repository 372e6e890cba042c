"""What the local target's parser sees of a Distributed Map
(local_target/reintento_local/distributed_map.py)."""

from __future__ import annotations

import json

import pytest

from reintento_local.distributed_map import normalized

pytestmark = pytest.mark.unit


def _definition(execution_type: str, tolerated: object) -> str:
    return json.dumps(
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "End": True,
                    "ToleratedFailurePercentage": tolerated,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                        "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "End": True}},
                    },
                }
            },
        }
    )


def test_express_children_and_an_integer_percentage_reach_moto_in_its_grammar() -> None:
    state = json.loads(normalized(_definition("EXPRESS", 100)))["States"]["M"]
    assert state["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    assert state["ToleratedFailurePercentage"] == 100.0
    assert isinstance(state["ToleratedFailurePercentage"], float)


def test_what_aws_refuses_is_left_for_moto_to_refuse() -> None:
    for given in (_definition("EXPRESS_TURBO", 100), _definition("STANDARD", 150)):
        state = json.loads(normalized(given))["States"]["M"]
        original = json.loads(given)["States"]["M"]
        assert (
            state["ItemProcessor"]["ProcessorConfig"]["ExecutionType"]
            == (original["ItemProcessor"]["ProcessorConfig"]["ExecutionType"])
        )
        assert state["ToleratedFailurePercentage"] == original["ToleratedFailurePercentage"]
    assert normalized("{not json") == "{not json"
    plain = _definition("STANDARD", 50.0)
    assert normalized(plain) == plain  # nothing to change: the very same text
