"""``python -m ops``: a light wrapper on the ops verbs (papermill's rule: no logic here).

Every flag's type checks its value with ``ops.inputs.validate`` (so ``--help`` states the ranges); a
refusal prints one ``error: ...`` line and exits 2, a fault exits 1, and no traceback is shown
unless ``--debug`` asks for it.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, is_dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

import ops
from ops.display import Shown
from ops.errors import REFUSALS, ConfigurationError, OpsError, SecurityApprovalError
from ops.inputs import validate
from ops.inputs.batch_io import ROW_FILE_SUFFIXES, parse_rows, read_rows
from ops.modelfiles.demo_model import DEFAULT_ROWS
from ops.observe import MAX_LOG_LIMIT, MAX_SINCE_SECONDS, LogEvent, deployed_figures, follow_logs
from ops.service.rollout import STRATEGIES
from ops.showcase.runner import NotebookFailedError
from reintento_function import contract


class _UsageError(Exception):
    """argparse's complaint, as one line (instead of its usage text and exit)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def _checked(check: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """An argparse type from a validator: its ConfigurationError becomes argparse's error."""

    def convert(value: str) -> Any:
        try:
            return check(value)
        except ConfigurationError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    convert.__name__ = what
    return convert


def _int(low: int, high: int, name: str) -> Callable[[str], Any]:
    def parse(value: str) -> int:
        if not re.fullmatch(r"-?\d{1,18}", value.strip()):
            raise ConfigurationError(f"{name}={value[:40]!r} must be a whole number")
        return validate.integer(name, int(value), low=low, high=high)

    return _checked(parse, "integer")


def _float(low: float, high: float, name: str) -> Callable[[str], Any]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError as err:
            raise ConfigurationError(f"{name}={value[:40]!r} must be a number") from err
        return validate.number(name, number, low=low, high=high)

    return _checked(parse, "number")


def _file(name: str, *suffixes: str) -> Callable[[str], Any]:
    return _checked(lambda v: validate.existing_file(name, v, suffixes), "path")


def _settings(args: argparse.Namespace) -> ops.Settings:
    return ops.Settings.resolve(
        target=args.target, region=args.region, profile=args.profile, stage=args.stage
    )


def _rows(args: argparse.Namespace) -> Any:
    """Rows from --rows (JSON) or --file (.jsonl/.csv): a ConfigurationError names the problem."""
    return read_rows(args.file) if args.file else parse_rows(args.rows)


MAX_COUNT = 10**12
# the model file the verbs take when none is named: the project's, from the folder the command
# runs in (the README's commands run from the project folder)
MODEL_PATH = Path("models") / "mejor_modelo.pkl"


def _run_notebooks(args: argparse.Namespace) -> Any:
    from ops.showcase.runner import run_notebooks

    params = {key: notebook_value(value) for key, value in _context(args.parameter).items()}
    for name, value in (("STAGE", args.stage), ("REGION", args.region), ("PROFILE", args.profile)):
        if value:
            params[name] = value
    summary = run_notebooks(
        params,
        target=args.target or "local",
        confirm_teardown=args.confirm_teardown,
        in_place=args.in_place,
        out_dir=args.out,
    )
    if not summary.ok:
        raise NotebookFailedError(f"{summary.failure or 'the run stopped'}\n{summary}")
    return summary


def _deploy(args: argparse.Namespace, settings: ops.Settings) -> Any:
    """Deploy; security-relevant changes are shown and must be approved (``--yes`` or y)."""
    context = _context(args.context)
    try:
        if args.dry_run:
            return ops.deploy(context=context, dry_run=True, settings=settings)
        return ops.deploy(context=context, approve_security_changes=args.yes, settings=settings)
    except SecurityApprovalError as err:
        if not sys.stdin.isatty():
            raise
        print("\n".join(str(c) for c in err.changes), file=sys.stderr)
        answer = input(f"deploy these {len(err.changes)} security-relevant change(s)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise
    return ops.deploy(context=context, approve_security_changes=True, settings=settings)


def notebook_value(text: str) -> Any:
    """A notebook parameter's value as the notebook means it: JSON (``20000``, ``true``,
    ``"x"``), a Python literal as the parameters cell writes it (``True``, ``None``), else the
    text itself (``prod``)."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


