"""A table of model kinds the function must serve exactly as ``model.predict`` does.

Each kind is fitted here on a dataset that ships with scikit-learn (or generated), with the rows
a client would send: valid rows (nulls included where the model accepts them) and invalid rows,
each with the field its error must name. Used by the pure core's test and by the one through
the deployed function on the local target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

SEED = 7


@dataclass(frozen=True)
class ModelKind:
    name: str
    model: Any
    valid: list[Any]  # rows as a client sends them (JSON values)
    invalid: list[tuple[Any, str | None]]  # (row, the field its error names)
    frame: Callable[[list[Any]], Any]  # what model.predict is given for the same rows

    @property
    def nullable_rows(self) -> int:
        return sum(1 for r in self.valid if any(v is None for v in _values(r)))


def _values(row: Any) -> list[Any]:
    return list(row.values()) if isinstance(row, dict) else list(row)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON values: NaN becomes null, numpy scalars become Python ones."""
    out: list[dict[str, Any]] = []
    for record in frame.to_dict(orient="records"):
        out.append(
            {
                str(k): None
                if (isinstance(v, float) and np.isnan(v)) or v is None
                else (v.item() if hasattr(v, "item") else v)
                for k, v in record.items()
            }
        )
    return out


def _named(columns: list[str]) -> Callable[[list[Any]], Any]:
    return lambda rows: pd.DataFrame(rows, columns=columns)


def _with_holes(frame: pd.DataFrame, columns: list[str], share: float) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    out = frame.copy()
    for c in columns:
        if pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(float)
        out.loc[rng.random(len(out)) < share, c] = np.nan
    return out


def _numeric(loader: Callable[..., Any], n: int | None = None) -> tuple[pd.DataFrame, Any]:
    data = loader(as_frame=True)
    x = data.data.iloc[:, :n] if n else data.data
    return x, data.target


def _classifier_int_binary() -> ModelKind:
    x, y = _numeric(load_breast_cancer, 8)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    rows = _records(x.iloc[:40])
    field = str(x.columns[2])
    return ModelKind(
        "logistic regression, integer labels, binary",
        model,
        rows,
        [({**rows[0], field: None}, field), ({**rows[1], field: "12"}, field)],
        _named(list(map(str, x.columns))),
    )


def _classifier_str_multiclass_forest() -> ModelKind:
    data = load_iris(as_frame=True)
    x = _with_holes(data.data, ["petal width (cm)"], 0.1)  # forests split on missing values
    y = data.target_names[data.target]
    model = RandomForestClassifier(n_estimators=25, random_state=SEED).fit(x, y)
    rows = _records(x.iloc[::4])
    return ModelKind(
        "random forest, string labels, multiclass, native missing values",
        model,
        rows,
        [({**rows[0], "sepal length (cm)": [1]}, "sepal length (cm)")],
        _named(list(x.columns)),
    )


def _regressor() -> ModelKind:
    x, y = _numeric(load_diabetes)
    model = Ridge().fit(x, y)
    rows = _records(x.iloc[:30])
    return ModelKind(
        "ridge regressor",
        model,
        rows,
        [({**rows[0], "bmi": True}, "bmi"), ({**rows[1], "bmi": None}, "bmi")],
        _named(list(x.columns)),
    )


def _hgb_regressor_missing() -> ModelKind:
    x, y = _numeric(load_diabetes)
    x = _with_holes(x, ["bmi", "bp"], 0.15)
    model = HistGradientBoostingRegressor(max_iter=50, random_state=SEED).fit(x, y)
    rows = _records(x.iloc[:120])
    return ModelKind(
        "histogram gradient boosting regressor, native missing values",
        model,
        rows,
        [({**rows[0], "bmi": "n/a"}, "bmi")],
        _named(list(x.columns)),
    )


def _mixed_frame(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(SEED)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n).round(1),
            "income": rng.lognormal(10, 0.5, n).round(2),
            "city": rng.choice(["lima", "quito", "bogota"], n),
            "plan": rng.choice(["basic", "pro", "team"], n),
        }
    )
    y = ((frame["age"] > 40) ^ (frame["city"] == "lima")).to_numpy().astype(int)
    return frame, y


def mixed_training_frame() -> pd.DataFrame:
    """The rows the pipelines on mixed columns are fitted on (nulls in age and city)."""
    return _with_holes(_mixed_frame()[0], ["age", "city"], 0.1)


