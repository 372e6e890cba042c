"""The mutation tool (``make mutate``) makes real, distinct, one-place changes."""

from __future__ import annotations

import ast

from tests import mutate


def test_each_mutant_changes_the_code_in_one_place() -> None:
    every = mutate.mutants("inference_core.py")
    original = ast.unparse(ast.parse((mutate.PACKAGE / "inference_core.py").read_text()))
    kinds = {m.change.split(" -> ")[0].split(" ")[0] for m in every}
    assert {"==", "and", "not", "+"} <= kinds and kinds & {"True", "False"}
    for mutant in every[::15]:
        changed = mutate.mutated_source(mutant)
        ast.parse(changed)  # still Python
        lines = [
            (a, b)
            for a, b in zip(original.splitlines(), changed.splitlines(), strict=True)
            if a != b
        ]
        assert len(lines) == 1, mutant


def test_annotations_are_not_mutated() -> None:
    tree = ast.parse("def f(x: Literal[1] = 2) -> Literal[3]:\n    return x == 4\n")
    changes = [change for _, _, change in mutate._sites(tree)]
    assert changes == ["2 -> 3", "== -> !=", "4 -> 5"]
