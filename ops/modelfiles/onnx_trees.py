"""Tree models as one ONNX-ML ``TreeEnsemble`` (opset 5) in double precision.

scikit-learn's trees go left when ``x <= threshold`` and send a missing value where the fit
decided (``missing_go_to_left``); ``TreeEnsemble``'s ``BRANCH_LEQ`` nodes with
``nodes_missing_value_tracks_true`` do the same, with double thresholds and leaf weights
(https://onnx.ai/onnx/operators/onnx_aionnxml_TreeEnsemble.html). Each leaf adds its weight to
one target, so a tree whose leaves hold one value per class becomes one tree per class. The
ensemble sums the trees in their order, starting from zero, as scikit-learn does (a forest's
``all_proba += ...``, gradient boosting's ``raw += baseline`` then each iteration's trees); its
constant start (gradient boosting's baseline) is a first tree of one leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import numpy_helper

from ops.modelfiles.onnx_graph import ML_DOMAIN, Graph


class NotCompiledError(Exception):
    """The model (or one of its steps) has no exact conversion here; the message says why."""


@dataclass(frozen=True)
class Tree:
    """One tree for one target: children (-1 at a leaf), split feature, threshold, where a
    missing value goes, and each node's value (used at leaves)."""

    target: int
    left: Any
    right: Any
    feature: Any
    threshold: Any
    missing_left: Any
    value: Any

    @staticmethod
    def constant(target: int, value: float) -> Tree:
        return Tree(target, [-1], [-1], [0], [0.0], [1], [value])


@dataclass
class _Arrays:
    featureids: list[int]
    splits: list[float]
    truenodeids: list[int]
    trueleafs: list[int]
    falsenodeids: list[int]
    falseleafs: list[int]
    missing_true: list[int]
    roots: list[int]
    leaf_targets: list[int]
    leaf_weights: list[float]


def _add_tree(arrays: _Arrays, tree: Tree) -> None:
    """Append one tree: interior nodes numbered in the node arrays, leaves in the leaf arrays."""
    left = np.asarray(tree.left)
    interior = [i for i in range(len(left)) if left[i] != -1]
    leaves = [i for i in range(len(left)) if left[i] == -1]
    base_node, base_leaf = len(arrays.featureids), len(arrays.leaf_weights)
    node_at = {n: base_node + k for k, n in enumerate(interior)}
    leaf_at = {n: base_leaf + k for k, n in enumerate(leaves)}
    for n in leaves:
        arrays.leaf_targets.append(tree.target)
        arrays.leaf_weights.append(float(tree.value[n]))
    if not interior:  # a tree of one leaf: one split whose both branches reach it
        arrays.roots.append(base_node)
        _append_node(arrays, 0, 0.0, (leaf_at[0], 1), (leaf_at[0], 1), 1)
        return
    arrays.roots.append(node_at[0])
    for n in interior:
        true_child, false_child = int(tree.left[n]), int(tree.right[n])
        true = (leaf_at[true_child], 1) if true_child in leaf_at else (node_at[true_child], 0)
        false = (leaf_at[false_child], 1) if false_child in leaf_at else (node_at[false_child], 0)
        missing = 1 if tree.missing_left[n] else 0
        _append_node(arrays, int(tree.feature[n]), float(tree.threshold[n]), true, false, missing)


def _append_node(
    arrays: _Arrays,
    feature: int,
    split: float,
    true: tuple[int, int],
    false: tuple[int, int],
    missing: int,
) -> None:
    arrays.featureids.append(feature)
    arrays.splits.append(split)
    arrays.truenodeids.append(true[0])
    arrays.trueleafs.append(true[1])
    arrays.falsenodeids.append(false[0])
    arrays.falseleafs.append(false[1])
    arrays.missing_true.append(missing)


def ensemble(graph: Graph, x: str, trees: list[Tree], targets: int) -> str:
    """A ``[N, targets]`` double tensor: per target, the sum of its trees' leaves for ``x``."""
    arrays = _Arrays([], [], [], [], [], [], [], [], [], [])
    for tree in trees:
        _add_tree(arrays, tree)

    def tensor(values: Any, dtype: Any) -> Any:
        return numpy_helper.from_array(np.asarray(values, dtype=dtype))

    return graph.op(
        "TreeEnsemble",
        [x],
        domain=ML_DOMAIN,
        aggregate_function=1,  # SUM
        post_transform=0,  # NONE
        n_targets=targets,
        nodes_featureids=arrays.featureids,
        nodes_splits=tensor(arrays.splits, np.float64),
        nodes_modes=tensor(np.zeros(len(arrays.splits)), np.uint8),  # BRANCH_LEQ
        nodes_truenodeids=arrays.truenodeids,
        nodes_trueleafs=arrays.trueleafs,
        nodes_falsenodeids=arrays.falsenodeids,
        nodes_falseleafs=arrays.falseleafs,
        nodes_missing_value_tracks_true=arrays.missing_true,
        tree_roots=arrays.roots,
        leaf_targetids=arrays.leaf_targets,
        leaf_weights=tensor(arrays.leaf_weights, np.float64),
    )


def sklearn_trees(estimators: list[Any], classes: int | None) -> list[Tree]:
    """The trees of decision trees (a forest's ``estimators_``): per class for a classifier
    (``tree_.value`` holds each leaf's class fractions), one for a regressor."""
    out: list[Tree] = []
    for estimator in estimators:
        t = estimator.tree_
        if t.n_outputs != 1:
            raise NotCompiledError("a tree with several outputs (multi-output) is not compiled")
        missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8))
        for k in range(classes or 1):
            out.append(
                Tree(
                    k,
                    t.children_left,
                    t.children_right,
                    t.feature,
                    t.threshold,
                    missing,
                    t.value[:, 0, k],
                )
            )
    return out


def boosting_trees(model: Any) -> list[Tree]:
    """A histogram gradient boosting model's trees: its baseline first, then each iteration's
    tree per target, in order."""
    if getattr(model, "_preprocessor", None) is not None or (
        getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_)
    ):
        raise NotCompiledError("gradient boosting with native categorical features")
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    out = [Tree.constant(k, float(b)) for k, b in enumerate(baseline)]
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            left = np.where(leaf, -1, nodes["left"].astype(np.int64))
            right = np.where(leaf, -1, nodes["right"].astype(np.int64))
            out.append(
                Tree(
                    k,
                    left,
                    right,
                    nodes["feature_idx"],
                    nodes["num_threshold"],
                    nodes["missing_go_to_left"],
                    nodes["value"],
                )
            )
    return out
