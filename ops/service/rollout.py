"""Safe model rollout: a new model serves a share of calls through a weighted alias, is judged
on its own metrics against the old version's, and is promoted or rolled back by itself.

Mechanism (and why not CodeDeploy): ``ops`` shifts the ``live`` alias's weights itself
(``UpdateAlias`` with ``RoutingConfig``,
https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html). A model change is
not a CloudFormation update here (``upload_model`` publishes a function version pinning the
model), CodeDeploy's Lambda deployments would need an application, a deployment group, a
service role and an AppSpec per rollout for the same alias move, and the local target would
have to emulate CodeDeploy too. The guardrails read the same CloudWatch metrics CodeDeploy's
alarms would (``AWS/Lambda`` by ``ExecutedVersion``), so the judgement is AWS's data either way.

Strategies: ``all-at-once`` (the alias moves; no bake), ``canary`` (``percent`` of calls for
``bake_minutes``, then all) and ``linear`` (``percent`` more every ``bake_minutes``). While a
rollout bakes, the process that started it judges it (the controller). Before the new version's
first call it starts the stage's rollout guard (``rollout_guard``), a workflow beside the
function: if the controller dies, the guard moves every call back to the old version at the
bake's planned end plus a grace (``rollout_guard.deadline_seconds``); ``rollback_model`` ends a
split sooner.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from ops.display import Card, Shown
from ops.errors import ConcurrentChangeError, ConfigurationError, OpsError
from ops.inputs import validate
from ops.service import live_model, rollout_guard
from ops.service.agreement import WARN_UNDER, LiveRows, measure
from ops.service.function import image_sklearn, verify_live
from ops.service.probes import Probe
from ops.service.signing import sign, verify
from ops.targets import Target
from reintento_function import contract

Strategy = Literal["all-at-once", "canary", "linear"]
STRATEGIES: tuple[str, ...] = ("all-at-once", "canary", "linear")
PERIOD = 60  # seconds: the CloudWatch period the figures are read at (standard resolution)
BASELINE_LAG = 3 * PERIOD  # how much longer a bake's baseline window reaches back (late metrics)


@dataclass(frozen=True)
class Guardrails:
    """When a new version is rolled back, read on the versions' own metrics during the bake.

    - ``max_error_rate``: the new version's function errors over its invocations;
    - ``max_invalid_increase``: its share of invalid requests above the old version's (a model
      that refuses inputs the old one accepted);
    - ``max_p99_ratio`` and ``p99_margin_ms``: its p99 duration over the old version's, breached
      only when also ``p99_margin_ms`` slower (noise on fast models); ``max_p99_ms``: an absolute
      cap (default: 80% of the function's timeout);
    - ``min_invocations``: fewer calls than this on the new version by the end of the bake is
      too little to judge, and rolls back (say 0 to promote on no traffic);
    - ``max_errors`` and ``max_invalid_excess``: absolute caps beside the ratios (the new
      version's failed calls; its invalid requests beyond the old version's share), which extra
      calls cannot dilute: a caller that adds 10,000 good calls lowers a ratio, not a count;
    - ``max_traffic_ratio``: calls through the alias during the bake over the same time before
      it; more than this many times (and more than ``spike_floor`` calls) cannot be judged (one
      caller may be diluting the ratios) and rolls back. None turns it off;
    - ``min_agreement``: before any traffic, the share of the live model's rows on which the
      new version answers as the live version does (the same label; for a regressor a value
      within ``agreement_tolerance``, relative); under it, the rollout ends before a caller sees
      the new version. None (the default) only says so in the record under 90%.
    """

    max_error_rate: float = 0.01
    max_invalid_increase: float = 0.05
    max_p99_ratio: float = 2.0
    p99_margin_ms: float = 20.0
    max_p99_ms: float | None = None
    min_invocations: int = 10
    max_errors: int = 5
    max_invalid_excess: int = 10
    max_traffic_ratio: float | None = 10.0
    spike_floor: int = 100
    min_agreement: float | None = None
    agreement_tolerance: float = 0.1

    def __post_init__(self) -> None:
        """Refuse a guardrail that cannot mean anything, naming it (shares are 0 to 1)."""
        for share in ("max_error_rate", "max_invalid_increase", "min_agreement"):
            value = getattr(self, share)
            if value is not None and not validate.within(value, 0.0, 1.0):
                raise ConfigurationError(
                    f"{share}={value!r} must be a share from 0 to 1 (0.9 is 90%)"
                )
        for count in ("min_invocations", "max_errors", "max_invalid_excess", "spike_floor"):
            validate.integer(count, getattr(self, count), low=0, high=10**9)
        for amount in ("p99_margin_ms", "max_p99_ms", "agreement_tolerance"):
            value = getattr(self, amount)
            if value is not None:
                validate.number(amount, value, low=0.0, high=1e9)
        for ratio in ("max_p99_ratio", "max_traffic_ratio"):
            value = getattr(self, ratio)
            if value is not None and not (validate.within(value, 0.0, 1e9) and value > 0):
                raise ConfigurationError(f"{ratio}={value!r} must be a number above 0, e.g. 2.0")


@dataclass(frozen=True)
class Figures:
    """One function version's calls during a window (CloudWatch, by ``ExecutedVersion``)."""

    function_version: str
    invocations: int = 0
    errors: int = 0
    invalid: int = 0
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.invocations if self.invocations else 0.0

    @property
    def invalid_rate(self) -> float:
        return self.invalid / self.invocations if self.invocations else 0.0

    def line(self) -> str:
        p99 = f"{self.p99_ms:.0f} ms" if self.p99_ms is not None else "-"
        return f"{self.invocations} calls, {self.errors} errors, {self.invalid} invalid, p99 {p99}"


def breach(new: Figures, old: Figures, guardrails: Guardrails, cap_ms: float) -> str | None:
    """Why the new version must be rolled back now (None: no breach so far)."""
    g = guardrails
    if new.invocations and new.error_rate > g.max_error_rate:
        return (
            f"version {new.function_version} failed {new.errors} of {new.invocations} calls "
            f"({new.error_rate:.1%}, over the {g.max_error_rate:.1%} allowed)"
        )
    if new.errors > g.max_errors:
        return (
            f"version {new.function_version}: {new.errors} calls failed, over the "
            f"{g.max_errors} allowed whatever the number of calls"
        )
    if new.invocations and new.invalid_rate > old.invalid_rate + g.max_invalid_increase:
        return (
            f"version {new.function_version} refused {new.invalid} of {new.invocations} requests "
            f"as invalid ({new.invalid_rate:.1%}; the old version {old.invalid_rate:.1%})"
        )
    excess = new.invalid - old.invalid_rate * new.invocations
    if excess > g.max_invalid_excess:
        return (
            f"version {new.function_version} refused {new.invalid} requests as invalid, "
            f"{excess:.0f} more than the old version's share would (at most "
            f"{g.max_invalid_excess} allowed whatever the number of calls)"
        )
    if new.p99_ms is not None:
        if new.p99_ms > cap_ms:
            return (
                f"version {new.function_version}'s p99 duration {new.p99_ms:.0f} ms is over "
                f"{cap_ms:.0f} ms"
            )
        if (
            old.p99_ms is not None
            and new.p99_ms > old.p99_ms * g.max_p99_ratio
            and new.p99_ms > old.p99_ms + g.p99_margin_ms
        ):
            return (
                f"version {new.function_version}'s p99 duration {new.p99_ms:.0f} ms is "
                f"{new.p99_ms / old.p99_ms:.1f}x the old version's {old.p99_ms:.0f} ms "
                f"(at most {g.max_p99_ratio:g}x allowed)"
            )
    return None


def spike(
    during: int, before: int, elapsed_s: float, window_s: float, guardrails: Guardrails
) -> str | None:
    """ "Cannot judge" when the calls during the bake (``during``, in ``elapsed_s``) are more than
    ``max_traffic_ratio`` times the calls in the same time before it (``before`` in
    ``window_s``), and more than ``spike_floor``: one caller may be diluting the ratios."""
    g = guardrails
    if g.max_traffic_ratio is None or during <= g.spike_floor:
        return None
    expected = before * elapsed_s / window_s if window_s > 0 else float(before)
    if during <= g.max_traffic_ratio * expected:
        return None
    return (
        f"cannot judge: {during} calls through the live alias during the bake, over "
        f"{g.max_traffic_ratio:g} times the {expected:.0f} of the same time before it (a spike "
        "dilutes the guardrails' ratios); roll out again when traffic is ordinary, or raise the "
        "limit (CLI `--max-traffic-ratio`, Python `Guardrails(max_traffic_ratio=...)`)"
    )


def too_little(new: Figures, guardrails: Guardrails) -> str | None:
    if new.invocations < guardrails.min_invocations:
        return (
            f"version {new.function_version} got {new.invocations} call(s) during the bake, "
            f"under the {guardrails.min_invocations} needed to judge it; roll out when there "
            "is traffic, or lower the minimum (CLI `--min-invocations 0`, Python "
            "`Guardrails(min_invocations=0)`)"
        )
    return None


def weights(strategy: str, percent: float) -> tuple[float, ...]:
    """The shares of calls the new version gets, step by step, before it gets them all."""
    if strategy not in STRATEGIES:
        raise ConfigurationError(
            f"rollout must be one of {', '.join(STRATEGIES)}, not {strategy!r}"
        )
    if strategy == "all-at-once":
        return ()
    if not 0 < percent < 100:
        raise ConfigurationError(
            f"percent must be between 0 and 100 (exclusive) for a {strategy} rollout, not "
            f"{percent}; e.g. percent=10"
        )
    if strategy == "canary":
        return (percent / 100,)
    steps = math.ceil(100 / percent) - 1
    return tuple(round(percent * (i + 1) / 100, 4) for i in range(steps))


# --------------------------------------------------------------------------- metrics


def _query(qid: str, namespace: str, metric: str, dims: dict[str, str], stat: str) -> Any:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            },
            "Period": PERIOD,
            "Stat": stat,
        },
    }


