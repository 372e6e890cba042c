"""Safe model rollout on the local target, over HTTP: weighted aliases route as Lambda routes
them, guardrails read version-scoped metrics, a bad model is rolled back by itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import ops
from ops.modelfiles import demo_model as demo
from ops.modelfiles.demo_model import DemoModel
from ops.service import live_model, rollout_guard
from ops.service.probes import Probe
from ops.service.rollout import Guardrails
from ops.targets import target_for
from reintento_function import contract
from tests.integration.conftest import Deployed, role_client, until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rollout_stage(local_settings: ops.Settings, demo_model: DemoModel) -> ops.Settings:
    """GIVEN a stage of its own with the demo model live."""
    s = ops.Settings.resolve(
        target="local",
        local_port=local_settings.local_port,
        state_dir=local_settings.state_dir,
        stage="rollout",
    )
    ops.deploy(approve_security_changes=True, settings=s)
    ops.upload_model(demo_model.path, settings=s)
    return s


def _lambda(settings: ops.Settings) -> Any:
    return target_for(settings).client("lambda")


def _function(settings: ops.Settings) -> str:
    return target_for(settings).outputs.function_name


def _two_versions(settings: ops.Settings) -> tuple[str, str]:
    """The live version, and another published version of the same code and role."""
    lam, name = _lambda(settings), _function(settings)
    live = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)["FunctionVersion"]
    config = lam.get_function_configuration(FunctionName=name)
    env = dict(config["Environment"]["Variables"])
    env["ROUTING_TEST"] = str(time.time())
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    other = str(lam.publish_version(FunctionName=name)["Version"])
    # a new version is Pending for a moment, on AWS as here: route to it once it is Active
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, Qualifier=other, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    assert other != live
    return str(live), other


# --------------------------------------------------------------------------- local target fixes


def test_a_weighted_alias_routes_by_its_weight(rollout_stage: ops.Settings) -> None:
    # GIVEN an alias whose primary is one version and which sends half the calls to another
    lam, name = _lambda(rollout_stage), _function(rollout_stage)
    primary, other = _two_versions(rollout_stage)
    lam.create_alias(
        FunctionName=name,
        Name="split",
        FunctionVersion=primary,
        RoutingConfig={"AdditionalVersionWeights": {other: 0.5}},
    )
    # WHEN it is invoked 200 times
    ran: Counter[str] = Counter()
    for _ in range(200):
        answer = lam.invoke(
            FunctionName=name,
            Qualifier="split",
            Payload=json.dumps({contract.EVENT_DESCRIBE: {}}).encode(),
        )
        ran[answer["ExecutedVersion"]] += 1
    # THEN both versions ran, about half each (binomial: 100 +- 7; the bounds are 5 sd)
    print("executed versions:", dict(ran))
    assert set(ran) == {primary, other}
    assert 65 <= ran[other] <= 135, ran
    # AND the version-scoped metrics count what each version ran (once they reached CloudWatch)
    time.sleep(target_for(rollout_stage).metrics_delay_seconds())
    cloudwatch = target_for(rollout_stage).client("cloudwatch")
    now = datetime.now(UTC)
    counted = {}
    for version in (primary, other):
        stats = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "p99",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Duration",
                            "Dimensions": [
                                {"Name": "FunctionName", "Value": name},
                                {"Name": "Resource", "Value": f"{name}:split"},
                                {"Name": "ExecutedVersion", "Value": version},
                            ],
                        },
                        "Period": 60,
                        "Stat": "p99",
                    },
                },
                {
                    "Id": "n",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": "Invocations",
                            "Dimensions": [
                                {"Name": "FunctionName", "Value": name},
                                {"Name": "Resource", "Value": f"{name}:split"},
                                {"Name": "ExecutedVersion", "Value": version},
                            ],
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                },
            ],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1),
        )
        by_id = {r["Id"]: r["Values"] for r in stats["MetricDataResults"]}
        assert by_id["p99"] and all(v > 0 for v in by_id["p99"]), by_id
        counted[version] = sum(by_id["n"])
    assert counted[other] >= ran[other] and counted[primary] >= ran[primary]


@pytest.mark.parametrize(
    "routing, why",
    [
        ({"AdditionalVersionWeights": {"1": 0.1, "2": 0.1}}, "maximum of two"),
        ({"AdditionalVersionWeights": {"OTHER": 1.5}}, "between 0.0 and 1.0"),
        ({"AdditionalVersionWeights": {"PRIMARY": 0.1}}, "primary"),
    ],
)
def test_lambda_refuses_a_routing_it_does_not_support(
    rollout_stage: ops.Settings, routing: dict[str, Any], why: str
) -> None:
    lam, name = _lambda(rollout_stage), _function(rollout_stage)
    primary, other = _two_versions(rollout_stage)
    weights = {
        {"OTHER": other, "PRIMARY": primary}.get(k, k): v
        for k, v in routing["AdditionalVersionWeights"].items()
    }
    with pytest.raises(ClientError) as refused:
        lam.update_alias(
            FunctionName=name,
            Name=contract.LIVE_ALIAS,
            FunctionVersion=primary,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert why in refused.value.response["Error"]["Message"]


def test_a_weighted_alias_cannot_point_at_latest(rollout_stage: ops.Settings) -> None:
    lam, name = _lambda(rollout_stage), _function(rollout_stage)
    _, other = _two_versions(rollout_stage)
    with pytest.raises(ClientError) as refused:
        lam.create_alias(
            FunctionName=name,
            Name="latest-split",
            FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {other: 0.1}},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_invoke_runs_the_version_its_qualifier_names(rollout_stage: ops.Settings) -> None:
    # GIVEN two published versions, the live alias on the first
    lam, name = _lambda(rollout_stage), _function(rollout_stage)
    live, other = _two_versions(rollout_stage)
    payload = json.dumps({contract.EVENT_DESCRIBE: {}}).encode()
    # THEN each qualifier runs what it names ($LATEST only when asked for)
    for qualifier, expected in (
        (other, other),
        (contract.LIVE_ALIAS, live),
        ("$LATEST", "$LATEST"),
    ):
        answer = lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=payload)
        assert answer["ExecutedVersion"] == expected, (qualifier, answer["ExecutedVersion"])


def _datapoints(settings: ops.Settings, metric: str, dims: dict[str, str]) -> float:
    """How many datapoints ``metric`` has under exactly ``dims`` in the last minutes
    (GetMetricData matches dimension sets exactly, as CloudWatch does)."""
    now = datetime.now(UTC)
    answer = (
        target_for(settings)
        .client("cloudwatch")
        .get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "n",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/Lambda",
                            "MetricName": metric,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                        },
                        "Period": 60,
                        "Stat": "SampleCount",
                    },
                }
            ],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1),
        )
    )
    return sum(answer["MetricDataResults"][0]["Values"])


def test_version_metrics_exist_for_alias_calls_only_under_lambdas_dimensions(
    rollout_stage: ops.Settings,
) -> None:
    # GIVEN a version invoked directly 3 times, and through an alias pointing at it 2 times
    lam, name = _lambda(rollout_stage), _function(rollout_stage)
    _, version = _two_versions(rollout_stage)
    lam.create_alias(FunctionName=name, Name="direct", FunctionVersion=version)
    payload = json.dumps({contract.EVENT_DESCRIBE: {}}).encode()
    for _ in range(3):
        lam.invoke(FunctionName=name, Qualifier=version, Payload=payload)
    for _ in range(2):
        lam.invoke(FunctionName=name, Qualifier="direct", Payload=payload)
    # THEN, as Lambda publishes them: by Resource for each qualifier, and by ExecutedVersion
    # only for the alias's calls, always together with Resource (the alias)
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    by = _datapoints
    direct = {"FunctionName": name, "Resource": f"{name}:{version}"}
    # (Lambda's metrics reach CloudWatch a while after the calls)
    assert until(lambda: by(rollout_stage, "Invocations", direct) == 3)
    alias = {"FunctionName": name, "Resource": f"{name}:direct"}
    assert by(rollout_stage, "Invocations", alias) == 2
    assert by(rollout_stage, "Invocations", {**alias, "ExecutedVersion": version}) == 2
    assert by(rollout_stage, "Invocations", {"FunctionName": name, "ExecutedVersion": version}) == 0


# --------------------------------------------------------------------------- rollouts

BAKE_MINUTES = 0.25  # 15 s per step here; minutes on AWS (CloudWatch's period is a minute)
# the tests' traffic starts seconds before their rollouts: a spike by design, not judged as one
UNSPIKED = Guardrails(max_traffic_ratio=None)


def _roll_out(
    settings: ops.Settings,
    model: Path,
    rollout: str,
    percent: float,
    guardrails: Guardrails,
    engine: str = "auto",
) -> ops.UploadResult:
    """``model`` rolled out (canary or linear) with the tests' short bake, quietly."""
    result = ops.upload_model(
        model,
        rollout=rollout,
        percent=percent,
        bake_minutes=BAKE_MINUTES,
        progress=False,
        guardrails=guardrails,
        engine=engine,  # type: ignore[arg-type]
        settings=settings,
    )
    assert isinstance(result, ops.UploadResult)
    return result