def _context(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"{pair[:60]!r} is not KEY=VALUE, e.g. memory_mb=2048")
        out[key] = value
    return out


@dataclass(frozen=True)
class _Printed:
    """A verb's result and the text the command line prints for it (``--json`` prints the
    result itself)."""

    result: Any
    text: str


def _printed_json(document: dict[str, Any]) -> _Printed:
    return _Printed(document, json.dumps(document, indent=2))


def _predict(args: argparse.Namespace, settings: ops.Settings) -> Any:
    result = ops.predict(_rows(args), dry_run=args.dry_run, settings=settings)
    if not isinstance(result, ops.Prediction) or not args.probabilities:
        return result
    table = result.as_frame().to_string(index=False)
    card = replace(result.card(), cli_notes=())  # it says how to see what follows
    return _Printed(result, f"{card.text(cli=True)}\n{table}")


RESULT_SUFFIXES = (".parquet", ".csv", ".jsonl")
# the verbs that say what they would do (``--dry-run``); the others have no such flag
DEFAULT_LOG_LIMIT = 200


def _run_batch(args: argparse.Namespace, settings: ops.Settings) -> Any:
    if args.output is not None and args.leave_in_s3:
        raise ConfigurationError(
            "--output writes the results here, --leave-in-s3 leaves them in S3: choose one"
        )
    result = ops.run_batch(
        args.path,
        download=not args.leave_in_s3,
        probabilities=not args.labels_only,
        dry_run=args.dry_run,
        settings=settings,
    )
    if not isinstance(result, ops.BatchResult) or args.output is None:
        return result
    written = write_results(result, args.output)
    card = replace(result.card(), cli_notes=())  # it says how to write what was written
    return _Printed(result, f"{card.text(cli=True)}\n  results written to {written}")


def write_results(batch: ops.BatchResult, path: Path) -> str:
    """The batch's results (one row per input row) as Parquet, CSV or JSON lines."""
    frame = batch.results
    assert frame is not None
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return f"{path} ({len(frame):,} rows)"


def _logs(args: argparse.Namespace, settings: ops.Settings) -> Any:
    if not args.follow:
        return ops.logs(
            args.since,
            pattern=args.pattern,
            limit=args.limit or DEFAULT_LOG_LIMIT,
            dry_run=args.dry_run,
            settings=settings,
        )
    if args.limit or args.dry_run:
        raise ConfigurationError(
            "--follow prints new events from now until Ctrl-C: --limit and --dry-run apply "
            "without it"
        )

    def show(event: LogEvent) -> None:
        print(_as_json(event) if args.json else event.message, flush=True)

    follow_logs(show, pattern=args.pattern, settings=settings)  # until Ctrl-C
    return None  # pragma: no cover - it ends by Ctrl-C


@dataclass(frozen=True)
class Verb:
    """One verb of the command line, defined once: its help, what it runs, its own flags (beyond
    the common ones), and whether it takes ``--dry-run``."""

    help: str
    run: Callable[[argparse.Namespace, ops.Settings], Any]
    arguments: Callable[[argparse.ArgumentParser], None]
    dry_run: bool = False


# --------------------------------------------------------------------------- each verb's flags


def _deploy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--context",
        "-c",
        action="append",
        metavar="KEY=VALUE",
        help="CDK context, e.g. memory_mb=2048",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="deploy IAM and resource-policy changes without asking (they are listed first)",
    )


