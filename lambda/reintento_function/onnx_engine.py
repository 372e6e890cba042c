"""The compiled engine's runtime side: feed checked rows to an ONNX model and read its answer.

The ONNX model ``ops`` compiles at upload (``ops.modelfiles.onnx_compile``) takes one input per
feature, named as the feature: a ``double`` column ``[N, 1]`` for a numeric feature, an
``int64`` column of codes for a categorical one (the index of its value in the list the model's
metadata holds for it, ``CATEGORIES_METADATA``; ``UNKNOWN_CODE`` for any other string,
``NULL_CODE`` for a null); a model fitted without feature names takes one ``double`` matrix
``X``. A model compiled before the codes takes a ``string`` column instead, its nulls in a bool
column of their own; it is still served. It answers ``label`` (what
``model.predict`` answers), for a classifier ``probabilities`` (``predict_proba``'s columns, in
``classes_`` order), and ``refused`` where the model refuses rows as scikit-learn does.

Only NumPy and onnxruntime are imported here (onnxruntime when a session is made), never
scikit-learn, SciPy or pandas: serving the compiled model must not load them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from reintento_function import contract

MATRIX_INPUT = "X"  # the one input of a model fitted without feature names
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
# per row, whether the model refuses it as scikit-learn would (a value its trees cannot hold in
# float32, a NaN its final estimator does not take, a category a strict encoder does not know):
# the engine raises, as the model does
REFUSED_OUTPUT = "refused"
# a string input's nulls travel in a bool input of their own (``name`` + this suffix), so no
# string a client sends can stand for a null; the string input holds "" there
NULL_SUFFIX = "\x00null"
# the compiled model's metadata entry that lists each categorical input's categories, in code
# order (a JSON object: input name -> list of strings); a string is sent as its index there, so
# no string crosses into onnxruntime and the one-hot encoding is one comparison per feature
CATEGORIES_METADATA = "reintento.categories"
UNKNOWN_CODE = -1  # a string not in the list (an encoder that ignores unknowns answers zeros)
NULL_CODE = -2  # a null (None, or NaN as a table's null)
# one thread per session run: the trees are summed in their order, as scikit-learn sums them, so
# the sums are the same to the last bit (onnxruntime's own threads would split the trees and add
# partial sums in another order)
THREADS = 1
# A large request is cut into pieces of rows, each run on a core of its own (``run``). Every
# piece but the last is a multiple of ``PIECE_ROWS`` rows, so each row is computed exactly as in
# one run: onnxruntime's tree kernel works in blocks of 128 rows and its element-wise kernels in
# vector packets of at most 8 doubles, and a cut at a multiple of 128 leaves every row at the
# same place within both (``tests/unit/test_onnx_engine.py`` compares the two bit for bit).
PIECE_ROWS = 128
PARALLEL_ROWS = 2048  # fewer rows run in one piece: a thread hand-off costs more than it saves


@dataclass(frozen=True)
class OnnxInput:
    """One input of the compiled model: its name, whether it is a string column (a model
    compiled before the codes), and for a categorical one its codes (category -> index)."""

    name: str
    text: bool
    codes: Mapping[str, int] | None = None


def input_columns(session: Any) -> list[OnnxInput]:
    """The feature inputs of an onnxruntime session, in order (null masks aside)."""
    listed = session.get_modelmeta().custom_metadata_map.get(CATEGORIES_METADATA)
    categories: dict[str, list[str]] = json.loads(listed) if listed else {}
    return [
        OnnxInput(
            i.name,
            i.type == "tensor(string)",
            {c: at for at, c in enumerate(categories[i.name])} if i.name in categories else None,
        )
        for i in session.get_inputs()
        if not i.name.endswith(NULL_SUFFIX)
    ]


def _code(value: Any, codes: Mapping[str, int]) -> int:
    if value is None or value != value:  # None; NaN is not itself
        return NULL_CODE
    return codes.get(value if type(value) is str else str(value), UNKNOWN_CODE)


def _code_column(values: Sequence[Any], codes: Mapping[str, int]) -> Any:
    """A categorical column as its codes (``[N, 1]`` int64): each string's index, a null's
    ``NULL_CODE``, any other value's ``UNKNOWN_CODE`` (numbers as ``str`` gives them)."""
    count = len(values)
    try:  # every value a known category: one dict lookup each, at C speed
        found = np.fromiter(map(codes.__getitem__, values), dtype=np.int64, count=count)
    except (KeyError, TypeError):
        found = np.fromiter((_code(v, codes) for v in values), dtype=np.int64, count=count)
    return found.reshape(-1, 1)


def _string_column(values: Sequence[Any]) -> tuple[Any, Any]:
    """A text column and its null mask (None, or a float NaN as a table's null; the string
    input holds "" there), each value as ``str`` gives it."""
    column = np.empty((len(values), 1), dtype=object)
    column[:, 0] = values
    none = np.full(1, None, dtype=object)
    nulls = np.equal(column, none) | np.not_equal(column, column)  # None; NaN is not itself
    column[nulls] = ""
    if not set(map(type, column[:, 0])) <= {str}:  # numbers as categories: as str gives them
        column[:, 0] = [str(value) for value in column[:, 0]]
    return column, nulls


