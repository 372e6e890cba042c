"""Mutation testing of the function's core against the fast tests (``make mutate``).

Each mutant changes one operator or constant of a file of ``reintento_function`` (a comparison
turned around, ``and`` for ``or``, ``not`` dropped, ``+`` for ``-``, ``True`` for ``False``, a
whole number one larger); the fast tests (``tests/lambda_handler`` and ``tests/unit``, no local
target) run against a copy of the package holding that one change, first-failure-stops. A
mutant is killed when they fail (or run over five times the unmutated run's time); it survives
when they pass. The mutants are a seeded sample, so a run is repeatable and a score comparable
between commits; ``--all`` runs every one.

    python -m tests.mutate                     # 60 mutants of inference_core.py
    python -m tests.mutate --file contract.py --sample 40
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lambda" / "reintento_function"
FAST_TESTS = ("tests/lambda_handler", "tests/unit")

SWAPS: dict[type, type] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.And: ast.Or,
    ast.Or: ast.And,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
}
SYMBOLS: dict[type, str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.And: "and",
    ast.Or: "or",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}


@dataclass(frozen=True)
class Mutant:
    file: str
    site: int  # the site-th mutation site of the file, in the order ``sites`` finds them
    line: int
    change: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.change}"


def _annotations(tree: ast.AST) -> set[int]:
    """Nodes inside type annotations (never executed as code)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        hints: list[ast.AST | None] = []
        if isinstance(node, ast.AnnAssign | ast.arg):
            hints.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            hints.append(node.returns)
        for hint in hints:
            if hint is not None:
                skipped.update(id(n) for n in ast.walk(hint))
    return skipped


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, int, str]]:
    """(node, operator index, the change) of every place a mutant can be made."""
    skipped = _annotations(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in SWAPS:
                    yield node, i, f"{SYMBOLS[type(op)]} -> {SYMBOLS[SWAPS[type(op)]]}"
        elif isinstance(node, ast.BoolOp | ast.BinOp) and type(node.op) in SWAPS:
            yield node, 0, f"{SYMBOLS[type(node.op)]} -> {SYMBOLS[SWAPS[type(node.op)]]}"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, 0, "not x -> x"
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield node, 0, f"{node.value} -> {not node.value}"
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield node, 0, f"{node.value} -> {node.value + 1}"


def mutants(file: str) -> list[Mutant]:
    tree = ast.parse((PACKAGE / file).read_text())
    return [
        Mutant(file, i, getattr(node, "lineno", 0), change)
        for i, (node, _, change) in enumerate(_sites(tree))
    ]


class _Apply(ast.NodeTransformer):
    def __init__(self, target: ast.AST, index: int) -> None:
        self.target, self.index = target, index

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        return node.operand if node is self.target else node


def mutated_source(mutant: Mutant) -> str:
    tree = ast.parse((PACKAGE / mutant.file).read_text())
    node, index, _ = list(_sites(tree))[mutant.site]
    if isinstance(node, ast.Compare):
        node.ops[index] = SWAPS[type(node.ops[index])]()
    elif isinstance(node, ast.BoolOp | ast.BinOp):
        node.op = SWAPS[type(node.op)]()
    elif isinstance(node, ast.Constant) and isinstance(node.value, int):  # bools too
        node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
    else:
        tree = _Apply(node, index).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def _run_tests(copy: Path, timeout: float) -> tuple[str | None, float]:
    """The first fast test that fails against the package in ``copy`` (None: they all pass),
    and how long they took. Hypothesis runs with a fixed seed: a verdict is repeatable."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", "-o", "addopts=", "--hypothesis-seed=0", *FAST_TESTS]
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False, text=True
        )
    except subprocess.TimeoutExpired:
        return f"over {timeout:.0f} s", time.monotonic() - started
    if done.returncode == 0:
        return None, time.monotonic() - started
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    first = failed[0].split(" - ")[0] if failed else f"pytest exit {done.returncode}"
    return first, time.monotonic() - started


def run(chosen: list[Mutant]) -> list[Mutant]:
    """The mutants of ``chosen`` that survive (printing each verdict)."""
    survivors = []
    with tempfile.TemporaryDirectory(prefix="reintento-mutants-") as tmp:
        # the function's whole folder (tests read its Dockerfile and locks beside the package)
        copy = Path(tmp) / PACKAGE.parent.name
        shutil.copytree(PACKAGE.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
        failed, baseline = _run_tests(copy, timeout=1800)
        if failed:
            raise SystemExit(f"the fast tests fail without any mutant ({failed}): fix them first")
        print(f"unmutated: the fast tests pass in {baseline:.0f} s", flush=True)
        for n, mutant in enumerate(chosen, 1):
            target = copy / PACKAGE.name / mutant.file
            target.write_text(mutated_source(mutant))
            failed, _ = _run_tests(copy, timeout=5 * baseline)
            shutil.copy2(PACKAGE / mutant.file, target)
            verdict = f"killed   {mutant}  by {failed}" if failed else f"SURVIVED {mutant}"
            print(f"[{n}/{len(chosen)}] {verdict}", flush=True)
            if not failed:
                survivors.append(mutant)
    return survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default="inference_core.py", help="a file of the package")
    parser.add_argument("--sample", type=int, default=60, help="how many mutants (seeded)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--all", action="store_true", help="every mutant of the file")
    args = parser.parse_args(argv)
    every = mutants(args.file)
    chosen = (
        every
        if args.all
        else sorted(
            random.Random(args.seed).sample(every, min(args.sample, len(every))),
            key=lambda m: m.site,
        )
    )
    print(f"{len(chosen)} of the {len(every)} mutants of {args.file}", flush=True)
    survivors = run(chosen)
    killed = len(chosen) - len(survivors)
    print(f"killed {killed} of {len(chosen)} ({100 * killed / max(len(chosen), 1):.0f}%)")
    for mutant in survivors:
        print(f"  survived: {mutant}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