def _upload_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        nargs="?",
        type=_file("path", ".pkl", ".joblib"),
        default=MODEL_PATH,
        help="joblib model file (.pkl or .joblib)",
    )
    p.add_argument(
        "--rollout",
        choices=STRATEGIES,
        default="all-at-once",
        help="all-at-once (default); canary: --percent of calls for --bake-minutes, then "
        "all; linear: --percent more every --bake-minutes. A breach of the guardrails "
        "rolls back by itself",
    )
    p.add_argument(
        "--percent",
        type=_float(0.1, 99.9, "--percent"),
        default=10.0,
        help="share of calls per step, 0.1 to 99.9 (default 10)",
    )
    p.add_argument(
        "--bake-minutes",
        type=_float(0, 1440, "--bake-minutes"),
        default=10.0,
        help="minutes each step is judged before the next, 0 to 1440 (default 10)",
    )
    p.add_argument(
        "--min-invocations",
        type=_int(0, 10**9, "--min-invocations"),
        default=ops.Guardrails().min_invocations,
        help="calls the new version needs during a bake to be judged; fewer rolls back "
        f"(default {ops.Guardrails().min_invocations}; 0 promotes with no traffic)",
    )
    p.add_argument(
        "--max-errors",
        type=_int(0, 10**9, "--max-errors"),
        default=ops.Guardrails().max_errors,
        help="failed calls on the new version that roll it back, however many calls it got "
        f"(default {ops.Guardrails().max_errors})",
    )
    p.add_argument(
        "--max-traffic-ratio",
        type=_float(0, 10**6, "--max-traffic-ratio"),
        default=ops.Guardrails().max_traffic_ratio,
        help="calls during a bake over the same time before it that cannot be judged and roll "
        f"back (default {ops.Guardrails().max_traffic_ratio:g}; 0 turns the check off)",
    )
    p.add_argument(
        "--min-agreement",
        type=_float(0, 1, "--min-agreement"),
        default=None,
        help="share (0 to 1) of the live model's rows the new version must answer as the live "
        "one does before any caller sees it; under it, nothing is routed to it (default: "
        "none; under 0.9 the record says so)",
    )
    _engine_arguments(p)


def _engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=("auto", "sklearn", "onnx"),
        default="auto",
        help="auto (default): the model compiled to ONNX when that answers exactly what "
        "model.predict answers on the verification rows, else scikit-learn; sklearn or onnx "
        "force one",
    )
    p.add_argument(
        "--tolerance",
        type=_float(0, 1e300, "--tolerance"),
        default=None,
        help="with --engine onnx: serve a conversion whose largest difference from the model "
        "is within this (recorded and shown)",
    )


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--rows", help="JSON: one row object or a list of rows")
    group.add_argument(
        "--file",
        type=_file("--file", *ROW_FILE_SUFFIXES),
        help="JSONL, CSV or Parquet file of rows",
    )
    p.add_argument(
        "--probabilities",
        action="store_true",
        help="also show every row with each class's probability (classifiers)",
    )


def _run_batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        type=_file("path", *ROW_FILE_SUFFIXES),
        help="CSV, Parquet or JSONL file of rows",
    )
    p.add_argument(
        "--leave-in-s3",
        action="store_true",
        help="count the results and leave them in S3 (Parquet) instead of downloading them",
    )
    p.add_argument(
        "--labels-only",
        action="store_true",
        help="predictions without probabilities (what model.predict returns)",
    )
    p.add_argument(
        "--output",
        type=_checked(lambda v: validate.output_file("--output", v, RESULT_SUFFIXES), "path"),
        help="write the results (one row per input row) to this .parquet, .csv or .jsonl file",
    )


def _operator_policy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--account",
        type=_checked(lambda v: validate.text("--account", v), "text"),
        help="the 12-digit account id (default: the credentials' own account)",
    )


def _since_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--since",
        type=_float(1, MAX_SINCE_SECONDS, "--since"),
        default=3600.0,
        help=f"seconds back, 1 to {MAX_SINCE_SECONDS:,} (default 3600)",
    )


def _function_version(value: str) -> str:
    if not value.isdigit():
        raise ConfigurationError(
            f"--version {value!r} is not a function version; give its number (e.g. 3), as "
            "`python -m ops status` shows it, or leave it out for the live one"
        )
    return value