def read_figures(
    target: Target, version: str, since: datetime, until: datetime | None = None
) -> Figures:
    """``version``'s calls through the live alias since ``since``: AWS/Lambda's Invocations,
    Errors and p99 Duration by ``ExecutedVersion`` (with ``Resource``, the alias), and the
    function's own invalid-request count for that version."""
    lam = target.client("lambda")
    name = target.outputs.function_name
    config = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    env = (config.get("Environment") or {}).get("Variables") or {}
    function_dim, version_dim = contract.VERSION_DIMENSIONS
    # Lambda's version-scoped metrics: calls through the alias, by the version that ran them
    # (direct calls of a version, like ops' own check of a new one, are not among them)
    dims = {function_dim: name, "Resource": f"{name}:{contract.LIVE_ALIAS}", version_dim: version}
    own = {
        function_dim: name,
        version_dim: version,
        "service": str(env.get("POWERTOOLS_SERVICE_NAME", "")),
    }
    queries = [
        _query("n", "AWS/Lambda", "Invocations", dims, "Sum"),
        _query("e", "AWS/Lambda", "Errors", dims, "Sum"),
        _query("d", "AWS/Lambda", "Duration", dims, "p99"),
        _query(
            "i",
            str(env.get("POWERTOOLS_METRICS_NAMESPACE", "")),
            contract.INVALID_REQUESTS_METRIC,
            own,
            "Sum",
        ),
    ]
    start = since.replace(second=0, microsecond=0)
    answer = target.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries,
        StartTime=start,
        EndTime=until or datetime.now(UTC) + timedelta(seconds=PERIOD),
    )
    values = {r["Id"]: [float(v) for v in r.get("Values", [])] for r in answer["MetricDataResults"]}
    durations = values.get("d") or []
    return Figures(
        version,
        int(sum(values.get("n") or [])),
        int(sum(values.get("e") or [])),
        int(sum(values.get("i") or [])),
        max(durations) if durations else None,  # the worst minute's p99
    )


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class RolloutStep:
    percent: float
    new: Figures
    old: Figures


