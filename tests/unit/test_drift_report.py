"""A batch's drift from its slices' histograms (ops.service.drift): shares and PSI, pure."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ops.modelfiles.profile import QUANTILE_LEVELS, FeatureProfile
from ops.service.drift import PSI_FLOOR, batch_feature, expected_shares, psi
from reintento_function.drift_check import (
    FeatureReference,
    InputProfile,
    histograms,
    profile_edges,
)


def _histogram(reference: FeatureReference, values: Any) -> dict[str, Any]:
    """What a slice writes for one feature (the function's drift_check.histograms)."""
    found = histograms(InputProfile((reference,), False), {reference.name: values}, len(values))
    return dict(found["features"].get(reference.name, {}))


def _reference_psi(expected: list[float], actual: list[float]) -> float:
    e = np.maximum(np.asarray(expected), PSI_FLOOR)
    a = np.maximum(np.asarray(actual), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def test_training_shares_follow_the_quantile_levels_with_ties() -> None:
    quantiles = (0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 5.0, 8.0, 8.0)
    shares = expected_shares(FeatureProfile("n", "numeric", quantiles=quantiles))
    # [0, 1) from level 0 to the first 1 (0.1); [1, 2) to 0.5; [2, 3) to 0.75; [3, 5) to 0.95;
    # [5, 8] the rest
    assert [label for label, _ in shares] == ["0 to 1", "1 to 2", "2 to 3", "3 to 5", "5 to 8"]
    assert [round(s, 9) for _, s in shares] == [0.1, 0.4, 0.25, 0.2, 0.05]
    assert math.isclose(sum(s for _, s in shares), 1.0)
    constant = expected_shares(FeatureProfile("k", "numeric", quantiles=(3.0,) * 11))
    assert constant == (("3", 1.0),)


def test_a_numeric_feature_s_psi_matches_pandas() -> None:
    rng = np.random.default_rng(3)
    training = rng.normal(50, 10, 5000)
    quantiles = tuple(float(q) for q in np.quantile(training, QUANTILE_LEVELS))
    feature = FeatureProfile("x", "numeric", quantiles=quantiles)
    batch = np.concatenate([rng.normal(58, 10, 900), [np.nan] * 50, [200.0] * 50])
    reference = FeatureReference("x", True, edges=profile_edges(quantiles))
    drift = batch_feature(feature, _histogram(reference, batch), len(batch))
    # the reference, with pandas: the same bins (left-closed, the last closed), shares of the
    # present values, and the out-of-range values as bins training never had
    present = pd.Series(batch).dropna()
    edges = sorted(set(quantiles))
    inside = present[(present >= edges[0]) & (present <= edges[-1])]
    cut = pd.cut(inside, edges, right=False, include_lowest=True)
    counts = cut.value_counts(sort=False).to_numpy().astype(float)
    counts[-1] += float((inside == edges[-1]).sum())  # the top edge belongs to the last bin
    below, above = float((present < edges[0]).sum()), float((present > edges[-1]).sum())
    levels = np.diff(QUANTILE_LEVELS)
    expected = [*levels, 0.0, 0.0]
    actual = [*(counts / len(present)), below / len(present), above / len(present)]
    assert drift.psi == pytest.approx(_reference_psi(expected, actual), rel=1e-12)
    assert (drift.out_of_range, drift.nulls) == (int(below + above), 50)
    assert drift.psi is not None and drift.psi > 0.25 and drift.drifted(0.1)
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0


def test_a_categorical_feature_s_shares_and_unseen_categories() -> None:
    feature = FeatureProfile(
        "city", "categorical", null_share=0.2, categories=(("lima", 0.4), ("quito", 0.4))
    )
    reference = FeatureReference("city", False, categories=frozenset({"lima", "quito"}),
                                 listed=("lima", "quito"))  # fmt: skip
    values = ["lima"] * 30 + ["quito"] * 50 + ["cusco"] * 20 + [None] * 25
    drift = batch_feature(feature, _histogram(reference, values), len(values))
    assert (drift.unseen, drift.nulls, drift.out_of_range) == (20, 25, 0)
    assert [(label, round(e, 9), round(a, 9)) for label, e, a in drift.bins] == [
        ("lima", 0.5, 0.3),
        ("quito", 0.5, 0.5),
        ("other", 0.0, 0.2),
    ]
    assert drift.psi == pytest.approx(_reference_psi([0.5, 0.5, 0.0], [0.3, 0.5, 0.2]))
    assert drift.share == 20 / 125 and drift.drifted(0.1)


def test_a_feature_of_few_values_uses_each_value_s_share_not_its_quantiles() -> None:
    # 45% zeros: the quantiles say only that somewhere from 40% to 50% of the values are 0
    quantiles = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0)
    shares = ((0.0, 0.45), (1.0, 0.2), (2.0, 0.15), (3.0, 0.1), (4.0, 0.05), (5.0, 0.03))
    feature = FeatureProfile(
        "n", "numeric", quantiles=quantiles, integer=True, value_shares=(*shares, (7.0, 0.02))
    )
    found = expected_shares(feature)
    assert [label for label, _ in found] == [
        "0 to 1", "1 to 2", "2 to 3", "3 to 4", "4 to 5", "5 to 7",
    ]  # fmt: skip
    assert [round(s, 9) for _, s in found] == [0.45, 0.2, 0.15, 0.1, 0.05, 0.05]
    # the same data in a batch: no shift
    reference = FeatureReference("n", True, edges=profile_edges(quantiles))
    values = [v for v, s in (*shares, (7.0, 0.02)) for _ in range(round(s * 100))]
    drift = batch_feature(feature, _histogram(reference, values), len(values))
    assert drift.psi == pytest.approx(0.0, abs=1e-12) and not drift.drifted(0.1)


def test_a_profile_from_data_keeps_the_shares_of_a_feature_of_few_values() -> None:
    from ops.modelfiles.profile import FeatureProfile as Profiled
    from ops.modelfiles.profile import profile_frame

    frame = pd.DataFrame({"n": [0, 0, 0, 1, 2, 2] * 10, "x": np.linspace(0, 1, 60)})
    accepted = [{"name": "n", "kind": "numeric"}, {"name": "x", "kind": "numeric"}]
    profile, _ = profile_frame(frame, accepted, named=True, model_sha256="s", sample=0)
    n, x = profile.features
    assert [(v, round(s, 6)) for v, s in n.value_shares or ()] == [
        (0.0, 0.5),
        (1.0, 0.166667),
        (2.0, 0.333333),
    ]
    assert x.value_shares is None  # 60 distinct values: quantiles only
    assert Profiled.from_dict(n.as_dict()) == n


def test_a_profile_from_the_model_marks_which_bounds_are_the_training_data_s_own() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    from ops.modelfiles.profile import profile_from_hints
    from reintento_function.inference_core import accepted_input, describe_model
    from reintento_function.model_hints import feature_hints

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "scaled": rng.normal(0, 1, 200),
            "ranged": rng.uniform(5, 9, 200),
            "city": rng.choice(["lima", "quito"], 200),
        }
    )
    y = (frame["scaled"] > 0).astype(int)
    model = make_pipeline(
        ColumnTransformer(
            [
                ("s", StandardScaler(), ["scaled"]),
                ("m", MinMaxScaler(), ["ranged"]),
                ("c", OneHotEncoder(), ["city"]),
            ]
        ),
        LogisticRegression(),
    ).fit(frame, y)
    schema = describe_model(model)
    profile = profile_from_hints(
        feature_hints(model, schema), accepted_input(schema), named=True, model_sha256="s"
    )
    exact = {f.name: f.exact for f in profile.features}
    # a mean and spread are a guess; a scaler's data range and an encoder's categories are not
    assert exact == {"scaled": False, "ranged": True, "city": True}
    assert all(f.as_dict()["exact"] == f.exact for f in profile.features)
    # a forest's split thresholds do not bound its training data either
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(frame[["scaled"]], y)
    schema = describe_model(forest)
    made = profile_from_hints(
        feature_hints(forest, schema), accepted_input(schema), named=True, model_sha256="s"
    )
    assert [f.exact for f in made.features] == [False]