def _run_id(value: str) -> str:
    if not contract.RUN_ID.fullmatch(value):
        raise ConfigurationError(
            f"--batch {value[:40]!r} is not a batch run id (like 20261205T120000-1a2b3c4d, as "
            "run-batch prints it)"
        )
    return value


def _drift_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--since",
        type=_float(60, MAX_SINCE_SECONDS, "--since"),
        default=3600.0,
        help=f"seconds back, 60 to {MAX_SINCE_SECONDS:,} (default 3600)",
    )
    p.add_argument(
        "--version",
        type=_checked(_function_version, "function version"),
        help="a function version's number (default: the live one)",
    )
    p.add_argument(
        "--batch",
        type=_checked(_run_id, "run id"),
        help="a batch's run id (as run-batch prints it): that whole batch, with each "
        "feature's population stability index",
    )


def _logs_arguments(p: argparse.ArgumentParser) -> None:
    _since_argument(p)
    p.add_argument(
        "--pattern",
        type=_checked(lambda v: validate.text("--pattern", v), "text"),
        help="CloudWatch Logs filter pattern, e.g. REPORT",
    )
    p.add_argument(
        "--limit",
        type=_int(1, MAX_LOG_LIMIT, "--limit"),
        help=f"the newest N events, 1 to {MAX_LOG_LIMIT:,} (default {DEFAULT_LOG_LIMIT})",
    )
    p.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="print new events from now on, as they come, until Ctrl-C",
    )


def _estimate_cost_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--invocations",
        type=_int(0, MAX_COUNT, "--invocations"),
        default=10_000,
        help=f"realtime calls a month, 0 to {MAX_COUNT:,}",
    )
    p.add_argument(
        "--memory-mb",
        type=_int(128, 10240, "--memory-mb"),
        help="128 to 10,240 (default: the deployed function's, else 1,024 assumed)",
    )
    p.add_argument(
        "--duration-ms",
        type=_float(0, 900_000, "--duration-ms"),
        help="billed ms per invocation, 0 to 900,000 (default: measured on the deployed "
        "function's calls of the last day, else 100 assumed; the output says which)",
    )
    p.add_argument(
        "--batch-rows",
        type=_int(0, MAX_COUNT, "--batch-rows"),
        default=0,
        help=f"batch rows a month, 0 to {MAX_COUNT:,}",
    )


def _teardown_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--confirm",
        type=_checked(lambda v: validate.stack_name("--confirm", v), "stack name"),
        help="the service stack name, e.g. Reintento-dev-Service",
    )
    p.add_argument(
        "--delete-model-bucket", action="store_true", help="also delete every model version"
    )
    p.add_argument(
        "--confirm-model-store",
        metavar="NAME",
        type=_checked(lambda v: validate.stack_name("--confirm-model-store", v), "stack name"),
        help="with --delete-model-bucket: the model stack name, e.g. Reintento-dev-ModelStore",
    )


def _local_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("start", "stop", "status"))


def _run_notebooks_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p",
        "--parameter",
        action="append",
        metavar="NAME=VALUE",
        help="notebook parameter, e.g. -p BATCH_ROWS=20000",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="where the executed notebooks and report.html go (default: runs/<time>/)",
    )
    p.add_argument(
        "--confirm-teardown",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let 04_teardown delete the service stack (default: yes on local, no on aws)",
    )
    p.add_argument(
        "--in-place",
        action="store_true",
        help="rewrite the committed notebooks' outputs (make notebooks)",
    )


def _train_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--path",
        type=_checked(lambda v: _pkl_target(v), "path"),
        default=MODEL_PATH,
        help="where to write the .pkl",
    )
    p.add_argument(
        "--rows",
        type=_int(1000, 1_000_000, "--rows"),
        default=DEFAULT_ROWS,
        help="rows of synthetic data, 1,000 to 1,000,000",
    )


