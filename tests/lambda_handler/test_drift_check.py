"""The function's drift counts (reintento_function.drift_check): pure, against a profile."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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
    assert counts["plan"].unseen == 0 and not counts["plan"].counted
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
