"""Check a model file against the inference core, offline: ``python lambda/check_model.py PATH``.

Prints the input the function will expect and predicts the first rows of a JSONL/CSV sample (or,
for the demo model, rows you pass with ``--rows``). Not part of the image.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib

from reintento_function.inference_core import describe_model, predict_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path, help="joblib file of a fitted scikit-learn model")
    parser.add_argument("--rows", type=Path, help="JSONL file of rows to predict")
    args = parser.parse_args(argv)
    estimator = joblib.load(args.model)
    schema = describe_model(estimator)
    print(f"model: {type(estimator).__name__}; classes: {list(schema.classes or ())}")
    for spec in schema.features:
        categories = f" categories={list(spec.categories)}" if spec.categories else ""
        print(f"  {spec.name}: {spec.kind}{' nullable' if spec.nullable else ''}{categories}")
    if args.rows:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
        print(json.dumps(predict_request(estimator, schema, rows, max_rows=len(rows)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