def test_the_function_reads_the_profile_ops_writes_through_the_contract_s_keys() -> None:
    import dataclasses
    import json

    from ops.modelfiles.manifest import ModelManifest
    from ops.modelfiles.profile import profile_frame
    from reintento_function import contract

    # the manifest's field that holds the profile is the contract's name for it
    assert contract.PROFILE in {f.name for f in dataclasses.fields(ModelManifest)}
    frame = pd.DataFrame({"n": np.arange(100.0), "c": ["a", "b"] * 50})
    accepted = [{"name": "n", "kind": "numeric"}, {"name": "c", "kind": "categorical"}]
    profile, _ = profile_frame(frame, accepted, named=True, model_sha256="s", sample=0)
    document = json.loads(json.dumps({contract.PROFILE: profile.as_dict()}))
    read = InputProfile.from_manifest(document)
    assert read is not None and not read.synthetic
    n, c = read.features
    assert (n.name, n.numeric, n.low, n.high) == ("n", True, 0.0, 99.0)
    assert (c.name, c.numeric, c.categories, c.listed) == ("c", False, frozenset("ab"), ("a", "b"))


def test_a_window_is_one_whole_period_that_holds_now() -> None:
    from datetime import UTC, datetime, timedelta

    from ops.service.drift import window

    now = datetime(2026, 12, 5, 14, 7, 42, 500, tzinfo=UTC)
    for seconds in (60.0, 61.0, 3600.0, 14 * 24 * 3600.0):
        start, end, period = window(seconds, now)
        assert period % 60 == 0 and end - start == timedelta(seconds=period)
        assert start.second == 0 and end == datetime(2026, 12, 5, 14, 8, tzinfo=UTC)
        assert start <= now - timedelta(seconds=seconds) and now < end