def _sample_rows_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        type=_file("--model", ".pkl", ".joblib"),
        default=MODEL_PATH,
        help="the model the rows are for (default models/mejor_modelo.pkl)",
    )
    p.add_argument(
        "--rows",
        type=_file("--rows", *ROW_FILE_SUFFIXES),
        help="draw from these rows (CSV, Parquet, JSONL) instead of the model's profile",
    )
    p.add_argument(
        "--n", type=_int(1, 10_000_000, "--n"), default=5, help="how many rows, 1 to 10,000,000"
    )
    p.add_argument(
        "--seed", type=_int(0, 2**32 - 1, "--seed"), default=7, help="random seed, 0 to 2^32-1"
    )


def _model_path_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        nargs="?",
        type=_file("path", ".pkl", ".joblib"),
        default=MODEL_PATH,
        help="joblib model file (.pkl or .joblib; default models/mejor_modelo.pkl)",
    )


def _check_model_arguments(p: argparse.ArgumentParser) -> None:
    _model_path_argument(p)
    p.add_argument(
        "--rows",
        type=_file("--rows", *ROW_FILE_SUFFIXES),
        help="CSV, Parquet or JSON-lines file of rows",
    )


def _profile_model_arguments(p: argparse.ArgumentParser) -> None:
    _model_path_argument(p)
    p.add_argument(
        "--rows",
        type=_file("--rows", *ROW_FILE_SUFFIXES),
        required=True,
        help="CSV, Parquet or JSON-lines file of rows (the training data, or data like it)",
    )
    p.add_argument(
        "--sample",
        type=_int(0, 10_000, "--sample"),
        default=200,
        help="real rows kept in the manifest, 0 to 10,000 (0 for private data; default 200)",
    )


def _no_arguments(p: argparse.ArgumentParser) -> None:
    """A verb with the common flags only."""


