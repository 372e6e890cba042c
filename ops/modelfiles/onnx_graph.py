"""A small ONNX graph builder: named constants, one-output nodes, and the model they make.

Double precision throughout (``tensor(double)``): the compiled engine must compute what
scikit-learn computes in float64. The operator sets are ONNX's default domain at opset 21 and
``ai.onnx.ml`` at 5, whose ``TreeEnsemble`` takes double thresholds and leaf weights
(https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsemble.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 21
ML_OPSET = 5
ML_DOMAIN = "ai.onnx.ml"
DOUBLE = TensorProto.DOUBLE
FLOAT = TensorProto.FLOAT
STRING = TensorProto.STRING
INT64 = TensorProto.INT64
BOOL = TensorProto.BOOL


def tensor_type(values: Any) -> int:
    """The ONNX element type of a NumPy array's values (labels: strings, integers or floats)."""
    kind = np.asarray(values).dtype.kind
    if kind in "OUS":
        return STRING
    if kind in "iu":
        return INT64
    if kind == "f":
        return DOUBLE
    raise ValueError(f"values of dtype {np.asarray(values).dtype} have no ONNX type here")


def _array(values: Any) -> Any:
    array = np.asarray(values)
    kind = array.dtype.kind
    if kind in "OUS":
        return np.asarray([str(v) for v in array.ravel()], dtype=object).reshape(array.shape)
    if kind in "iu":
        return array.astype(np.int64)
    if kind == "b":
        return array
    return array.astype(np.float64)


@dataclass
class Graph:
    """Nodes, constants and inputs of one model under construction."""

    nodes: list[Any] = field(default_factory=list)
    constants: list[Any] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    # ``[N, 1]`` bool tensors: rows a step refuses (scikit-learn raises for them)
    refusals: list[str] = field(default_factory=list)
    count: int = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def input(self, name: str, element: int, width: int | None = 1) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, element, [None, width]))
        return name

    def const(self, values: Any, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.constants.append(numpy_helper.from_array(_array(values), name))
        return name

    def op(self, op_type: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        out = self.fresh(op_type.lower())
        node = helper.make_node(op_type, inputs, [out], domain=domain or None, **attrs)
        self.nodes.append(node)
        return out

    def model(
        self, outputs: dict[str, tuple[str, int, list[Any]]], metadata: dict[str, str]
    ) -> bytes:
        """The serialized, checked model answering ``outputs`` (name: tensor, type, shape),
        with ``metadata`` as its metadata properties."""
        infos = []
        for name, (tensor, element, shape) in outputs.items():
            self.nodes.append(helper.make_node("Identity", [tensor], [name]))
            infos.append(helper.make_tensor_value_info(name, element, shape))
        graph = helper.make_graph(self.nodes, "model", self.inputs, infos, self.constants)
        model = helper.make_model(
            graph,
            opset_imports=[
                helper.make_opsetid("", OPSET),
                helper.make_opsetid(ML_DOMAIN, ML_OPSET),
            ],
            producer_name="reintento-ops",
        )
        model.ir_version = 10
        helper.set_model_props(model, metadata)
        onnx.checker.check_model(model, full_check=True)
        return bytes(model.SerializeToString())
