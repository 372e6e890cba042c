"""The model check, run where the model's own scikit-learn is: ``python -m
reintento_function.check_model MODEL [--rows ROWS.jsonl]`` prints one JSON object.

``ops`` calls the same functions in its own process when the model was saved with the project's
scikit-learn, and runs this module with the function's environment (built for the model's
version, ``python -m ops pin-function``) when it was not, so no check ever unpickles a model
with another scikit-learn than the one that saved it. The answer is what the function would
answer: the model is refused with the function's own error type and message (an unreadable
pickle, another version's pickle, no ``predict``, not fitted), or described (estimator, classes,
per feature what it accepts and what it reveals of its training values); with rows, the
function's answer to them and ``model.predict`` (and ``predict_proba``) on the same rows. Not
part of what the handler imports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from reintento_function import contract
from reintento_function.inference_core import (
    ModelSchema,
    accepted_input,
    describe_model,
    predict_records,
    predict_request,
)
from reintento_function.inference_errors import InferenceServiceError
from reintento_function.model_hints import feature_hints
from reintento_function.model_loader import verify_and_load


def load(body: bytes) -> Any:
    """Unpickle as the function does (same checks, same refusals)."""
    return verify_and_load(body, hashlib.sha256(body).hexdigest(), sklearn.__version__)


def describe(estimator: Any) -> dict[str, Any]:
    schema = describe_model(estimator)
    names = schema.feature_names if schema.named else None
    return {
        contract.CHECK_ESTIMATOR: type(estimator).__name__,
        contract.MODEL_SKLEARN_VERSION: sklearn.__version__,
        contract.CHECK_FEATURE_NAMES: [str(n) for n in names] if names is not None else None,
        contract.CHECK_N_FEATURES: len(schema.features),
        contract.ANSWER_CLASSES: list(schema.classes) if schema.classes is not None else None,
        contract.DESCRIBE_FEATURES: accepted_input(schema),
        contract.CHECK_HINTS: feature_hints(estimator, schema),
    }


def reference_input(schema: ModelSchema, rows: list[Any]) -> Any:
    """What ``model.predict`` is given for rows as a client sends them: a frame with the
    model's columns (named models), else an array of floats (nulls as NaN)."""
    if schema.named:
        return pd.DataFrame(rows, columns=schema.feature_names)
    return np.asarray([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def reference(estimator: Any, rows: list[Any]) -> dict[str, Any]:
    """``model.predict`` (and ``predict_proba``) on rows, as JSON values."""
    schema = describe_model(estimator)
    data = reference_input(schema, rows)
    predictions = np.asarray(estimator.predict(data)).tolist()
    out: dict[str, Any] = {contract.ANSWER_PREDICTIONS: predictions}
    if hasattr(estimator, "predict_proba"):
        probabilities = np.asarray(estimator.predict_proba(data)).tolist()
        out[contract.ANSWER_PROBABILITIES] = probabilities
    return out


def answer(estimator: Any, rows: list[Any]) -> dict[str, Any]:
    """The function's realtime answer to ``rows`` (no row limit)."""
    schema = describe_model(estimator)
    return predict_request(estimator, schema, rows, max_rows=max(len(rows), 1))


def check(body: bytes, rows: list[Any] | None = None) -> dict[str, Any]:
    """The whole check of one model file's bytes: refused (why), or described; with rows, the
    function's answer and model.predict's."""
    try:
        estimator = load(body)
    except InferenceServiceError as err:
        return {
            contract.CHECK_REFUSED: {
                contract.ERROR_TYPE: type(err).__name__,
                contract.ERROR_MESSAGE: str(err),
            },
            contract.MODEL_SKLEARN_VERSION: sklearn.__version__,
        }
    out: dict[str, Any] = {contract.CHECK_REFUSED: None, **describe(estimator)}
    if rows is not None:
        given = answer(estimator, rows)
        valid = contract.ANSWER_ERROR not in given
        out[contract.CHECK_ANSWER] = given
        out[contract.CHECK_REFERENCE] = reference(estimator, rows) if valid and rows else None
        # a realtime request is answered whole or refused whole; as a batch, each row counts
        records = predict_records(estimator, describe_model(estimator), rows) if not valid else []
        out[contract.CHECK_REFUSED_ROWS] = sum(1 for r in records if contract.ANSWER_ERROR in r)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="joblib file of a fitted scikit-learn model")
    parser.add_argument("--rows", type=Path, help="JSON-lines file of rows to answer")
    args = parser.parse_args(argv)
    rows = None
    if args.rows is not None:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    json.dump(check(args.model.read_bytes(), rows), sys.stdout, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