VERBS: dict[str, Verb] = {
    "deploy": Verb(
        "synthesize infra/ and deploy both stacks (asks before IAM or policy changes)",
        lambda a, s: _deploy(a, s),
        _deploy_arguments,
        dry_run=True,
    ),
    "upload-model": Verb(
        "upload a model file and make it live (at once, or as a canary/linear rollout)",
        lambda a, s: ops.upload_model(
            a.path,
            rollout=a.rollout,
            percent=a.percent,
            bake_minutes=a.bake_minutes,
            guardrails=ops.Guardrails(
                min_invocations=a.min_invocations,
                max_errors=a.max_errors,
                max_traffic_ratio=a.max_traffic_ratio or None,
                min_agreement=a.min_agreement,
            ),
            engine=a.engine,
            tolerance=a.tolerance,
            dry_run=a.dry_run,
            settings=s,
        ),
        _upload_model_arguments,
        dry_run=True,
    ),
    "rollback-model": Verb(
        "serve the previous model version again",
        lambda a, s: ops.rollback_model(dry_run=a.dry_run, settings=s),
        _no_arguments,
        dry_run=True,
    ),
    "list-models": Verb(
        "list the model's versions",
        lambda a, s: ops.list_models(dry_run=a.dry_run, settings=s),
        _no_arguments,
        dry_run=True,
    ),
    "predict": Verb(
        "realtime predictions for rows",
        lambda a, s: _predict(a, s),
        _predict_arguments,
        dry_run=True,
    ),
    "run-batch": Verb(
        "predict a CSV/Parquet/JSONL file through the state machine",
        lambda a, s: _run_batch(a, s),
        _run_batch_arguments,
        dry_run=True,
    ),
    "logs": Verb(
        "recent log events of the function (--follow: new ones as they come)",
        lambda a, s: _logs(a, s),
        _logs_arguments,
        dry_run=True,
    ),
    "metrics": Verb(
        "REPORT figures: cold starts, durations, p50/p99",
        lambda a, s: ops.metrics(a.since, dry_run=a.dry_run, settings=s),
        _since_argument,
        dry_run=True,
    ),
    "drift": Verb(
        "per feature, how recent inputs compare with the model's training profile",
        lambda a, s: ops.drift(
            a.since, version=a.version, batch=a.batch, dry_run=a.dry_run, settings=s
        ),
        _drift_arguments,
        dry_run=True,
    ),
    "estimate-cost": Verb(
        "monthly cost estimate with the breakdown",
        lambda a, s: ops.estimate_cost(
            a.invocations,
            memory_mb=a.memory_mb,
            duration_ms=a.duration_ms,
            batch_rows=a.batch_rows,
            region=s.region,
            measured=(
                None
                if a.duration_ms is not None and a.memory_mb is not None
                else deployed_figures(s)
            ),
        ),
        _estimate_cost_arguments,
    ),
    "status": Verb(
        "what is deployed, which model is live, alarms",
        lambda a, s: ops.status(dry_run=a.dry_run, settings=s),
        _no_arguments,
        dry_run=True,
    ),
    "operator-policy": Verb(
        "print the least-privilege IAM policy a person needs to run every verb on this stage",
        lambda a, s: _printed_json(ops.operator_policy(a.account, settings=s)),
        _operator_policy_arguments,
    ),
    "teardown": Verb(
        "delete the service stack (models kept unless --delete-model-bucket)",
        lambda a, s: ops.teardown(
            a.confirm,
            delete_model_bucket=a.delete_model_bucket,
            confirm_model_store=a.confirm_model_store,
            dry_run=a.dry_run,
            settings=s,
        ),
        _teardown_arguments,
        dry_run=True,
    ),
    "local": Verb(
        "start, stop or show the local target",
        lambda a, s: {"start": ops.start_local, "stop": ops.stop_local, "status": ops.local_status}[
            a.action
        ](settings=s),
        _local_arguments,
    ),
    "run-notebooks": Verb(
        "run the four notebooks in order with papermill (the main job)",
        lambda a, s: _run_notebooks(a),
        _run_notebooks_arguments,
    ),
    "check-model": Verb(
        "what the function will answer for a model file (and rows): accepted, or refused and why",
        lambda a, s: ops.check_model(a.path, rows=a.rows),
        _check_model_arguments,
    ),
    "profile-model": Verb(
        "record the model's input profile (training distribution) in its manifest, from data",
        lambda a, s: ops.profile_model(a.path, rows=a.rows, sample=a.sample),
        _profile_model_arguments,
    ),
    "pin-function": Verb(
        "build the function for the scikit-learn that saved the model (then deploy again)",
        lambda a, s: ops.pin_function(a.path, dry_run=a.dry_run),
        _model_path_argument,
        dry_run=True,
    ),
    "train-demo": Verb(
        "train the demo model and write its manifest",
        lambda a, s: ops.save_demo_model(a.path, n_rows=a.rows),
        _train_demo_arguments,
    ),
    "sample-rows": Verb(
        "print N rows that fit the model as JSON lines (its profile's rows, or --rows FILE)",
        lambda a, s: "\n".join(
            json.dumps(r) for r in ops.model_rows(a.model, rows=a.rows).take(a.n, seed=a.seed)
        ),
        _sample_rows_arguments,
    ),
}