def _pipeline_imputers_ignore_unknown() -> ModelKind:
    _, y = _mixed_frame()
    x = mixed_training_frame()
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    ["city", "plan"],
                ),
            ]
        ),
        LogisticRegression(),
    ).fit(x, y)
    rows = _records(x.iloc[:50])
    rows.append({**rows[1], "city": "cusco"})  # unknown category: the encoder ignores it
    return ModelKind(
        "pipeline: imputers, one-hot with handle_unknown='ignore'",
        model,
        rows,
        [({**rows[0], "age": "forty"}, "age"), ({**rows[0], "city": 3}, "city")],
        _named(list(x.columns)),
    )


def _pipeline_strict_encoders() -> ModelKind:
    frame, y = _mixed_frame()
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("city", OneHotEncoder(handle_unknown="error"), ["city"]),
                (
                    "plan",
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                    ["plan"],
                ),
            ]
        ),
        DecisionTreeClassifier(random_state=SEED),
    ).fit(frame, np.where(y == 1, "yes", "no"))
    rows = _records(frame.iloc[:50])
    rows.append({**rows[2], "plan": "enterprise"})  # unknown to the ordinal encoder: encoded -1
    return ModelKind(
        "pipeline: one-hot refusing unknowns, ordinal encoding them, a tree",
        model,
        rows,
        [
            ({**rows[0], "city": "cusco"}, "city"),
            ({**rows[0], "city": None}, "city"),
            ({k: v for k, v in rows[0].items() if k != "plan"}, "plan"),
        ],
        _named(list(frame.columns)),
    )


def _missing_as_a_category() -> ModelKind:
    frame, y = _mixed_frame()
    x = _with_holes(frame, ["plan"], 0.2)  # missing is one of the plan's learned categories
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("cat", OneHotEncoder(handle_unknown="error"), ["city", "plan"]),
            ]
        ),
        HistGradientBoostingClassifier(max_iter=30, random_state=SEED),
    ).fit(x, y)
    rows = _records(x.iloc[:60])
    return ModelKind(
        "one-hot encoder that learned missing as a category, gradient boosting",
        model,
        rows,
        [({**rows[0], "plan": "gold"}, "plan"), ({**rows[0], "city": None}, "city")],
        _named(list(x.columns)),
    )


def _numpy_fitted() -> ModelKind:
    x, y = load_wine(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    rows = x[:30].tolist()
    return ModelKind(
        "fitted on a NumPy array (no feature names), multiclass",
        model,
        rows,
        [(x[0].tolist()[:5], None), ([*x[0].tolist()[:-1], "high"], "x12")],
        lambda r: np.asarray(r, dtype=float),
    )


def _proba_disagrees() -> ModelKind:
    # modified-Huber probabilities clip the one-vs-rest scores to [-1, 1]: where two classes
    # clip alike the arg-max of predict_proba picks the first, predict the highest score
    data = load_iris(as_frame=True)
    x = data.data
    model = make_pipeline(
        StandardScaler(), SGDClassifier(loss="modified_huber", random_state=SEED)
    ).fit(x, data.target)
    rows = _records(x)
    return ModelKind(
        "SGD classifier whose predict_proba disagrees with predict on some rows",
        model,
        rows,
        [({**rows[0], "petal length (cm)": None}, "petal length (cm)")],
        _named(list(x.columns)),
    )


def ignore_unknown_pipeline() -> ModelKind:
    """The pipeline that takes categories it never saw (its one-hot encoder ignores them)."""
    return _pipeline_imputers_ignore_unknown()


def model_kinds() -> list[ModelKind]:
    return [
        _classifier_int_binary(),
        _classifier_str_multiclass_forest(),
        _regressor(),
        _hgb_regressor_missing(),
        _pipeline_imputers_ignore_unknown(),
        _pipeline_strict_encoders(),
        _missing_as_a_category(),
        _numpy_fitted(),
        _proba_disagrees(),
    ]


def disagreeing_rows(kind: ModelKind) -> int:
    """How many valid rows have a predict different from the arg-max of predict_proba."""
    x = kind.frame(kind.valid)
    labels = np.asarray(kind.model.classes_)[np.argmax(kind.model.predict_proba(x), axis=1)]
    return int((labels != kind.model.predict(x)).sum())