@dataclass(frozen=True)
class RolloutRecord(Shown):
    """A rollout: who rolled what out, how, when, the figures it was judged on, the outcome."""

    strategy: str
    outcome: Literal["promoted", "rolled back"]
    model_version: str
    function_version: str
    previous_model_version: str
    previous_function_version: str
    started: str
    ended: str
    who: str
    reason: str = ""
    bake_minutes: float = 0.0
    steps: tuple[RolloutStep, ...] = field(default=(), repr=False)
    # before any traffic, the new version's agreement with the live one on the live model's rows
    agreement: str = ""

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"

    def card(self) -> Card:
        last = self.steps[-1] if self.steps else None
        return Card(
            "Model rollout",
            f"{self.strategy}: model version {self.model_version} {self.outcome}"
            + (f": {self.reason}" if self.reason else ""),
            ok=self.promoted,
            key=(
                ("strategy", self.strategy),
                ("outcome", self.outcome),
                ("new", f"model {self.model_version}, function version {self.function_version}"),
                (
                    "old",
                    f"model {self.previous_model_version}, function version "
                    f"{self.previous_function_version}",
                ),
            ),
            details=(
                ("before traffic", self.agreement or None),
                ("steps", ", ".join(f"{s.percent:g}%" for s in self.steps)),
                ("new version", last.new.line() if last else None),
                ("old version", last.old.line() if last else None),
                ("started", self.started),
                ("ended", self.ended),
                ("by", self.who),
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "outcome": self.outcome,
            "reason": self.reason,
            "agreement": self.agreement,
            "model_version": self.model_version,
            "previous_model_version": self.previous_model_version,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def records_prefix(model_key: str) -> str:
    """Where rollout records are kept: beside the model (``m/x.pkl``: ``m/x.rollouts/``)."""
    return model_key.rsplit(".", 1)[0] + ".rollouts/"


def save_record(target: Target, record: RolloutRecord) -> str:
    # named by when it ended and what it was: ``...-promoted.json``, ``...-rolled-back.json``
    # (a rollout), ``...-rollback.json`` (a rollback by hand)
    what = "rollback" if record.strategy == "rollback" else record.outcome.replace(" ", "-")
    name = f"{record.ended}-{what}.json"
    key = records_prefix(target.settings.model_key) + name
    body = record.to_json().encode()
    message = contract.record_signing_message(key, hashlib.sha256(body).hexdigest())
    target.client("s3").put_object(
        Bucket=target.model_bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        # signed with the deployer's key: a writer of the bucket without kms:Sign cannot add
        # or change a record that rollback_model, restore_live or list_models would believe
        Metadata={contract.SIGNATURE_METADATA: sign(target, message)},
    )
    return key


# what save_record names a record: when it ended, then what it was (anything else under the
# prefix is not read: a bucket writer's junk costs no GET and no kms:Verify)
_RECORD_NAME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z-(?:promoted|rolled-back|rollback)\.json"
)


def is_record_name(key: str) -> bool:
    """Whether the last part of ``key`` is a name ``save_record`` gives."""
    return _RECORD_NAME.fullmatch(key.rsplit("/", 1)[-1]) is not None


def _record_keys(target: Target) -> list[tuple[str, str | None]]:
    """(key, version id) of each rollout record beside the model, oldest first: the *first*
    version written at each name ``save_record`` gives (it writes each name once). A bucket
    writer can put a newer version over a record, or a delete marker on it; neither hides the
    record ops signed, and anything else under the prefix is not read."""
    first: dict[str, str | None] = {}
    for page in (
        target.client("s3")
        .get_paginator("list_object_versions")
        .paginate(Bucket=target.model_bucket, Prefix=records_prefix(target.settings.model_key))
    ):
        for version in page.get("Versions", []):  # each key's versions come newest first
            if is_record_name(str(version["Key"])):
                first[str(version["Key"])] = version.get("VersionId")
    return sorted(first.items())


def _signed_record(target: Target, key: str, version: str | None) -> dict[str, Any] | None:
    """The record at ``key`` (its ``version``) if the deployer's key signed it there (else
    None: it decides nothing)."""
    which = {"VersionId": version} if version and version != "null" else {}
    answer = target.client("s3").get_object(Bucket=target.model_bucket, Key=key, **which)
    body = answer["Body"].read()
    message = contract.record_signing_message(key, hashlib.sha256(body).hexdigest())
    signature = (answer.get("Metadata") or {}).get(contract.SIGNATURE_METADATA)
    if not verify(target, message, signature):
        return None
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def load_records(target: Target) -> list[dict[str, Any]]:
    """Every rollout record kept beside the model that the deployer's key signed, oldest first
    (as JSON objects); an unsigned, changed or moved record is left out. Verified a few at a
    time (one GET and one ``kms:Verify`` each)."""
    keys = _record_keys(target)
    with ThreadPoolExecutor(max_workers=8) as pool:
        records = list(pool.map(lambda kv: _signed_record(target, *kv), keys))
    return [record for record in records if record is not None]


def previous_live(records: list[dict[str, Any]], model_version: str) -> str | None:
    """The model that was live before ``model_version`` was last rolled out (None: not
    recorded). Rollbacks are skipped, so rolling back again walks further back."""
    for record in reversed(records):
        if record.get("strategy") == "rollback":
            continue
        if record.get("outcome") == "promoted" and record.get("model_version") == model_version:
            return str(record.get("previous_model_version") or "") or None
    return None


def restore_live(target: Target) -> str:
    """After a deploy rewrote the function: the live model again, on the new code. A function
    deployed afresh (after a teardown that kept the models) has no live alias yet: it gets the
    model a signed record shows live last (without one, none: ops does not guess). The new
    code's published version must serve the model before the alias moves to it.

    A model the new code cannot load (saved with another scikit-learn than the new image's,
    after ``pin-function``) is not moved onto it: the alias keeps the published version that
    serves it, and the answer (else empty) says what to do."""
    served, revision = live_model.read(target)
    if len(served) > 1:  # a rollout is running: its controller moves the alias, not a deploy
        return (
            "a rollout was running during the deploy: the live alias was left as it is (the "
            "rollout ends on versions of the old code); upload the model again afterwards to "
            "serve it on the new code"
        )
    live = served[0] if served else None
    if live is not None and not live.model_version:
        return ""
    version = live.model_version if live is not None else _last_live(target)
    if not version:  # no signed record shows a model live: serve none rather than guess
        return ""
    s3 = target.client("s3")
    try:
        head = s3.head_object(
            Bucket=target.model_bucket,
            Key=target.settings.model_key,
            VersionId=version,
        )
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code"))
        if code in ("404", "403", "NoSuchKey", "NoSuchVersion", "AccessDenied"):
            return ""  # no model uploaded yet (or none this caller may see): nothing to serve
        raise
    metadata = head.get("Metadata") or {}
    saved, runs = metadata.get(contract.SKLEARN_METADATA), image_sklearn(target)
    if saved and runs and saved != runs:
        kept = (
            f"function version {live.function_version} (built before) keeps serving it"
            if live is not None
            else "nothing serves it"
        )
        return (
            f"the live model (S3 version {head.get('VersionId')}) was saved with scikit-learn "
            f"{saved} and the function now runs {runs}: {kept}; upload a model saved with "
            f"scikit-learn {runs} to serve it on the new code"
        )
    sha256 = metadata.get(contract.SHA256_METADATA)
    if not sha256 or not head.get("VersionId"):
        return ""
    return _serve_on_new_code(target, str(head["VersionId"]), str(sha256), live, revision)


def _serve_on_new_code(
    target: Target,
    version: str,
    sha256: str,
    live: live_model.Share | None,
    revision: str | None,
) -> str:
    """Publish the new code pinning ``version``; move the alias there only once it serves it
    (and nobody moved the alias since ``revision``); else say why, the alias left as it is."""
    published = live_model.publish(target, version, sha256)
    try:
        verify_live(target, version, qualifier=published)
    except OpsError as err:
        kept = f"function version {live.function_version} keeps serving it" if live else ""
        return (
            f"the live model (S3 version {version}) does not load on the new code ({err}); "
            f"{kept or 'nothing serves it'}: upload a model the new code loads"
        )
    live_model.route(target, published, revision=revision)
    return ""


def _last_live(target: Target) -> str:
    """The model version the signed rollout records show live last ("" without any)."""
    for key, version in reversed(_record_keys(target)):  # newest first: verify what decides
        record = _signed_record(target, key, version)
        if record is not None and record.get("outcome") == "promoted":
            return str(record.get("model_version") or "")
    return ""


def who(target: Target) -> str:
    try:
        return str(target.client("sts").get_caller_identity()["Arn"])
    except Exception:  # the record is still worth keeping without it
        return "unknown"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- the controller


@dataclass(frozen=True)
class Candidate:
    """What a rollout moves between: the old and the new published versions and models."""

    old: live_model.Share
    new_function_version: str
    model_version: str
    revision: str | None = None  # the live alias's RevisionId when the rollout read it
    probe: Probe | None = None  # the model's own rows and model.predict's answers for them
    live: LiveRows | None = None  # rows as the live model's clients send them


def _route_back(target: Target, old_fv: str, new_fv: str, revision: str | None) -> None:
    """Every call back on ``old_fv`` after an interrupted bake. A move of this rollout's own
    may have been applied without its answer (so ``revision`` is stale): if the alias is still
    split as this rollout splits it, it is this rollout's to move back."""
    try:
        live_model.route(target, old_fv, revision=revision)
    except ConcurrentChangeError:
        served, fresh = live_model.read(target)
        if [s.function_version for s in served] not in ([old_fv, new_fv], [old_fv]):
            raise
        live_model.route(target, old_fv, revision=fresh)


@dataclass(frozen=True)
class _Baseline:
    """The calls through the alias in the same time before the bake (all on the old version):
    what a spike during the bake is measured against."""

    start: datetime  # the bake's first minute (CloudWatch's figures are per minute)
    calls: int
    window_s: float
    invalid_rate: float = 0.0  # the old version's share of invalid requests before the bake
    delay_s: float = 0.0  # how long after a call its metrics can be read (the target's)

    @classmethod
    def read(cls, target: Target, old_fv: str, since: datetime, bake_seconds: float) -> _Baseline:
        """The bake's length and ``BASELINE_LAG`` more before it, up to its first minute:
        Lambda's metrics arrive a minute or more after the calls, so a window of the last
        minutes alone would read as no traffic and every busy bake as a spike (the lag's own
        minutes may read low, which only makes "cannot judge" likelier: the safe side)."""
        start = since.replace(second=0, microsecond=0)
        window = max(1, math.ceil(bake_seconds / PERIOD)) * PERIOD + BASELINE_LAG
        before = read_figures(target, old_fv, start - timedelta(seconds=window), until=start)
        delay = target.metrics_delay_seconds()
        return cls(start, before.invocations, float(window), before.invalid_rate, delay)

    def judging(self, old: Figures) -> Figures:
        """The old version's figures the new one is judged against: its share of invalid
        requests no higher than before the bake, so a caller who sends requests only the old
        version refuses cannot raise the bar the new version must clear."""
        cap = round(self.invalid_rate * old.invocations)
        return dataclasses.replace(old, invalid=min(old.invalid, cap))

    def spike(self, target: Target, versions: tuple[str, str], g: Guardrails) -> str | None:
        """Judged on the bake's whole minutes only: its first minute's figures also hold the
        calls made before the rollout began in that minute (none judged in a bake's first
        minute), and over the time whose metrics have arrived (the last ``delay_s`` are not
        in yet)."""
        if g.max_traffic_ratio is None:
            return None
        first_whole = self.start + timedelta(seconds=PERIOD)
        # the whole minutes whose calls' metrics have all arrived (later ones may be partly in)
        arrived = datetime.now(UTC) - timedelta(seconds=self.delay_s)
        until = arrived.replace(second=0, microsecond=0)
        elapsed = (until - first_whole).total_seconds()
        if elapsed <= 0:
            return None
        during = sum(read_figures(target, v, first_whole, until).invocations for v in versions)
        return spike(during, self.calls, elapsed, self.window_s, g)


@dataclass(frozen=True)
class _Checked:
    """What the checks before traffic found: why the new version is refused (None: it is
    not), its agreement as the record says it, and how many of the new version's invalid
    requests the checks themselves caused (taken out of the figures the bake judges)."""

    reason: str | None
    agreement: str = ""
    own_invalid: int = 0


def _first_checks(
    target: Target,
    candidate: Candidate,
    guardrails: Guardrails,
    progress: Callable[[str], None] | None,
) -> _Checked:
    """Before any caller sees the new version: the model's own rows must get model.predict's
    answers, and the live model's rows must fit it (its agreement with the live version is
    measured)."""
    old_fv, new_fv = candidate.old.function_version, candidate.new_function_version
    probe = candidate.probe
    reason = probe.check(target, new_fv) if probe is not None else None
    if reason is not None:
        return _Checked(reason)
    if candidate.live is None:
        return _unmeasured(new_fv, "the live model's signed manifest was not found", guardrails)
    checked = _before_traffic(target, (old_fv, new_fv), candidate.live, guardrails)
    if progress is not None and checked.agreement:
        progress(f"before traffic: version {new_fv} {checked.agreement}")
    return checked


def _unmeasured(version: str, why: str, g: Guardrails) -> _Checked:
    """No agreement to judge: a required one is not met, else the record says so."""
    said = f"agreement not measured ({why})"
    if g.min_agreement is not None:
        return _Checked(f"cannot judge version {version} before traffic: {said}", said)
    return _Checked(None, said)


def _before_traffic(
    target: Target, versions: tuple[str, str], live: LiveRows, g: Guardrails
) -> _Checked:
    measured = measure(target, versions, live, g.agreement_tolerance)
    if measured is None:
        return _unmeasured(versions[1], "the live version did not answer its own rows", g)
    if isinstance(measured, str):
        return _Checked(measured)
    said, own = measured.line(), measured.refused_requests
    if g.min_agreement is not None and measured.share < g.min_agreement:
        return _Checked(
            f"version {versions[1]} {said}, under the {g.min_agreement:.0%} required, so no "
            "caller was routed to it (lower the minimum: CLI `--min-agreement`, Python "
            "`Guardrails(min_agreement=...)`)",
            said,
            own,
        )
    if g.min_agreement is None and measured.share < WARN_UNDER:
        said += f"; under {WARN_UNDER:.0%}: check it is the model you meant"
    return _Checked(None, said, own)


def _watch(
    target: Target,
    versions: tuple[str, str],
    baseline: _Baseline,
    share: float,
    bake_seconds: float,
    guardrails: Guardrails,
    cap_ms: float,
    progress: Callable[[str], None] | None,
    probe: Probe | None = None,
    own_invalid: int = 0,
    settle_s: float = 0.0,
) -> tuple[RolloutStep, str | None]:
    """Judge the new version at ``share`` of the calls until the bake ends or it breaches (or
    a spike makes it impossible to judge); the step's figures and the reason (None: it held)."""
    old_fv, new_fv = versions
    deadline = time.monotonic() + bake_seconds
    poll = min(30.0, max(1.0, (bake_seconds + settle_s) / 10))
    if settle_s > 0 and progress is not None:
        progress(
            f"the last step is judged {settle_s:.0f} s after its bake ends, once CloudWatch "
            "has its calls' metrics (Lambda sends them in 1-minute intervals)"
        )
    deadline += settle_s
    shown = ""  # a line is said when the figures change, not at every poll
    while True:
        new = read_figures(target, new_fv, baseline.start)
        # the checks before traffic called the version directly: not among its alias calls,
        # but a request it refused is among its invalid requests
        new = dataclasses.replace(new, invalid=max(0, new.invalid - own_invalid))
        old = read_figures(target, old_fv, baseline.start)
        reason = (
            breach(new, baseline.judging(old), guardrails, cap_ms)
            or baseline.spike(target, versions, guardrails)
            or (probe.check(target, new_fv) if probe is not None else None)
        )
        line = f"{share:.0%} on version {new_fv}: {new.line()}; old: {old.line()}"
        if progress is not None and line != shown:
            progress(line)
            shown = line
        if reason is not None or time.monotonic() >= deadline:
            return RolloutStep(share * 100, new, old), reason
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def bake(
    target: Target,
    candidate: Candidate,
    strategy: str,
    percent: float,
    bake_minutes: float,
    guardrails: Guardrails,
    cap_ms: float,
    progress: Callable[[str], None] | None = None,
) -> RolloutRecord:
    """Shift calls to the new version step by step, judging it as it serves; promote it, or
    put every call back on the old version and say why."""
    started = now_text()
    since = datetime.now(UTC)
    old_fv, new_fv = candidate.old.function_version, candidate.new_function_version
    bake_seconds = max(0.0, bake_minutes * 60)
    steps: list[RolloutStep] = []
    revision = candidate.revision  # every move only if nobody else moved the alias meanwhile
    baseline = _Baseline.read(target, old_fv, since, bake_seconds)
    probe = candidate.probe
    checked = _first_checks(target, candidate, guardrails, progress)
    reason = checked.reason
    shares = weights(strategy, percent) if reason is None else ()
    # the guard ends the rollout if this process stops before it does (and holds the lock)
    waited = rollout_guard.deadline_seconds(
        len(shares), len(shares) * bake_seconds + baseline.delay_s
    )
    guard = rollout_guard.start(target, (old_fv, new_fv), revision, waited) if shares else None
    try:
        for share in shares:
            revision = live_model.route(target, old_fv, new_fv, share, revision=revision)
            judged = (baseline, share, bake_seconds, guardrails, cap_ms)
            # a step's figures count from the bake's start, so a step's late calls are judged
            # in the next one; the last step waits until its own are in before the verdict
            settle = baseline.delay_s if share == shares[-1] else 0.0
            step, reason = _watch(
                target, (old_fv, new_fv), *judged, progress, probe, checked.own_invalid, settle
            )
            steps.append(step)
            if reason is not None:
                break
        if reason is None and steps:
            reason = too_little(steps[-1].new, guardrails)
        live_model.route(target, new_fv if reason is None else old_fv, revision=revision)
    except ConcurrentChangeError:
        raise  # someone else moved the alias (an upload, a rollback): it is theirs now
    except BaseException:  # interrupted or failed mid-bake: every call back on the old version
        _route_back(target, old_fv, new_fv, revision)
        raise
    finally:
        if guard is not None:
            rollout_guard.stop_quietly(target, guard)
    ended = (reason, tuple(steps), checked.agreement)
    return _record(target, candidate, (strategy, bake_minutes), started, ended)


def _record(
    target: Target,
    candidate: Candidate,
    how: tuple[str, float],
    started: str,
    ended: tuple[str | None, tuple[RolloutStep, ...], str],
) -> RolloutRecord:
    """What a rollout did: promoted (``reason`` None) or rolled back, and its steps."""
    (strategy, bake_minutes), (reason, steps, agreement) = how, ended
    return RolloutRecord(
        strategy=strategy,
        outcome="promoted" if reason is None else "rolled back",
        model_version=candidate.model_version,
        function_version=candidate.new_function_version,
        previous_model_version=candidate.old.model_version,
        previous_function_version=candidate.old.function_version,
        started=started,
        ended=now_text(),
        who=who(target),
        reason=reason or "",
        bake_minutes=bake_minutes,
        steps=steps,
        agreement=agreement,
    )