def _pkl_target(value: str) -> Path:
    if not value.endswith(".pkl") or not value.isprintable():
        raise ConfigurationError(f"--path={value[:60]!r} must be a .pkl file name")
    return Path(value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m ops",
        description="Deploy and operate the scikit-learn model service (default target: local).",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)
    for name, verb in VERBS.items():
        p = sub.add_parser(name, help=verb.help, description=verb.help)
        p.add_argument(
            "--target",
            choices=("local", "aws"),
            help="where to operate (env REINTENTO_TARGET, default local)",
        )
        p.add_argument(
            "--region",
            type=_checked(lambda v: validate.region("--region", v), "region"),
            help="AWS region (env REINTENTO_REGION/AWS_REGION, default us-east-1)",
        )
        p.add_argument(
            "--profile",
            type=_checked(lambda v: validate.text("--profile", v), "text"),
            help="AWS profile (env AWS_PROFILE)",
        )
        p.add_argument(
            "--stage",
            type=_checked(lambda v: validate.name("--stage", v), "name"),
            help="stage name: a letter, then up to 31 letters, digits or hyphens "
            "(env REINTENTO_STAGE, default dev)",
        )
        p.add_argument(
            "--debug",
            "-v",
            action="store_true",
            help="on an error, also print the chained detail and the traceback",
        )
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        if verb.dry_run:
            p.add_argument(
                "--dry-run", action="store_true", help="say what would be done, do nothing"
            )
        else:
            p.set_defaults(dry_run=False)
        verb.arguments(p)
    return parser


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _print(text: str) -> None:
    """Print a result; a reader that stopped reading (`| head`) is no error of ours."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _as_json(value: Any) -> str:
    """Strict JSON (NaN and infinities are null: JSON has no such numbers)."""
    return json.dumps(_finite(_jsonable(value)), indent=2, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _show(result: Any) -> str:
    if isinstance(result, _Printed):
        return result.text
    if isinstance(result, Shown):
        return result.cli_text()
    if isinstance(result, tuple) and result and all(hasattr(r, "message") for r in result):
        return "\n".join(r.message for r in result)
    if isinstance(result, tuple):
        return "\n".join(str(r) for r in result)
    return str(result)


def _report(err: BaseException, debug: bool) -> None:
    """One ``error:`` line (a message's own further lines follow it); details only on --debug."""
    print(f"error: {err}", file=sys.stderr)
    if debug:
        traceback.print_exception(err, file=sys.stderr)


def _status(result: Any) -> int:
    """The exit status of a result that was printed (the README's table)."""
    if isinstance(result, ops.UploadResult) and result.rollout and not result.rollout.promoted:
        return 1  # the guardrails rolled the new model back (the card says why)
    if isinstance(result, ops.ModelCheck) and not result.ok:
        return 2  # the function would refuse the model or rows (the card says why)
    if isinstance(result, ops.Plan) and not result.ok:
        return 2  # a dry run whose checks failed: the verb would be refused (it says why)
    if isinstance(result, ops.Status) and not result.ok:
        return 1  # nothing deployed, a stack not complete, or an alarm firing
    if isinstance(result, ops.BatchResult) and result.failed_slices:
        return 1  # slices failed for good (platform faults): their rows are error rows
    if isinstance(result, ops.BatchResult) and result.rows and not result.succeeded:
        return 2  # the function refused every row as input (the card names the first problem)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 done, 2 refused (wrong input, set-up or confirmation), 1 failed, 130 interrupted."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or "-v" in (
        argv if argv is not None else sys.argv[1:]
    )
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as err:
        words = list(argv if argv is not None else sys.argv[1:])
        verb = next((w for w in words if w in VERBS), None)
        text = str(err)
        if verb:  # argparse reports a verb's unknown flags from the top: point at the verb
            text = text.replace(
                "(see `python -m ops --help`)", f"(see `python -m ops {verb} --help`)"
            )
        _report(_UsageError(text), debug)
        return 2
    try:
        result = VERBS[args.verb].run(args, _settings(args))
        if isinstance(result, ops.TeardownResult) and result.refused:
            raise ops.ConfirmationError(result.cli_message or result.message)
        shown = result.result if isinstance(result, _Printed) else result
        _print(_as_json(shown) if args.json else _show(result))
        return _status(shown)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OpsError as err:
        _report(err, debug)
        return 2 if isinstance(err, REFUSALS) else 1
    except Exception as err:  # a bug of ours: still one line, the traceback with --debug
        _report(
            OpsError(
                f"unexpected {type(err).__name__}: {err}; run again with --debug and report it"
            ),
            False,
        )
        if debug:
            traceback.print_exception(err, file=sys.stderr)
        return 1