def _number_column(values: Sequence[Any]) -> Any:
    return np.asarray(values, dtype=np.float64).reshape(-1, 1)  # None becomes NaN


def feeds(
    inputs: Sequence[OnnxInput], columns: Mapping[str, Any] | None, matrix: Any = None
) -> dict[str, Any]:
    """The session's feeds for checked rows: ``columns`` by feature name (named models), or
    ``matrix`` (rows of numbers, for a model fitted without names)."""
    if columns is None:
        return {MATRIX_INPUT: np.asarray(matrix, dtype=np.float64)}
    fed: dict[str, Any] = {}
    for each in inputs:
        if each.codes is not None:
            fed[each.name] = _code_column(columns[each.name], each.codes)
        elif each.text:
            fed[each.name], fed[each.name + NULL_SUFFIX] = _string_column(columns[each.name])
        else:
            fed[each.name] = _number_column(columns[each.name])
    return fed


def session(model: bytes) -> Any:
    """An onnxruntime session for the compiled model (imported only here)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = THREADS
    # no fusion that could change how a sum is rounded (MatMul + Add into Gemm, say)
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class RefusedInputError(ValueError):
    """Rows the model refuses, as scikit-learn refuses them (a ``ValueError``, so the function
    finds each such row and answers the others)."""


def cores() -> int:
    """The cores to compute on: the function's vCPUs as the stack sets them from its memory
    (``contract.ENV_CPU_THREADS``, which scikit-learn's OpenMP reads too), at most the cores
    this process may run on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    try:
        asked = int(os.environ.get(contract.ENV_CPU_THREADS, "") or usable)
    except ValueError:
        asked = 1
    return max(1, min(asked, usable))


def pieces(rows: int, workers: int) -> list[slice]:
    """``rows`` cut for ``workers`` cores: one piece below ``PARALLEL_ROWS`` rows, else up to
    ``workers`` pieces, each but the last a multiple of ``PIECE_ROWS`` rows."""
    if workers < 2 or rows < PARALLEL_ROWS:
        return [slice(0, rows)]
    size = -(-rows // workers)
    size = -(-size // PIECE_ROWS) * PIECE_ROWS
    return [slice(start, min(rows, start + size)) for start in range(0, rows, size)]


_POOL: dict[int, ThreadPoolExecutor] = {}


def _run_pieces(session_: Any, names: list[str], feed: Mapping[str, Any]) -> list[Any]:
    """The session's outputs for every row of ``feed``, its pieces run at once (onnxruntime
    releases the GIL while it runs, and a session may be run from several threads)."""
    rows = len(next(iter(feed.values())))
    cut = pieces(rows, cores())
    if len(cut) == 1:
        return list(session_.run(names, dict(feed)))
    pool = _POOL.get(len(cut)) or _POOL.setdefault(len(cut), ThreadPoolExecutor(len(cut)))
    parts = list(pool.map(lambda at: session_.run(names, {k: v[at] for k, v in feed.items()}), cut))
    return [np.concatenate([part[i] for part in parts]) for i in range(len(names))]


def run(session_: Any, feed: Mapping[str, Any]) -> tuple[Any, Any | None]:
    """Labels (or a regressor's values) and, for a classifier, probabilities. Raises
    ``RefusedInputError`` when a row is one the model refuses, or its answer is not finite."""
    names = [o.name for o in session_.get_outputs()]
    answers = dict(zip(names, _run_pieces(session_, names, feed), strict=True))
    labels, proba = answers[LABEL_OUTPUT], answers.get(PROBABILITIES_OUTPUT)
    refused = answers.get(REFUSED_OUTPUT)
    values = proba if proba is not None else labels
    if (refused is not None and refused.any()) or not np.isfinite(values).all():
        raise RefusedInputError(
            "Input X contains NaN, infinity, a value too large for the model, or a category "
            "an encoder of the model does not know"
        )
    return labels, proba


@dataclass(frozen=True)
class CompiledModel:
    """A compiled model in memory, answering as ``inference_core`` asks an estimator to."""

    session: Any
    inputs: tuple[OnnxInput, ...]

    @classmethod
    def load(cls, body: bytes) -> CompiledModel:
        made = session(body)
        return cls(made, tuple(input_columns(made)))

    def feed(self, columns: Mapping[str, Any] | None, matrix: Any = None) -> Any:
        return feeds(self.inputs, columns, matrix)

    def answer(self, feed: Mapping[str, Any]) -> tuple[Any, Any | None, bool]:
        """Labels, probabilities (None for a regressor), and that they came from one run."""
        labels, proba = run(self.session, feed)
        return labels, proba, proba is not None

    def predict(self, feed: Mapping[str, Any]) -> Any:
        return run(self.session, feed)[0]