def _fit(
    name: str,
    transform: Any,
    classifier: Any,
    folder: Path,
    *,
    inverted: bool = False,
    renamed: dict[str, str] | None = None,
) -> Path:
    """A model of the demo's features (so the same traffic is valid for all), saved as a file;
    ``inverted``: trained on the opposite labels; ``renamed``: on features of other names."""
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from ops.modelfiles import demo_model as demo

    data = demo.make_dataset(4000, seed=11)
    x = data[demo.NUMERIC + demo.CATEGORICAL].copy()
    x[demo.NUMERIC] = x[demo.NUMERIC] + 1.0  # fitted where log() is defined
    features = ColumnTransformer(
        [
            ("num", transform, demo.NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="error", sparse_output=False), demo.CATEGORICAL),
        ]
    )
    labels = 1 - data[demo.TARGET] if inverted else data[demo.TARGET]
    if renamed:
        x = x.rename(columns=renamed)
        features.transformers = [
            (n, t, [renamed.get(c, c) for c in cols]) for n, t, cols in features.transformers
        ]
    model = Pipeline([("features", features), ("classifier", classifier)]).fit(x, labels)
    path = folder / f"{name}.pkl"
    joblib.dump(model, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A good model; one that refuses about 30% of real inputs (log of a feature that is often
    0: "Input X contains infinity"); one several times slower (2,000 trees instead of boosting)."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from ops.modelfiles import demo_model as demo
    from ops.modelfiles.demo_model import save_demo_model

    folder = tmp_path_factory.mktemp("rollout-models")
    return {
        "good": save_demo_model(folder / "good.pkl", n_rows=3000).path,
        # another good model (other training rows): a file that is not live yet
        "good2": save_demo_model(folder / "good2.pkl", n_rows=3100).path,
        "good3": save_demo_model(folder / "good3.pkl", n_rows=3200).path,
        "refuses": _fit(
            "refuses", FunctionTransformer(np.log), LogisticRegression(max_iter=500), folder
        ),
        "slow": _fit(
            "slow",
            StandardScaler(),
            RandomForestClassifier(n_estimators=2000, max_depth=6, random_state=1),
            folder,
        ),
        # a good model of the opposite labels: it disagrees with the live one on most rows
        "inverted": _fit(
            "inverted", StandardScaler(), LogisticRegression(max_iter=500), folder, inverted=True
        ),
        # a model of other inputs: a feature of another name than the live clients send
        "other_inputs": _fit(
            "other_inputs",
            StandardScaler(),
            LogisticRegression(max_iter=500),
            folder,
            renamed={demo.NUMERIC[0]: "latency_in_seconds"},
        ),
    }


@dataclass
class Traffic:
    """A test client: one realtime request after another through the live alias, each
    answer noted with the version that ran it and whether it failed."""

    settings: ops.Settings
    answers: list[tuple[str, bool]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    rows: list[Any] | None = None  # what it sends (default: 500 demo rows)
    pause: float = 0.02  # seconds between requests

    def run(self) -> None:
        lam, name = _lambda(self.settings), _function(self.settings)
        rows = self.rows or ops.sample_rows(500, seed=21)
        i = 0
        while not self.stop.is_set():
            payload = json.dumps({contract.EVENT_REALTIME: [rows[i % len(rows)]]}).encode()
            i += 1
            answer = lam.invoke(FunctionName=name, Qualifier=contract.LIVE_ALIAS, Payload=payload)
            body = json.loads(answer["Payload"].read())
            failed = bool(answer.get("FunctionError")) or "error" in body
            self.answers.append((answer["ExecutedVersion"], failed))
            time.sleep(self.pause)

    def failures(self, version: str) -> int:
        return sum(1 for v, failed in self.answers if v == version and failed)

    def served(self, version: str) -> int:
        return sum(1 for v, _ in self.answers if v == version)


@pytest.fixture
def traffic(rollout_stage: ops.Settings) -> Iterator[Traffic]:
    """GIVEN steady traffic on the live alias while the test runs."""
    t = Traffic(rollout_stage)
    thread = threading.Thread(target=t.run, daemon=True)
    thread.start()
    time.sleep(2)
    yield t
    t.stop.set()
    thread.join(timeout=30)


def _live(settings: ops.Settings) -> tuple[str, str]:
    (primary,) = ops.status(settings=settings).serving
    return primary.function_version, primary.model_version


def test_a_good_model_as_a_10_percent_canary_is_promoted(
    rollout_stage: ops.Settings, models: dict[str, Path], traffic: Traffic
) -> None:
    old_function, old_model = _live(rollout_stage)
    # WHEN a good model is rolled out to 10% of the calls
    result = _roll_out(rollout_stage, models["good"], "canary", 10, UNSPIKED)
    # THEN it is promoted: every call now goes to it
    record = result.rollout
    assert record is not None and record.outcome == "promoted", record
    assert result.live and record.steps[0].percent == 10
    assert _live(rollout_stage) == (result.function_version, result.version_id)
    # AND during the bake it served about a tenth of the calls, judged on its own figures
    new = record.steps[-1].new
    print("canary:", new.line(), "| old:", record.steps[-1].old.line())
    assert new.invocations >= Guardrails().min_invocations
    assert traffic.served(result.function_version) > 0 and traffic.served(old_function) > 0
    assert traffic.failures(old_function) == 0 and traffic.failures(result.function_version) == 0
    # AND before any traffic its agreement with the live version was measured and recorded
    assert "agrees with the live version on" in record.agreement, record.agreement
    # AND its record is kept beside the model, and list_models says when it went live
    versions = {v.version_id: v for v in ops.list_models(settings=rollout_stage)}
    assert versions[result.version_id].went_live and versions[old_model].went_live


def test_a_canary_is_judged_once_the_metrics_of_its_last_calls_have_arrived(
    rollout_stage: ops.Settings, models: dict[str, Path]
) -> None:
    """#34 item 4: Lambda's metrics reach CloudWatch a minute or more after the calls; the
    controller judged a step at its end, without its last calls: a canary whose traffic came
    late in its bake was rolled back for "too few calls", and a breach there went unseen."""
    from reintento_local import faults

    s = rollout_stage
    # GIVEN CloudWatch 20 s behind the calls
    faults.inject(s.state_dir, [{"kind": "late_metrics", "seconds": 20}])
    client = Traffic(s)
    try:
        # AND a client whose 60 calls all come between 8 and about 12 s into a 24-s bake
        def late_burst() -> None:
            if _split(s):
                time.sleep(8)
                lam, name = _lambda(s), _function(s)
                for row in ops.sample_rows(60, seed=5):
                    payload = json.dumps({contract.EVENT_REALTIME: [row]}).encode()
                    answer = lam.invoke(
                        FunctionName=name, Qualifier=contract.LIVE_ALIAS, Payload=payload
                    )
                    client.answers.append((answer["ExecutedVersion"], False))

        burst = threading.Thread(target=late_burst, daemon=True)
        burst.start()
        # WHEN a good model is rolled out to half of the calls
        result = ops.upload_model(
            models["good3"],
            rollout="canary",
            percent=50,
            bake_minutes=0.4,
            progress=False,
            guardrails=UNSPIKED,
            settings=s,
        )
        burst.join(timeout=60)
    finally:
        faults.inject(s.state_dir, [])
    # THEN it is promoted: it was judged on all of its calls, their metrics arrived after the
    # bake's end (the controller waited for them)
    assert isinstance(result, ops.UploadResult)
    record = result.rollout
    assert record is not None, result
    assert record.outcome == "promoted", record.reason
    served = client.served(result.function_version)
    print("canary served", served, "judged on:", record.steps[-1].new.line())
    assert served >= Guardrails().min_invocations
    assert record.steps[-1].new.invocations == served


def test_a_model_that_refuses_real_inputs_is_rolled_back_by_itself(
    rollout_stage: ops.Settings, models: dict[str, Path], traffic: Traffic
) -> None:
    old_function, old_model = _live(rollout_stage)
    # GIVEN a batch running meanwhile (it uses the version live at its start)
    batches: list[ops.BatchResult] = []
    rows = ops.sample_rows(6000, seed=5)
    batch = threading.Thread(
        target=lambda: batches.append(
            ops.run_batch(rows, slice_rows=500, progress=False, settings=rollout_stage)
        )
    )
    batch.start()
    # WHEN a model that refuses about 30% of real inputs is rolled out as a canary
    result = _roll_out(rollout_stage, models["refuses"], "canary", 20, UNSPIKED)
    batch.join()
    # THEN it is rolled back, saying why, and every call goes to the old version again
    record = result.rollout
    assert record is not None and record.outcome == "rolled back", record
    assert "invalid" in record.reason and not result.live
    print("rolled back:", record.reason)
    assert _live(rollout_stage) == (old_function, old_model)
    # AND no request the old version answered failed; the canary's did
    assert traffic.failures(old_function) == 0
    assert traffic.failures(record.function_version) > 0
    # AND the batch kept working: every row answered, by one model
    (done,) = batches
    assert done.rows == done.succeeded == 6000 and done.model_versions == (old_model,)


def test_a_much_slower_model_is_rolled_back_by_itself(
    rollout_stage: ops.Settings, models: dict[str, Path], traffic: Traffic
) -> None:
    old_function, old_model = _live(rollout_stage)
    # (served by scikit-learn: compiled, 2,000 trees answer in well under a millisecond)
    result = _roll_out(rollout_stage, models["slow"], "linear", 25, UNSPIKED, engine="sklearn")
    record = result.rollout
    assert record is not None and record.outcome == "rolled back", record
    assert "p99 duration" in record.reason
    print("rolled back:", record.reason)
    assert _live(rollout_stage) == (old_function, old_model)
    assert traffic.failures(old_function) == 0


def test_a_manual_rollback_moves_the_alias_to_the_version_already_published(
    rollout_stage: ops.Settings, models: dict[str, Path]
) -> None:
    # GIVEN a model promoted over another
    before_function, before_model = _live(rollout_stage)
    uploaded = ops.upload_model(models["good2"], progress=False, settings=rollout_stage)
    assert uploaded.live and uploaded.version_id != before_model
    lam, name = _lambda(rollout_stage), _function(rollout_stage)
    published = len(lam.list_versions_by_function(FunctionName=name)["Versions"])
    # WHEN it is rolled back by hand
    started = time.perf_counter()
    rolled = ops.rollback_model(settings=rollout_stage)
    seconds = time.perf_counter() - started
    # THEN the previous model serves again from the function version that served it before
    # (the alias moved; nothing was published or uploaded)
    print(f"manual rollback: {seconds:.2f} s (the issue's goal: under 2 s)")
    assert rolled.live and rolled.restored_version == before_model
    assert rolled.function_version == before_function
    assert len(lam.list_versions_by_function(FunctionName=name)["Versions"]) == published
    assert _live(rollout_stage) == (before_function, before_model)


def test_a_rollback_during_an_unfinished_rollout_puts_every_call_on_the_old_version(
    rollout_stage: ops.Settings,
) -> None:
    # GIVEN the alias left split by a rollout whose controller stopped (30% on another version)
    primary, other = _two_versions(rollout_stage)
    live_model.route(target_for(rollout_stage), primary, other, 0.3)
    split = ops.status(settings=rollout_stage).serving
    assert [(s.function_version, s.share) for s in split] == [(primary, 0.7), (other, 0.3)]
    # WHEN the user rolls back
    rolled = ops.rollback_model(settings=rollout_stage)
    # THEN every call goes to the old version again
    assert rolled.live and rolled.function_version == primary
    (only,) = ops.status(settings=rollout_stage).serving
    assert (only.function_version, only.share) == (primary, 1.0)


def test_a_second_upload_during_a_rollout_is_refused_and_a_rollback_stops_it(
    rollout_stage: ops.Settings, tmp_path: Path
) -> None:
    from ops.modelfiles.demo_model import save_demo_model

    old_function, old_model = _live(rollout_stage)
    canary_model = save_demo_model(tmp_path / "canary.pkl", n_rows=3200).path
    other_model = save_demo_model(tmp_path / "other.pkl", n_rows=3300).path
    # GIVEN a canary rollout running (one person's shell, or a pipeline)
    outcome: list[object] = []

    def canary() -> None:
        try:
            outcome.append(
                ops.upload_model(
                    canary_model,
                    rollout="canary",
                    percent=20,
                    bake_minutes=BAKE_MINUTES,
                    # judged with no traffic: it would be promoted at the end of its bake
                    guardrails=Guardrails(min_invocations=0),
                    progress=False,
                    settings=rollout_stage,
                )
            )
        except ops.OpsError as err:
            outcome.append(err)

    running = threading.Thread(target=canary)
    running.start()
    deadline = time.monotonic() + 120
    while len(ops.status(settings=rollout_stage).serving) < 2:
        ended = [getattr(o, "rollout", o) for o in outcome]  # why a canary ended early
        assert time.monotonic() < deadline and not outcome, ended
        time.sleep(0.2)
    # WHEN a second person uploads another model meanwhile
    with pytest.raises(ops.ConcurrentChangeError, match="a rollout is running") as refused:
        ops.upload_model(other_model, progress=False, settings=rollout_stage)
    # THEN it is refused, naming how to stop the running one, and nothing moved
    assert "rollback-model" in str(refused.value)
    assert len(ops.status(settings=rollout_stage).serving) == 2
    # WHEN someone stops the rollout
    ops.rollback_model(settings=rollout_stage)
    running.join(timeout=300)
    # THEN the canary's controller does not overwrite that (it would have promoted): it stops,
    # saying why, and every call stays on the old version
    (ended,) = outcome
    assert isinstance(ended, ops.ConcurrentChangeError), ended
    assert "changed by someone else" in str(ended)
    assert _live(rollout_stage) == (old_function, old_model)


def test_a_rollout_whose_controller_is_killed_mid_bake_is_ended_by_its_guard(
    rollout_stage: ops.Settings, tmp_path: Path
) -> None:
    """#36: the controller (the process that ran upload-model) is killed while the canary bakes;
    the stage's rollout guard, a workflow beside the function, moves every call back to the old
    version at the bake's planned end plus its grace, and its execution records it."""
    from ops.modelfiles.demo_model import save_demo_model

    ops.upload_model(demo.save_demo_model(tmp_path / "base.pkl").path, settings=rollout_stage)
    old_function, old_model = _live(rollout_stage)
    canary = save_demo_model(tmp_path / "killed.pkl", n_rows=3400).path
    settings = {
        "target": "local",
        "local_port": rollout_stage.local_port,
        "state_dir": str(rollout_stage.state_dir),
        "stage": rollout_stage.stage,
    }
    script = textwrap.dedent(
        f"""
        import ops
        from ops.service import rollout_guard
        from ops.service.rollout import Guardrails
        rollout_guard.GRACE_SECONDS = 5.0  # minutes on AWS; seconds for a test
        rollout_guard.STEP_SECONDS = 1.0
        ops.upload_model(
            {str(canary)!r}, rollout="canary", percent=20, bake_minutes={BAKE_MINUTES},
            guardrails=Guardrails(min_invocations=0), progress=False,
            settings=ops.Settings.resolve(**{settings!r}),
        )
        """
    )
    # GIVEN a canary rollout whose controller runs in a process of its own
    controller = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        assert _split(rollout_stage), "the canary never began"
    finally:
        # WHEN that process is killed mid-bake (no handler runs: a closed laptop, a killed job)
        controller.kill()
        controller.wait(timeout=30)
    left = ops.status(settings=rollout_stage)
    assert len(left.serving) == 2  # the split it left, and the guard that will end it
    assert left.guard.startswith("running: ends the rollout of version"), left.guard
    # THEN the guard ends the rollout: every call back on the old version
    lam, name = _lambda(rollout_stage), _function(rollout_stage)

    def ended() -> bool:
        alias = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)
        return not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")

    assert until(ended, seconds=BAKE_MINUTES * 60 + 120), "the guard never ended the split"
    assert _live(rollout_stage) == (old_function, old_model)
    # AND its execution records what it found and that it moved the calls back
    target = target_for(rollout_stage)
    sfn = target.client("stepfunctions")
    (run,) = sfn.list_executions(stateMachineArn=rollout_guard.machine_arn(target), maxResults=1)[
        "executions"
    ]
    done = sfn.describe_execution(executionArn=run["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output[contract.GUARD_OLD_VERSION] == old_function
    assert output[contract.GUARD_FOUND]["FunctionVersion"] == old_function
    assert contract.GUARD_ROUTED in output
    # AND the stage is free again: the next upload is not refused
    assert rollout_guard.running(target) is None


def test_a_guard_started_by_hand_cannot_make_another_version_live(
    rollout_stage: ops.Settings,
) -> None:
    """SECURITY.md: whoever may start the guard writes its input; naming a version that is not
    the primary as the "old" one moves nothing (the guard only ever ends a split)."""
    live, other = _two_versions(rollout_stage)
    target = target_for(rollout_stage)
    lam, name = _lambda(rollout_stage), _function(rollout_stage)
    before = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)
    sfn = target.client("stepfunctions")
    given = {
        contract.GUARD_OLD_VERSION: other,  # not the primary
        contract.GUARD_NEW_VERSION: live,
        contract.GUARD_WAIT_SECONDS: 0,
    }
    arn = sfn.start_execution(
        stateMachineArn=rollout_guard.machine_arn(target), input=json.dumps(given)
    )["executionArn"]
    done = until(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
        seconds=60,
    )
    assert done and done["status"] == "SUCCEEDED", done
    assert contract.GUARD_ROUTED not in json.loads(done["output"])
    after = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)
    assert (after["FunctionVersion"], after["RevisionId"]) == (
        before["FunctionVersion"],
        before["RevisionId"],
    )


def _split(settings: ops.Settings, timeout: float = 180.0) -> bool:
    """Until the live alias sends a share of the calls to another version (a bake began)."""
    lam, name = _lambda(settings), _function(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alias = lam.get_alias(FunctionName=name, Name=contract.LIVE_ALIAS)
        if (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
            return True
        time.sleep(0.2)
    return False


def test_one_caller_cannot_dilute_a_canary_into_promotion(
    rollout_stage: ops.Settings, models: dict[str, Path]
) -> None:
    """#35 finding 4: guardrails were ratios over every call through the alias, so one caller's
    extra good calls turned a canary that refuses real inputs into a promoted one."""
    s = rollout_stage
    target = target_for(s)
    deployed = Deployed(s, target.outputs, "", str(target.endpoint()))
    function_arn = _lambda(s).get_function(FunctionName=_function(s))["Configuration"][
        "FunctionArn"
    ]
    # GIVEN a second principal that may only invoke the live alias
    caller = role_client(
        deployed,
        "lambda",
        f"diluter-{int(time.time())}",
        [
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": f"{function_arn}:{contract.LIVE_ALIAS}",
            }
        ],
    )
    old_function, old_model = _live(s)
    # WHEN a model that refuses about 30% of real inputs is rolled out to half the calls
    results: list[ops.UploadResult] = []
    upload = threading.Thread(
        target=lambda: results.append(
            ops.upload_model(
                models["refuses"],
                rollout="canary",
                percent=50,
                bake_minutes=1.0,  # ends early when it breaches (the longest is when it fails)
                progress=False,
                settings=s,
            )
        )
    )
    upload.start()
    assert _split(s), "the canary's bake did not begin"
    # AND during its bake that caller floods the alias with rows every version accepts, while
    # a real client sends 100 real rows (about a third of the canary's share refused: more than
    # the 10 invalid requests allowed whatever the number of calls; diluted under the 5% ratio).
    # Two clients, each: 200 flood calls, then one real row in every five calls, then the rest
    # of the flood; so the ratio is diluted at every moment of the bake, on a machine of any speed
    floods = [
        {k: (v + 1.0 if k in demo.NUMERIC else v) for k, v in row.items()}
        for row in ops.sample_rows(1400, seed=41)
    ]
    reals = ops.sample_rows(100, seed=42)
    flooded: list[int] = []  # one entry per flood call answered

    def calls(part: int) -> list[tuple[Any, dict[str, Any]]]:
        lam, mine, real = _lambda(s), floods[part::2], reals[part::2]
        order = [(caller, row) for row in mine[:200]]
        for i, row in enumerate(real):
            order += [(lam, row), *((caller, r) for r in mine[200 + 4 * i : 204 + 4 * i])]
        return order + [(caller, row) for row in mine[200 + 4 * len(real) :]]

    def client(part: int) -> None:
        for via, row in calls(part):
            payload = json.dumps({contract.EVENT_REALTIME: [row]}).encode()
            via.invoke(FunctionName=_function(s), Qualifier=contract.LIVE_ALIAS, Payload=payload)
            if via is caller:
                flooded.append(1)

    clients = [threading.Thread(target=client, args=(part,)) for part in range(2)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    upload.join()
    assert len(flooded) == len(floods)  # the second principal's calls were all answered
    # THEN the canary is not promoted (the refusals' count, or the spike when the time before
    # the bake was quiet, says why), and every call is on the old version again
    (result,) = results
    record = result.rollout
    assert record is not None and record.outcome == "rolled back", record
    print("rolled back:", record.reason)
    assert not result.live and _live(s) == (old_function, old_model)


def test_a_probe_with_known_answers_fails_a_version_that_answers_otherwise(
    rollout_stage: ops.Settings,
) -> None:
    """#35 finding 4: the model's own rows with model.predict's answers, sent to a version
    directly (not through the alias, so no caller's traffic can drown them out)."""
    s = rollout_stage
    live, _ = _live(s)
    rows = [  # rows every model of these tests accepts (no zeros for the log() model)
        {k: (v + 1.0 if k in demo.NUMERIC else v) for k, v in row.items()}
        for row in ops.sample_rows(6, seed=43)
    ]
    answers = tuple(ops.predict(rows, settings=s).predictions)
    # GIVEN the answers the live model gives: the live version passes
    assert Probe(tuple(rows), answers).check(target_for(s), live) is None
    # THEN a version that answers even one of them otherwise fails, saying how many
    assert all(a in (0, 1) for a in answers)  # the demo model's labels
    flipped = (1 - answers[0], *answers[1:])
    reason = Probe(tuple(rows), flipped).check(target_for(s), live)
    assert reason is not None and "answered 1 of the model's own 6 probe rows" in reason


def test_a_model_the_function_refuses_never_reaches_a_caller(
    rollout_stage: ops.Settings,
    models: dict[str, Path],
    traffic: Traffic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """#34 item 3: the alias moved to the new version before ops checked that it serves the
    model, and moved back after: callers met the refusal in between. Now it is checked first."""
    import ops.model_store as store

    real = store.sign_model

    def signed_over_another_sha256(target: Any, key: str, sha256: str, *rest: Any) -> Any:
        return real(target, key, "0" * 64, *rest)  # a signature the function will not accept

    monkeypatch.setattr(store, "sign_model", signed_over_another_sha256)
    before = _live(rollout_stage)
    served_before = len(traffic.answers)
    # WHEN a model the function refuses is uploaded, while callers call
    with pytest.raises(ops.ModelRefusedError, match="signature"):
        ops.upload_model(models["good2"], progress=False, settings=rollout_stage)
    time.sleep(1)
    # THEN the alias never moved, and no caller got an error
    assert _live(rollout_stage) == before
    during = traffic.answers[served_before:]
    assert during and not [a for a in during if a[1]], during


def test_after_a_rolled_back_canary_an_unqualified_call_gets_the_live_model(
    rollout_stage: ops.Settings, tmp_path: Path
) -> None:
    """#36 finding 4: $LATEST (what an Invoke without a qualifier runs) kept pinning the model
    last published, the rejected canary's."""
    from ops.modelfiles.demo_model import save_demo_model

    _, live_model_version = _live(rollout_stage)
    # GIVEN a canary rolled back (no traffic in its bake: too little to judge it)
    result = ops.upload_model(
        save_demo_model(tmp_path / "rejected.pkl", n_rows=3300).path,
        rollout="canary",
        percent=10,
        bake_minutes=0,
        progress=False,
        settings=rollout_stage,
    )
    assert result.rollout is not None and not result.rollout.promoted
    # WHEN a client invokes the function without a qualifier
    answer = _lambda(rollout_stage).invoke(
        FunctionName=_function(rollout_stage),
        Payload=json.dumps({contract.EVENT_DESCRIBE: {}}).encode(),
    )
    # THEN the live model answers, not the rejected one
    described = json.loads(answer["Payload"].read())
    assert described["model"]["version_id"] == live_model_version != result.version_id


def test_a_model_of_other_inputs_is_refused_before_any_caller_sees_it(
    rollout_stage: ops.Settings, models: dict[str, Path], traffic: Traffic
) -> None:
    # GIVEN a model fitted on a feature the live clients do not send (AWS guidance: check a new
    # version before shifting traffic)
    old_function, old_model = _live(rollout_stage)
    # WHEN it is rolled out as a canary
    result = _roll_out(rollout_stage, models["other_inputs"], "canary", 20, UNSPIKED)
    # THEN it is refused before any traffic step, naming the inputs, and no caller reached it
    record = result.rollout
    assert record is not None and record.outcome == "rolled back", record
    assert "expects other inputs" in record.reason and "latency_in_seconds" in record.reason
    assert record.steps == ()
    assert traffic.served(record.function_version) == 0
    assert _live(rollout_stage) == (old_function, old_model)


def test_a_model_that_disagrees_with_the_live_one_is_stopped_before_traffic(
    rollout_stage: ops.Settings, models: dict[str, Path], traffic: Traffic
) -> None:
    # GIVEN a model trained on the opposite labels (valid inputs, wrong answers), and a team
    # that requires 90% agreement with the live model
    old_function, old_model = _live(rollout_stage)
    strict = Guardrails(max_traffic_ratio=None, min_agreement=0.9)
    # WHEN it is rolled out as a canary
    result = _roll_out(rollout_stage, models["inverted"], "canary", 20, strict)
    # THEN it is stopped before any caller sees it, with its agreement said
    record = result.rollout
    assert record is not None and record.outcome == "rolled back", record
    assert "agrees with the live version on" in record.reason and "under the 90%" in record.reason
    print("stopped:", record.reason)
    assert record.steps == () and traffic.served(record.function_version) == 0
    assert _live(rollout_stage) == (old_function, old_model)


def test_the_checks_before_traffic_do_not_count_against_the_new_version(
    rollout_stage: ops.Settings, models: dict[str, Path], demo_model: DemoModel
) -> None:
    from ops.modelfiles import demo_model as demo

    # the demo model live, whatever the stage's earlier rollouts left (the agreement check
    # compares the new model with the live one)
    ops.upload_model(demo_model.path, settings=rollout_stage)
    # GIVEN a model that refuses some of the live model's rows for their values (a log of a
    # feature that may be 0), so the check before traffic gets one invalid answer from it; and
    # light traffic of rows it accepts (a canary judged on few calls)
    rows = [
        r
        for r in ops.sample_rows(3000, seed=21)
        if all(float(r[name]) > 0 for name in demo.NUMERIC)
    ]
    light = Traffic(rollout_stage, rows=rows, pause=0.4)
    thread = threading.Thread(target=light.run, daemon=True)
    thread.start()
    time.sleep(2)
    try:
        # WHEN it is rolled out as a canary
        result = _roll_out(
            rollout_stage,
            models["refuses"],
            "canary",
            40,
            # judged on invalid requests: latency and the call count are not this test's
            # subject, and under `make test`'s other worker's load they are noise
            Guardrails(
                max_traffic_ratio=None, min_invocations=1, max_p99_ratio=100.0, p99_margin_ms=5e3
            ),
        )
    finally:
        light.stop.set()
        thread.join(timeout=30)
    # THEN it is judged on its callers' requests only: the check's refused request is not
    # among its invalid ones, and it is promoted (no caller's request failed)
    record = result.rollout
    assert record is not None and "agrees with the live version" in record.agreement
    assert record.outcome == "promoted", (record.reason, record.steps)
    assert record.steps[-1].new.invalid == 0, record.steps[-1].new
    assert light.failures(record.function_version) == 0
