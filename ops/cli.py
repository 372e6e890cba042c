"""``python -m ops``: a light wrapper on the ops verbs (papermill's rule: no logic here)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ops.errors import OpsError


def _train_demo(args: argparse.Namespace) -> Any:
    from ops.demo_model import save_demo_model

    return save_demo_model(args.path, n_rows=args.rows)


def _add_train_demo(sub: Any) -> None:
    from ops.demo_model import DEFAULT_MODEL_PATH, DEFAULT_ROWS

    p = sub.add_parser("train-demo", help="train the demo model and write its manifest")
    p.add_argument("--path", type=Path, default=DEFAULT_MODEL_PATH, help="where to write the .pkl")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows of synthetic data")
    p.set_defaults(func=_train_demo)


def _sample_rows(args: argparse.Namespace) -> Any:
    from ops.demo_model import sample_rows

    return "\n".join(json.dumps(row) for row in sample_rows(args.n, seed=args.seed))


def _add_sample_rows(sub: Any) -> None:
    p = sub.add_parser("sample-rows", help="print N demo input rows as JSON lines")
    p.add_argument("--n", type=int, default=5, help="how many rows")
    p.add_argument("--seed", type=int, default=7, help="random seed")
    p.set_defaults(func=_sample_rows)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops", description="Deploy and operate the scikit-learn model service."
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    adders: list[Callable[[Any], None]] = [_add_train_demo, _add_sample_rows]
    for add in adders:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except OpsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_jsonable(result), indent=2, default=str))
    else:
        print(result)
    return 0
