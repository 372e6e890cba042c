"""No side of the contract spells a shared key itself: the function's package, ``ops`` and
``infra`` name every key they exchange through ``reintento_function.contract``, so renaming one
there renames it everywhere (and a literal left behind fails here, not in production)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import reintento_function.contract as contract
from ops.modelfiles.versions import PROJECT_ROOT

SIDES = ("ops", "infra", "lambda/reintento_function")

# ops' own shapes, where a word may equal a contract value by coincidence: what a result
# records for the notebooks and the report, its tables and cards, the parts of a profile
# the function does not read (contract.PROFILE_* says which it reads), and notebook 03's
# bad-input table (its columns case, applies, error, field, problem)
OWN_SHAPES = frozenset({"record", "table", "card", "as_dict", "from_dict", "_answer"})

# (file, function, value): the same word in another format; "*" is any function of the file
OTHER_FORMATS: dict[tuple[str, str, str], str] = {
    ("ops/aws/assembly.py", "*", "type"): "a CDK cloud assembly artifact's type",
    ("ops/aws/console.py", "*", "model"): "a console link's name",
    ("ops/targets/local.py", "*", "model"): "a link's name",
    ("ops/batch.py", "_execute", "error"): "Step Functions' DescribeExecution answer",
    ("ops/showcase/checks.py", "bad_input_examples", "error"): "the bad-input table's column",
    ("ops/display.py", "*", "type"): "the notebook record's own type",
    ("ops/showcase/plots.py", "*", "type"): "the notebook record's own type",
    ("ops/showcase/plots.py", "*", "name"): "the notebook record's own name",
    ("ops/observe.py", "*", "message"): "CloudWatch Logs events' and log lines' message",
    ("ops/settings.py", "*", "profile"): "the settings' AWS profile",
    ("ops/settings.py", "*", "stage"): "the settings' stage",
    ("ops/modelfiles/versions.py", "*", "python"): "the environment's versions, by name",
    ("ops/model_store.py", "put_model", "python"): "the manifest's versions, by name",
    ("infra/monitoring.py", "*", "refused"): "a metric math expression's id",
    ("infra/monitoring.py", "*", "rows"): "a metric math expression's id",
    ("infra/monitoring.py", "*", "failed"): "a metric math expression's id",
    ("infra/settings.py", "*", "max_rows"): "the stack settings' own name",
    ("infra/rollout_guard.py", "*", "FunctionName"): "the Lambda API's GetAlias/UpdateAlias field",
}


# (file, value): a distinctive contract value spelled for another reason
OTHER_NAMES: dict[tuple[str, str], str] = {
    ("ops/aws/assembly.py", "manifest.json"): "the CDK cloud assembly's own manifest",
    ("ops/aws/outputs.py", "FunctionName"): "a stack output's key (infra.names, test_contract)",
    ("infra/names.py", "FunctionName"): "a stack output's key",
    ("ops/observe.py", "run_id"): "a BatchResult's attribute",
    ("infra/settings.py", "max_rows"): "the stack settings' own name",
    ("infra/rollout_guard.py", "FunctionName"): "the Lambda API's GetAlias/UpdateAlias field",
}


def shared_values() -> dict[str, str]:
    """Every string the contract defines (its constants and the members of its tuples), with
    the name of the first constant that holds it."""
    found: dict[str, str] = {}
    for name, value in vars(contract).items():
        if not name.isupper():
            continue
        members = value if isinstance(value, tuple) else (value,)
        for member in members:
            if isinstance(member, str):
                found.setdefault(member, name)
    return found


@dataclass(frozen=True)
class Literal:
    path: str
    line: int
    function: str
    value: str


def _key_literals(node: ast.AST) -> Iterator[ast.Constant]:
    """The string literals ``node`` uses as a key: a subscript, a dict literal's key, the key
    of ``.get``/``.pop``/``.setdefault``, the left side of ``in``."""
    if isinstance(node, ast.Subscript):
        yield from [node.slice] if isinstance(node.slice, ast.Constant) else []
    elif isinstance(node, ast.Dict):
        yield from (k for k in node.keys if isinstance(k, ast.Constant))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        first = node.args[0] if node.args else None
        if node.func.attr in ("get", "pop", "setdefault") and isinstance(first, ast.Constant):
            yield first
    elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant):
        yield from [node.left] if any(isinstance(o, ast.In | ast.NotIn) for o in node.ops) else []


def _walk(node: ast.AST, function: str) -> Iterator[tuple[ast.AST, str]]:
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
        yield child, inner or function
        yield from _walk(child, inner or function)


def key_literals(source: str, path: str, values: dict[str, str]) -> list[Literal]:
    found = []
    for node, function in _walk(ast.parse(source), "<module>"):
        for constant in _key_literals(node):
            if isinstance(constant.value, str) and constant.value in values:
                found.append(Literal(path, constant.lineno, function, constant.value))
    return found


def allowed(literal: Literal) -> bool:
    if literal.path.startswith("ops/") and literal.function in OWN_SHAPES:
        return True
    return any((literal.path, f, literal.value) in OTHER_FORMATS for f in (literal.function, "*"))


def side_files(root: Path) -> Iterator[tuple[str, str]]:
    """(path from the root, text) of each Python file of each side, the contract aside."""
    for side in SIDES:
        for path in sorted((root / side).rglob("*.py")):
            if "cdk.out" not in path.parts and path.name != "contract.py":
                yield path.relative_to(root).as_posix(), path.read_text()


def scan(root: Path) -> list[Literal]:
    values = shared_values()
    return [lit for path, text in side_files(root) for lit in key_literals(text, path, values)]


def test_no_side_of_the_contract_spells_a_shared_key() -> None:
    values = shared_values()
    spelled = [lit for lit in scan(PROJECT_ROOT) if not allowed(lit)]
    assert not spelled, "\n".join(
        f"{lit.path}:{lit.line} ({lit.function}) spells {lit.value!r}: use "
        f"contract.{values[lit.value]}"
        for lit in spelled
    )


def distinctive_literals(source: str, path: str, values: dict[str, str]) -> list[Literal]:
    """Every string literal (docstrings aside) equal to a contract value that is no plain word
    (``sklearn-version``, ``InvalidInput``, ``ProfiledRows``), in whatever role."""
    distinctive = {v for v in values if len(v) > 3 and not re.fullmatch(r"[a-z]+", v)}
    docstrings = set()
    for node in ast.walk(tree := ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            docstrings.add(id(body[0].value))
    return [
        Literal(path, node.lineno, function, node.value)
        for node, function in _walk(tree, "<module>")
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in distinctive
        and id(node) not in docstrings
    ]


def test_no_side_spells_a_distinctive_contract_value_anywhere() -> None:
    values = shared_values()
    found = [
        lit
        for path, text in side_files(PROJECT_ROOT)
        for lit in distinctive_literals(text, path, values)
    ]
    found = [
        lit for lit in found if not (lit.path.startswith("ops/") and lit.function in OWN_SHAPES)
    ]
    # each allowance is used (none outlives what it allowed)
    assert set(OTHER_NAMES) <= {(lit.path, lit.value) for lit in found}
    spelled = [lit for lit in found if (lit.path, lit.value) not in OTHER_NAMES]
    assert not spelled, "\n".join(
        f"{lit.path}:{lit.line} ({lit.function}) spells {lit.value!r}: use "
        f"contract.{values[lit.value]}"
        for lit in spelled
    )


def test_every_allowance_is_still_needed() -> None:
    # an allowance nothing uses any more is removed, so the list stays the exceptions it says
    used = {
        (lit.path, f, lit.value)
        for lit in scan(PROJECT_ROOT)
        for f in (lit.function, "*")
        if (lit.path, f, lit.value) in OTHER_FORMATS
    }
    assert set(OTHER_FORMATS) == used


@pytest.mark.parametrize(
    "source",
    [
        'answer = body.get("predictions")',
        'rows = answer["error"]["details"]',
        'item = {"input_key": key}',
        'if "instances" in event: pass',
        'def f(model):\n    return model["version_id"]',
    ],
)
def test_a_shared_key_spelled_out_is_found(source: str) -> None:
    found = key_literals(source, "ops/service/function.py", shared_values())
    assert found and not any(allowed(lit) for lit in found)


def test_a_distinctive_value_spelled_out_is_found() -> None:
    source = 'def f(err):\n    """InvalidInput"""\n    return err.kind == "InvalidInput"'
    found = distinctive_literals(source, "ops/x.py", shared_values())
    assert [(lit.function, lit.value) for lit in found] == [("f", "InvalidInput")]


def test_the_answer_the_function_builds_uses_the_contracts_keys() -> None:
    # the scan is only as good as the keys are real: the function's own answers carry them
    from sklearn.linear_model import LinearRegression

    from reintento_function.inference_core import Problem, describe_model, invalid_input

    fitted = LinearRegression().fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0.0, 1.0, 2.0])
    answer = invalid_input(describe_model(fitted), "why", [Problem(3, "x0", "missing")])
    error = answer[contract.ANSWER_ERROR]
    assert error[contract.ERROR_TYPE] == contract.INVALID_INPUT
    assert error[contract.ERROR_DETAILS] == [
        {contract.DETAIL_ROW: 3, contract.DETAIL_FIELD: "x0", contract.DETAIL_PROBLEM: "missing"}
    ]
    assert error[contract.ERROR_EXPECTED_FEATURES] == 2
