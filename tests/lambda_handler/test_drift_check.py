"""The function's drift counts (reintento_function.drift_check): pure, against a profile."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reintento_function.drift_check import InputProfile, count_columns, worst_share

MANIFEST = {
    "profile": {
        "source": "data",
        "features": [
            {"name": "age", "kind": "numeric", "null_share": 0.1, "quantiles": [18.0, 40.0, 90.0]},
            {
                "name": "city",
                "kind": "categorical",
                "null_share": 0.0,
                "categories": [["lima", 0.5], ["quito", 0.5]],
                "other_share": 0.0,
            },
            {
                "name": "plan",
                "kind": "categorical",
                "null_share": 0.0,
                "categories": [["basic", 0.9]],
                "other_share": 0.1,  # only the most frequent were kept: none is "unseen"
            },
        ],
    }
}


def test_values_out_of_range_unseen_categories_and_nulls_are_counted_per_feature() -> None:
    profile = InputProfile.from_manifest(MANIFEST)
    assert profile is not None and not profile.synthetic
    columns = {
        "age": [17.9, 18.0, 90.0, 90.5, None, math.nan, 50.0, 60.0],
        "city": ["lima", "cusco", None, "quito", "lima", "lima", "LIMA", "quito"],
        "plan": ["basic", "team", "pro", "basic", "basic", "basic", "basic", "basic"],
    }
    counts = {c.name: c for c in count_columns(profile, columns, 8)}
    # the training minimum and maximum are in range; below and above are not
    assert (counts["age"].out_of_range, counts["age"].nulls) == (2, 2)
    assert counts["age"].share == 2 / 8
    assert math.isclose(counts["age"].null_excess, 2 / 8 - 0.1)
    # a category is compared exactly (case included)
    assert (counts["city"].unseen, counts["city"].nulls) == (2, 1)
    # a profile that did not keep every category calls none unseen
    assert counts["plan"].unseen == 0 and not counts["plan"].notable
    assert worst_share(tuple(counts.values())) == 2 / 8


def test_arrays_series_and_columns_by_position_count_the_same() -> None:
    profile = InputProfile.from_manifest(MANIFEST)
    assert profile is not None
    as_lists = {"age": [10.0, 20.0, 95.0], "city": ["lima", "x", None], "plan": ["a"] * 3}
    as_arrays = {
        "age": np.asarray([10.0, 20.0, 95.0]),
        "city": pd.Series(["lima", "x", None], dtype=object).to_numpy(),
        "plan": pd.array(["a", "a", "a"], dtype=object),
    }
    by_position = [as_lists["age"], as_lists["city"], as_lists["plan"]]
    found = [count_columns(profile, c, 3) for c in (as_lists, as_arrays, by_position)]
    assert found[0] == found[1] == found[2]
    got = [(c.out_of_range, c.unseen, c.nulls) for c in found[0]]
    assert got == [(2, 0, 0), (0, 1, 1), (0, 0, 0)]


def test_a_manifest_without_a_usable_profile_counts_nothing() -> None:
    for document in (None, {}, {"profile": None}, {"profile": {"features": "x"}}, [1, 2]):
        assert InputProfile.from_manifest(document) is None
    only_junk = {"profile": {"features": [{"kind": "numeric"}, 3]}}
    assert InputProfile.from_manifest(only_junk) is None
    # a model-made profile says so
    made = InputProfile.from_manifest({"profile": {**MANIFEST["profile"], "source": "model"}})
    assert made is not None and made.synthetic


def test_a_column_of_another_length_or_missing_is_not_counted() -> None:
    profile = InputProfile.from_manifest(MANIFEST)
    assert profile is not None
    counts = count_columns(profile, {"age": [1.0, 2.0], "city": ["lima"]}, 2)
    assert [c.name for c in counts] == ["age"]
    assert worst_share(()) == 0.0


def test_a_slice_s_histograms_count_each_bin_and_never_carry_a_value() -> None:
    from reintento_function.drift_check import histograms

    manifest = {
        "profile": {
            "source": "data",
            "features": [
                # ties: the bottom quantiles are all 0 (edges 0, 1, 5, 9)
                {"name": "n", "kind": "numeric", "quantiles": [0.0, 0.0, 0.0, 1.0, 5.0, 9.0]},
                {"name": "k", "kind": "numeric", "quantiles": [3.0, 3.0]},  # one value seen
                MANIFEST["profile"]["features"][1],  # city: lima, quito
            ],
        }
    }
    profile = InputProfile.from_manifest(manifest)
    assert profile is not None and profile.features[0].edges == (0.0, 1.0, 5.0, 9.0)
    columns = {
        "n": [-1.0, 0.0, 0.5, 1.0, 4.9, 5.0, 9.0, 9.5, None],
        "k": [3.0, 3.0, 2.0, 4.0, None, 3.0, 3.0, 3.0, 3.0],
        "city": ["lima", "secret-city", None, "quito", "quito", "lima", "lima", "x", "lima"],
    }
    found = histograms(profile, columns, 9)
    assert found["rows"] == 9
    # [0, 1) [1, 5) [5, 9]: the top edge is in the last bin; outside are counted apart
    assert found["features"]["n"] == {"nulls": 1, "below": 1, "above": 1, "bins": [2, 2, 2]}
    assert found["features"]["k"] == {"nulls": 1, "below": 1, "above": 1, "bins": [6]}
    # categories in the profile's order, everything else as "other": no value leaves
    assert found["features"]["city"] == {"nulls": 1, "counts": [4, 2], "other": 2}
    assert "secret-city" not in repr(found)


def test_bounds_a_model_made_profile_only_guessed_count_nothing_out_of_profile() -> None:
    guessed = {
        "profile": {
            "source": "model",
            "features": [
                # a scaler's mean +/- 3 standard deviations, a tree's split span: not bounds
                {"name": "a", "kind": "numeric", "quantiles": [0.0, 1.0], "exact": False},
                # a scaler's data range: the training data's own minimum and maximum
                {"name": "b", "kind": "numeric", "quantiles": [0.0, 1.0], "exact": True},
                {"name": "c", "kind": "categorical", "categories": [["a", 1.0]], "exact": False},
                {
                    "name": "d",
                    "kind": "categorical",
                    "categories": [["x", 0.5], ["y", 0.5]],
                    "exact": True,  # an encoder's categories
                },
                # a profile from the model written before "exact" existed: nothing is exact
                {"name": "e", "kind": "numeric", "quantiles": [0.0, 1.0]},
            ],
        }
    }
    profile = InputProfile.from_manifest(guessed)
    assert profile is not None and profile.synthetic
    columns = {"a": [5.0, None], "b": [5.0, 0.5], "c": ["z", "a"], "d": ["z", "x"], "e": [7, 7]}
    counts = {c.name: c for c in count_columns(profile, columns, 2)}
    assert (counts["a"].out_of_range, counts["a"].nulls) == (0, 1)
    assert counts["b"].out_of_range == 1
    assert counts["c"].unseen == 0 and counts["d"].unseen == 1
    assert counts["e"].out_of_range == 0


def test_a_feature_name_cloudwatch_refuses_becomes_its_position() -> None:
    from reintento_function.contract import feature_dimension

    assert feature_dimension("latencia_ms", 0) == "latencia_ms"
    assert feature_dimension("sepal length (cm)", 1) == "sepal length (cm)"
    for refused in ("año", "", "   ", "a\nb", "x" * 256, "naïve"):
        assert feature_dimension(refused, 7) == "feature-7"


def test_a_call_publishes_counts_once_and_never_a_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from reintento_function.drift_metrics import DriftTally

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "3")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "svc")
    profile = InputProfile.from_manifest(MANIFEST)
    assert profile is not None
    tally = DriftTally(profile)
    tally.seen({"age": [1234.5, 30.0], "city": ["secret-city", "lima"], "plan": ["a", "b"]}, 2)
    assert capsys.readouterr().out == ""  # nothing before the answer is made
    tally.publish()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    dimensions = [d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] for d in documents]
    assert dimensions == [
        ["FunctionName", "ExecutedVersion", "service"],  # rows compared, per version
        ["FunctionName", "service"],  # the drift alarm's counts, per function
        ["FunctionName", "ExecutedVersion", "Feature", "service"],  # age: out of range
        ["FunctionName", "ExecutedVersion", "Feature", "service"],  # city: unseen
    ]
    assert documents[1]["ProfiledRows"] == [2.0] and documents[1]["OutOfProfileRows"] == [1.0]
    assert [d.get("Feature") for d in documents[2:]] == ["age", "city"]
    assert "secret-city" not in json.dumps(documents) and "1234.5" not in json.dumps(documents)


def test_a_count_that_fails_costs_no_answer_and_publishes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from reintento_function.drift_metrics import DriftTally

    profile = InputProfile.from_manifest(MANIFEST)
    assert profile is not None
    tally = DriftTally(profile, with_histograms=True)

    class Broken:
        def __len__(self) -> int:
            return 1

        def tolist(self) -> list[object]:
            raise RuntimeError("boom")

    tally.seen({"age": [1.0], "city": Broken(), "plan": ["a"]}, 1)
    assert isinstance(tally.error, RuntimeError) and tally.histograms is None
    tally.publish()
    assert capsys.readouterr().out == ""


def test_a_slice_s_counts_from_its_histograms_equal_the_counts_of_its_rows() -> None:
    from reintento_function.drift_check import counts_of, histograms

    profile = InputProfile.from_manifest(MANIFEST)
    assert profile is not None
    columns = {
        "age": [17.9, 18.0, 90.0, 90.5, None, math.nan, 50.0, 60.0],
        "city": ["lima", "cusco", None, "quito", "lima", "lima", "LIMA", "quito"],
        "plan": ["basic", "team", "pro", "basic", None, "basic", "basic", "basic"],
    }
    found = histograms(profile, columns, 8)
    assert counts_of(profile, found) == count_columns(profile, columns, 8)
