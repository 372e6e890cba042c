"""The model store: upload a model (checked, recorded and signed), roll back, list versions.

The sha256 and the scikit-learn version travel as S3 object metadata, signed with the model
stack's KMS key (``kms:Sign``, which only the deploying principal may use); the function verifies
the signature, then the sha256, before unpickling. A rollback copies a version with its
metadata, so the restored model carries the signature it was uploaded with. The manifest JSON
is stored beside the model for people and tools.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

from botocore.exceptions import ClientError

from ops.aws.faults import user_facing
from ops.display import Card, Link, Plan, Shown, progress_lines
from ops.errors import (
    ConcurrentChangeError,
    ConfigurationError,
    ModelNotUploadedError,
    ModelRefusedError,
    ModelVersionMismatchError,
    StackNotDeployedError,
)
from ops.inputs import validate
from ops.modelfiles.engine import (
    ENGINE_ASKED,
    ENGINE_ASKED_TOLERANCE,
    EngineChoice,
    EngineName,
    check_engine,
    engine_for,
)
from ops.modelfiles.local_model import function_sklearn, mismatch_advice
from ops.modelfiles.manifest import (
    ModelManifest,
    describe_file,
    ensure_manifest,
    manifest_object_key,
)
from ops.modelfiles.versions import DEFAULT_MODEL_PATH
from ops.service import live_model, rollout_guard
from ops.service.agreement import LiveRows, live_rows
from ops.service.function import image_sklearn, verify_live
from ops.service.probes import Probe
from ops.service.rollout import (
    Candidate,
    Guardrails,
    RolloutRecord,
    bake,
    load_records,
    now_text,
    previous_live,
    save_record,
    weights,
    who,
)
from ops.service.signing import sign
from ops.settings import Settings
from ops.targets import Target, target_for
from reintento_function import contract

SHA256 = contract.SHA256_METADATA
SKLEARN = contract.SKLEARN_METADATA


@dataclass(frozen=True)
class UploadResult(Shown):
    """Where the model went and which version the function now serves.

    ``live`` is True when every invocation of the function (its ``live`` alias) from now on is
    answered by this model version: the alias points at a published function version pinning it,
    and that version answered with it."""

    uri: str
    version_id: str | None
    sha256: str
    sklearn_version: str
    live: bool
    seconds_to_live: float = field(default=0.0, repr=False, compare=False)
    function_version: str = field(default="", repr=False, compare=False)
    links: tuple[Link, ...] = field(default=(), repr=False, compare=False)
    rollout: RolloutRecord | None = field(default=None, repr=False, compare=False)
    # the file was the live model already: nothing was uploaded
    unchanged: bool = field(default=False, repr=False, compare=False)
    # which engine serves it ("onnx" or "sklearn") and why (ops.modelfiles.engine)
    engine: str = field(default="", repr=False, compare=False)
    engine_reason: str = field(default="", repr=False, compare=False)

    def _headline(self) -> str:
        if self.unchanged:
            return (
                f"unchanged: the live model already is this file (version {self.version_id}); "
                "nothing uploaded"
            )
        if self.rollout is not None and not self.rollout.promoted:
            return f"rolled back ({self.rollout.strategy}): {self.rollout.reason}"
        if self.live:
            return f"live: every call is now answered by version {self.version_id}"
        return f"uploaded as version {self.version_id}; not waited for"

    def card(self) -> Card:
        rollout = self.rollout
        return Card(
            "Model upload",
            self._headline(),
            ok=self.live,
            key=(
                ("model version", self.version_id),
                ("sha256", self.sha256),
                ("scikit-learn", self.sklearn_version),
                ("engine", self.engine_reason or None),
                ("function version", self.function_version),
                ("rollout", f"{rollout.strategy}, {rollout.outcome}" if rollout else None),
            ),
            details=(
                ("object", self.uri),
                (
                    "seconds to live",
                    round(self.seconds_to_live, 1) if self.live and self.seconds_to_live else None,
                ),
                *(rollout.card().details if rollout is not None and rollout.steps else ()),
            ),
            links=self.links,
        )

    def record(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "version_id": self.version_id,
            "sha256": self.sha256,
            "sklearn_version": self.sklearn_version,
            "live": self.live,
            "unchanged": self.unchanged,
            "rollout": self.rollout.record() if self.rollout is not None else None,
            "engine": self.engine,
        }


@dataclass(frozen=True)
class ModelVersion:
    """One uploaded version of the model object: its S3 version, size, sha256, when it was
    uploaded and went live, and the share of calls it serves now."""

    version_id: str
    is_latest: bool  # the newest upload (S3's IsLatest), not necessarily the one live
    size_bytes: int
    sha256: str | None
    last_modified: datetime = field(repr=False, compare=False)
    went_live: tuple[str, ...] = field(default=(), repr=False, compare=False)  # when (UTC)
    live_share: float = field(default=0.0, repr=False, compare=False)  # of the calls, now


class ModelVersions(tuple[ModelVersion, ...], Shown):
    """The model object's versions, newest first (a tuple)."""

    def card(self) -> Card:
        return Card(
            "Model versions",
            f"{len(self)} version(s), newest first" if self else "no model uploaded yet",
            details=tuple(
                (
                    v.version_id,
                    (f"LIVE now ({v.live_share:.0%} of calls), " if v.live_share else "")
                    + f"{'newest upload, ' if v.is_latest else ''}{v.size_bytes:,} bytes, "
                    f"sha256 {(v.sha256 or '?')[:12]}, {v.last_modified:%Y-%m-%d %H:%M:%S} UTC"
                    + (
                        f"; live from {', '.join(t[:19].replace('T', ' ') for t in v.went_live)}"
                        if v.went_live
                        else "; never live"
                    ),
                )
                for v in self
            ),
        )

    def record(self) -> dict[str, Any]:
        return {
            "versions": [v.version_id for v in self],
            "sha256": [v.sha256 for v in self],
            "ever_live": [v.version_id for v in self if v.went_live],
            "live": [v.version_id for v in self if v.live_share],
        }

    def __str__(self) -> str:
        return self.card().text()

    def __repr__(self) -> str:
        return f"ModelVersions({tuple.__repr__(self)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text form (its tuple printer would otherwise win over ``__str__``)."""
        printer.text(str(self))


@dataclass(frozen=True)
class RollbackResult(Shown):
    """Which model version serves again (no re-upload: the alias moved to a version pinning it)."""

    uri: str
    restored_version: str
    function_version: str
    live: bool

    def card(self) -> Card:
        return Card(
            "Model rollback",
            f"version {self.restored_version} serves again"
            if self.live
            else f"version {self.restored_version} pinned; not waited for",
            ok=self.live,
            key=(
                ("model version", self.restored_version),
                ("function version", self.function_version),
            ),
            details=(("object", self.uri),),
        )

    def record(self) -> dict[str, Any]:
        return {"restored_version": self.restored_version, "live": self.live}


def check_version(manifest: ModelManifest, path: Path) -> None:
    """The model must be saved with the scikit-learn the function's image installs (its lock);
    the advice says how to build the function for the model's version."""
    served = function_sklearn()
    if manifest.sklearn_version != served:
        raise ModelVersionMismatchError(mismatch_advice(path, manifest.sklearn_version, served))


def check_deployed_version(target: Target, manifest: ModelManifest) -> None:
    """The deployed function must run the model's scikit-learn (it was deployed from the same
    lock): after ``pin-function``, the image is rebuilt only by deploying again."""
    deployed = image_sklearn(target)
    if deployed and deployed != manifest.sklearn_version:
        raise ModelVersionMismatchError(
            f"{manifest.file} was saved with scikit-learn {manifest.sklearn_version} (the "
            f"function's lock pins it too), but the deployed function still runs {deployed}: "
            "deploy again to build it (`python -m ops deploy --yes`; `make run` deploys too), "
            "then upload"
        )


def sign_model(
    target: Target,
    key: str,
    sha256: str,
    sklearn_version: str,
    manifest_sha256: str = "",
    bound: dict[str, str] | None = None,
) -> dict[str, str]:
    """The signature metadata for one model object (``kms:Sign`` with the stack's key), over
    its sha256, scikit-learn version, manifest's sha256 and ``bound`` (its upload time, serial
    and stage: ``contract.signing_message``)."""
    signed = {
        contract.SHA256_METADATA: sha256,
        contract.SKLEARN_METADATA: sklearn_version,
        contract.MANIFEST_SHA256_METADATA: manifest_sha256,
        **(bound or {}),
    }
    message = contract.signed_message_of(key, signed)  # what the function rebuilds and checks
    return {
        contract.SIGNATURE_METADATA: sign(target, message),
        contract.SIGNING_KEY_METADATA: target.outputs.signing_key,
    }


def _bound(target: Target) -> dict[str, str]:
    """What the signature binds beside the bytes: when it was uploaded, a serial above the
    newest version's, and the stage it is for."""
    s3, key = target.client("s3"), target.settings.model_key
    try:
        newest = s3.head_object(Bucket=target.outputs.model_bucket, Key=key)
        previous = str((newest.get("Metadata") or {}).get(contract.SERIAL_METADATA, "0"))
    except ClientError:
        previous = "0"  # the first upload
    # above the newest version's, and at least the upload's millisecond time: a bucket writer's
    # junk serial can only raise it, never send it back
    after = int(previous) + 1 if previous.isdigit() else 1
    return {
        contract.UPLOADED_AT_METADATA: now_text(),
        contract.SERIAL_METADATA: str(max(after, time.time_ns() // 1_000_000)),
        contract.STAGE_METADATA: target.settings.stage,
    }


def _put_compiled(target: Target, choice: EngineChoice | None) -> dict[str, Any] | None:
    """Upload the compiled model, when the ONNX engine was chosen; the engine record that the
    manifest carries (the compiled file's sha256 and S3 version with the choice)."""
    if choice is None:
        return None
    record = choice.record()
    if choice.onnx is not None:
        written = target.client("s3").put_object(
            Bucket=target.outputs.model_bucket,
            Key=contract.model_onnx_key(target.settings.model_key),
            Body=choice.onnx,
            ContentType="application/octet-stream",
        )
        record[contract.ENGINE_ONNX_SHA256] = hashlib.sha256(choice.onnx).hexdigest()
        record[contract.ENGINE_ONNX_VERSION] = str(written.get("VersionId") or "null")
    return record


def put_model(
    target: Target, path: Path, manifest: ModelManifest, choice: EngineChoice | None = None
) -> str:
    """Upload the model with its signed metadata, and its manifest beside it (with the engine
    record, and the compiled model first when it serves); the new S3 version id."""
    key = target.settings.model_key
    manifest = replace(manifest, engine=_put_compiled(target, choice))
    document = manifest.to_json().encode()
    manifest_sha256 = hashlib.sha256(document).hexdigest()
    bound = _bound(target)
    metadata = {
        SHA256: manifest.sha256,
        SKLEARN: manifest.sklearn_version,
        contract.MANIFEST_SHA256_METADATA: manifest_sha256,
        **bound,
        **sign_model(
            target, key, manifest.sha256, manifest.sklearn_version, manifest_sha256, bound
        ),
        contract.ESTIMATOR_METADATA: manifest.estimator[:100],
        contract.PYTHON_METADATA: manifest.versions.get("python", ""),
    }
    s3 = target.client("s3")
    bucket = target.outputs.model_bucket
    # the manifest first: the model points to its version (the function reads the profile
    # from it to count drift, and uses it only if its bytes have the signed sha256)
    written = s3.put_object(
        Bucket=bucket,
        Key=manifest_object_key(key),
        Body=document,
        ContentType="application/json",
    )
    metadata[contract.MANIFEST_VERSION_METADATA] = str(written.get("VersionId") or "null")
    response = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), Metadata=metadata)
    return str(response.get("VersionId") or "null")


def _go_live(
    target: Target,
    version_id: str,
    sha256: str,
    wait: bool,
    timeout: float,
    before: tuple[live_model.Share, ...],
    revision: str | None = None,
) -> tuple[live_model.LivePin, float]:
    """Pin the model (only if the alias is still at ``revision``, when given). With ``wait``,
    the published version must serve it before the alias moves to it (a model the function
    refuses never gets a caller; the model live before keeps serving)."""
    if not wait:
        return live_model.pin(target, version_id, sha256, revision=revision), 0.0
    started = time.monotonic()
    published = live_model.publish(target, version_id, sha256)
    try:
        verify_live(target, version_id, timeout, qualifier=published)
    except ModelRefusedError as refused:
        after = "the model live before still serves" if before else "no model serves yet"
        raise ModelRefusedError(
            f"{refused}; {after}", error_type=refused.error_type, details=refused.details
        ) from refused
    moved = live_model.route(target, published, revision=revision)
    pinned = live_model.LivePin(published, version_id, sha256, moved)
    return pinned, time.monotonic() - started


@overload
def upload_model(
    path: Path | str = DEFAULT_MODEL_PATH,
    *,
    wait: bool = True,
    timeout: float = 120.0,
    rollout: str = "all-at-once",
    percent: float = 10.0,
    bake_minutes: float = 10.0,
    guardrails: Guardrails | None = None,
    progress: bool = True,
    engine: EngineName = "auto",
    tolerance: float | None = None,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> UploadResult: ...


@overload
def upload_model(
    path: Path | str = DEFAULT_MODEL_PATH,
    *,
    wait: bool = True,
    timeout: float = 120.0,
    rollout: str = "all-at-once",
    percent: float = 10.0,
    bake_minutes: float = 10.0,
    guardrails: Guardrails | None = None,
    progress: bool = True,
    engine: EngineName = "auto",
    tolerance: float | None = None,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


@user_facing
def upload_model(
    path: Path | str = DEFAULT_MODEL_PATH,
    *,
    wait: bool = True,
    timeout: float = 120.0,
    rollout: str = "all-at-once",
    percent: float = 10.0,
    bake_minutes: float = 10.0,
    guardrails: Guardrails | None = None,
    progress: bool = True,
    engine: EngineName = "auto",
    tolerance: float | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> UploadResult | Plan:
    """Check the model, upload it with its sha256 and versions recorded, and make it live.

    ``rollout``: ``all-at-once`` (default), ``canary`` (``percent`` of the calls for
    ``bake_minutes``, then all) or ``linear`` (``percent`` more every ``bake_minutes``); during a
    bake the new version is judged by ``guardrails`` against the old one and rolled back on a
    breach (``UploadResult.rollout`` says why). A stage's first model goes live at once; a file
    equal to the live model is not uploaded again (``UploadResult.unchanged``); a model saved
    with another scikit-learn than the function's is refused (``python -m ops pin-function``).

    ``engine``: ``auto`` (default) serves the model compiled to ONNX when that answers exactly
    what ``model.predict`` answers on the verification rows, else with scikit-learn;
    ``sklearn`` or ``onnx`` force one (``onnx`` with a ``tolerance`` serves a conversion whose
    differences fit in it). ``UploadResult.engine`` says which serves, and why."""
    path = Path(path)
    validate.seconds("timeout", timeout)
    check_engine(engine, tolerance)
    shares = _rollout_shares(rollout, percent, bake_minutes, wait)
    manifest = _checked_manifest(path, dry_run)
    target = target_for(settings)
    if dry_run:
        return _upload_plan(target, path, manifest, (rollout, percent, bake_minutes), wait)
    check_deployed_version(target, manifest)
    before, revision = _live_before_upload(target, bool(shares))
    if len(before) == 1 and _is_live(target, before[0], manifest, (engine, tolerance)):
        return _unchanged(target, manifest, before[0])
    choice = engine_for(path, manifest, engine, tolerance)
    version_id = put_model(target, path, manifest, choice)
    seconds, staged = 0.0, bool(shares and before)
    if staged:  # watched and judged: live once promoted
        record = _roll_out(
            target,
            Candidate(before[0], "", version_id, revision, _probe(path), _live(target, before[0])),
            manifest.sha256,
            (rollout, percent, bake_minutes),
            guardrails or Guardrails(),
            timeout,
            progress,
        )
    else:
        record, seconds = _all_at_once(
            target, version_id, manifest.sha256, before, revision, wait, timeout
        )
    save_record(target, record)
    live = record.promoted if staged else wait
    return _uploaded(target, manifest, version_id, record, choice, live, seconds)


def _uploaded(
    target: Target,
    manifest: ModelManifest,
    version_id: str,
    record: RolloutRecord,
    choice: EngineChoice,
    live: bool,
    seconds: float,
) -> UploadResult:
    return UploadResult(
        uri=_model_uri(target),
        version_id=version_id,
        sha256=manifest.sha256,
        sklearn_version=manifest.sklearn_version,
        live=live,
        seconds_to_live=seconds,
        function_version=record.function_version,
        links=_links(target),
        rollout=record,
        engine=choice.engine,
        engine_reason=choice.reason,
    )


def _checked_manifest(path: Path, dry_run: bool) -> ModelManifest:
    """The file's manifest (written beside it unless dry-run), once its scikit-learn fits."""
    manifest = describe_file(path) if dry_run else ensure_manifest(path)
    check_version(manifest, path)
    return manifest


def _probe(path: Path) -> Probe | None:
    """The model's own rows and model.predict's answers, to probe the new version with (None:
    the model gives no rows to probe with; the rollout is then judged on its traffic alone)."""
    try:
        return Probe.of(path)
    except ConfigurationError:
        return None


def _live(target: Target, live: live_model.Share) -> LiveRows | None:
    """Rows as the live model's clients send them, to check the new version against before
    any traffic (None: its manifest gives none; the rollout is then judged on traffic alone)."""
    try:
        return live_rows(target, live.model_version)
    except ConfigurationError:
        return None


def _live_before_upload(
    target: Target, staged: bool
) -> tuple[tuple[live_model.Share, ...], str | None]:
    """What serves now and the alias's revision; ``ConcurrentChangeError`` during a rollout
    (and, for a ``staged`` rollout, a refusal on a stage without a rollout guard)."""
    before, revision = live_model.read(target)
    if len(before) > 1:
        raise ConcurrentChangeError(_rollout_running(before))
    rollout_guard.check_unlocked(target, staged)  # a rollout before its split, or a dead one
    return before, revision


def _rollout_shares(
    rollout: str, percent: float, bake_minutes: float, wait: bool
) -> tuple[float, ...]:
    """The rollout's traffic steps (none for all-at-once), or a ``ConfigurationError``."""
    shares = weights(rollout, percent)
    if bake_minutes < 0 or (shares and not wait):
        raise ConfigurationError(
            "a canary or linear rollout needs wait=True and bake_minutes >= 0 (ops watches it "
            "and decides); use rollout='all-at-once' with wait=False"
        )
    waited = rollout_guard.deadline_seconds(len(shares), len(shares) * bake_minutes * 60)
    if shares and waited > contract.GUARD_TIMEOUT_HOURS * 3600:
        raise ConfigurationError(
            f"a {rollout} rollout of {len(shares)} steps of {bake_minutes:g} min lasts longer "
            f"than its guard can wait ({contract.GUARD_TIMEOUT_HOURS} h with its grace); use "
            "fewer steps (a larger percent) or shorter bakes"
        )
    return shares


def _all_at_once(
    target: Target,
    version_id: str,
    sha256: str,
    before: tuple[live_model.Share, ...],
    revision: str | None,
    wait: bool,
    timeout: float,
) -> tuple[RolloutRecord, float]:
    """Pin the new model and move every call to it; its record and the seconds to live."""
    started = now_text()
    pinned, seconds = _go_live(target, version_id, sha256, wait, timeout, before, revision)
    previous = before[0] if before else None
    record = RolloutRecord(
        strategy="all-at-once",
        outcome="promoted",
        model_version=version_id,
        function_version=pinned.function_version,
        previous_model_version=previous.model_version if previous else "",
        previous_function_version=previous.function_version if previous else "",
        started=started,
        ended=now_text(),
        who=who(target),
    )
    return record, seconds


def _rollout_running(split: tuple[live_model.Share, ...]) -> str:
    old, new = split[0], split[-1]
    return (
        f"a rollout is running on this stage: version {new.function_version} serves "
        f"{new.share:.0%} of the calls, version {old.function_version} the rest; this upload "
        "changed nothing. Wait for it to end (the upload that started it says how it ended), "
        "or stop it with `python -m ops rollback-model` (in Python `ops.rollback_model()`)"
    )


def _links(target: Target) -> tuple[Link, ...]:
    return tuple(v for k, v in target.places(target.outputs).items() if k in ("model", "function"))


def _is_live(
    target: Target,
    live: live_model.Share,
    manifest: ModelManifest,
    asked: tuple[str, float | None],
) -> bool:
    """Whether the live model is this file with this manifest, uploaded asking for the same
    engine (a new profile of the same file, or another engine, is uploaded again)."""
    if live.model_sha256 != manifest.sha256:
        return False
    s3, bucket = target.client("s3"), target.outputs.model_bucket
    key = target.settings.model_key
    metadata = (
        s3.head_object(Bucket=bucket, Key=key, VersionId=live.model_version).get("Metadata") or {}
    )
    version = metadata.get(contract.MANIFEST_VERSION_METADATA)
    if not version:
        return False
    extra = {"VersionId": version} if version != "null" else {}
    try:
        body = s3.get_object(Bucket=bucket, Key=manifest_object_key(key), **extra)["Body"].read()
    except ClientError:  # its manifest is gone: upload again
        return False
    if hashlib.sha256(body).hexdigest() != metadata.get(contract.MANIFEST_SHA256_METADATA):
        return False
    served = json.loads(body)
    record = served.pop(contract.MANIFEST_ENGINE, None) or {}
    mine = json.loads(manifest.to_json())
    mine.pop(contract.MANIFEST_ENGINE, None)
    same_engine = (record.get(ENGINE_ASKED), record.get(ENGINE_ASKED_TOLERANCE)) == asked
    return bool(served == mine and same_engine)


def _unchanged(target: Target, manifest: ModelManifest, live: live_model.Share) -> UploadResult:
    """The answer to uploading the live model's own file again: nothing uploaded."""
    return UploadResult(
        f"s3://{target.outputs.model_bucket}/{target.settings.model_key}",
        live.model_version,
        manifest.sha256,
        manifest.sklearn_version,
        True,
        function_version=live.function_version,
        links=_links(target),
        unchanged=True,
    )


def _upload_plan(
    target: Target,
    path: Path,
    manifest: ModelManifest,
    how: tuple[str, float, float],
    wait: bool,
) -> Plan:
    """What ``upload_model`` would do (pure: no call)."""
    rollout, percent, bake_minutes = how
    shares = weights(rollout, percent)
    steps = (
        f"upload {path.name} ({manifest.size_bytes:,} bytes, sha256 {manifest.sha256[:12]}, "
        f"scikit-learn {manifest.sklearn_version}) to the model bucket at "
        f"{target.settings.model_key}, unless it is the live model already",
        "record its sha256, scikit-learn version and manifest's sha256 as signed object "
        "metadata, its manifest (features, input profile) beside it",
        (
            f"{rollout}: send {', then '.join(f'{w:.0%}' for w in shares)} of the calls to "
            f"it for {bake_minutes:g} min each, judged on its metrics; then all, or roll back"
        )
        if shares
        else "move every call to it at once",
        "wait until the function serves the new version" if wait else "not wait for the function",
    )
    return Plan("upload_model", target.settings.target, steps)


def _roll_out(
    target: Target,
    candidate: Candidate,
    sha256: str,
    how: tuple[str, float, float],
    guardrails: Guardrails,
    timeout: float,
    progress: bool,
) -> RolloutRecord:
    """Publish a version pinning the new model, check it serves it (no caller sees it before),
    then bake it behind the weighted alias."""
    strategy, percent, bake_minutes = how
    new_version = live_model.publish(target, candidate.model_version, sha256)
    verify_live(target, candidate.model_version, timeout, qualifier=new_version)
    config = target.client("lambda").get_function_configuration(
        FunctionName=target.outputs.function_name, Qualifier=new_version
    )
    cap_ms = 0.8 * float(config.get("Timeout", 30)) * 1000  # 80% of the timeout
    if guardrails.max_p99_ms is not None:
        cap_ms = guardrails.max_p99_ms
    return bake(
        target,
        dataclasses.replace(candidate, new_function_version=new_version),
        strategy,
        percent,
        bake_minutes,
        guardrails,
        cap_ms,
        progress=progress_lines("Rollout") if progress else None,
    )


@overload
def list_models(
    *, dry_run: Literal[False] = False, settings: Settings | None = None
) -> ModelVersions: ...


@overload
def list_models(*, dry_run: Literal[True], settings: Settings | None = None) -> Plan: ...


@user_facing
def list_models(*, dry_run: bool = False, settings: Settings | None = None) -> ModelVersions | Plan:
    """The model object's versions, newest first."""
    target = target_for(settings)
    if dry_run:
        steps = (f"list the versions of {target.settings.model_key} in the model bucket",)
        return Plan("list_models", target.settings.target, steps)
    return _versions(target, load_records(target))


def _serving(target: Target) -> tuple[live_model.Share, ...]:
    """Who serves now; nothing when the service stack is not deployed (its models are kept)."""
    try:
        return live_model.shares(target)
    except StackNotDeployedError:
        return ()


def _versions(
    target: Target,
    records: list[dict[str, Any]],
    serving: tuple[live_model.Share, ...] | None = None,
) -> ModelVersions:
    """The model object's versions, with when each went live and who serves now (``serving``:
    the alias as the caller read it; read here if not given)."""
    s3 = target.client("s3")
    key = target.settings.model_key
    listed = s3.list_object_versions(Bucket=target.model_bucket, Prefix=key).get("Versions", [])
    shares = _serving(target) if serving is None else serving
    live = {x.model_version: x.share for x in shares}
    went_live: dict[str, list[str]] = {}
    for record in records:
        if record.get("outcome") == "promoted":
            went_live.setdefault(str(record.get("model_version")), []).append(str(record["ended"]))
    found = []
    for v in listed:
        if v["Key"] != key:
            continue
        head = s3.head_object(Bucket=target.model_bucket, Key=key, VersionId=v["VersionId"])
        found.append(
            ModelVersion(
                v["VersionId"],
                bool(v["IsLatest"]),
                int(v["Size"]),
                head.get("Metadata", {}).get(SHA256),
                v["LastModified"],
                tuple(went_live.get(str(v["VersionId"]), ())),
                live.get(str(v["VersionId"]), 0.0),
            )
        )
    return ModelVersions(sorted(found, key=lambda m: m.last_modified, reverse=True))


@overload
def rollback_model(
    *,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: Literal[False] = False,
    settings: Settings | None = None,
) -> RollbackResult: ...


@overload
def rollback_model(
    *,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: Literal[True],
    settings: Settings | None = None,
) -> Plan: ...


@user_facing
def rollback_model(
    *,
    wait: bool = True,
    timeout: float = 120.0,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> RollbackResult | Plan:
    """Serve the model that was live before the live one again (the rollout records say which;
    without them, the version uploaded before it): the live alias moves back to the published
    function version that served it (no publish, no copy, no re-upload; its signature is the one
    it was uploaded with), or, if the function's code changed since, to a new one pinning it.
    During an unfinished rollout (the alias split between two versions), every call goes back
    to the old version."""
    validate.seconds("timeout", timeout)
    target = target_for(settings)
    if dry_run:
        return _rollback_plan(target.settings.target, wait)
    split, revision = live_model.read(target)
    if len(split) > 1:  # a rollout mid-bake (its controller stopped, or it is stopped now)
        primary = split[0]
        live_model.route(target, primary.function_version, revision=revision)
        rollout_guard.stop_running(target)  # the rollout is over: its guard too
        if wait:
            verify_live(target, primary.model_version, timeout)
        return RollbackResult(
            uri=_model_uri(target),
            restored_version=primary.model_version,
            function_version=primary.function_version,
            live=wait,
        )
    previous = _version_before_live(target, split)
    rollout_guard.stop_running(target)  # a guard its controller left (it had promoted)
    started = now_text()
    function_version = _serve_again(target, previous, split, revision, wait, timeout)
    save_record(
        target,
        RolloutRecord(
            strategy="rollback",
            outcome="promoted",
            model_version=previous.version_id,
            function_version=function_version,
            previous_model_version=split[0].model_version if split else "",
            previous_function_version=split[0].function_version if split else "",
            started=started,
            ended=now_text(),
            who=who(target),
        ),
    )
    return RollbackResult(
        uri=_model_uri(target),
        restored_version=previous.version_id,
        function_version=function_version,
        live=wait,
    )


def _rollback_plan(target_name: str, wait: bool) -> Plan:
    """What rollback_model would do (pure)."""
    steps = (
        "find the model that was live before the live one (its rollout records)",
        "move the live alias back to the function version that served it",
        "wait until the function serves it" if wait else "not wait for the function",
    )
    return Plan("rollback_model", target_name, steps)


def _model_uri(target: Target) -> str:
    return f"s3://{target.outputs.model_bucket}/{target.settings.model_key}"


def _version_before_live(target: Target, split: tuple[live_model.Share, ...]) -> ModelVersion:
    """The model live before the current one, as a signed rollout record shows (never merely
    the one uploaded before it: that may be a canary its guardrails rejected);
    ``ModelNotUploadedError`` when no signed record shows one."""
    records = load_records(target)
    versions = _versions(target, records, split)
    current = split[0].model_version if split else (versions[0].version_id if versions else "")
    before_current = previous_live(records, current)
    found = [v for v in versions if before_current and v.version_id == before_current]
    if not found:
        raise ModelNotUploadedError(
            f"no signed rollout record shows a model live before the live one ({len(versions)} "
            "version(s) uploaded); upload the model you want to serve with "
            "`python -m ops upload-model PATH`",
            error_type="NoPreviousVersion",
        )
    return found[0]


def _serve_again(
    target: Target,
    previous: ModelVersion,
    split: tuple[live_model.Share, ...],
    revision: str | None,
    wait: bool,
    timeout: float,
) -> str:
    """Move the live alias back to the function version that served ``previous`` (or, if the
    code changed since, publish it on the current code); its function version."""
    published = live_model.published_for(target, previous.version_id)
    if published is None:
        pinned, _ = _go_live(
            target, previous.version_id, previous.sha256 or "", wait, timeout, split, revision
        )
        return pinned.function_version
    # it must still serve (the model may be gone, or refused now) before a caller is sent to it
    verify_live(target, previous.version_id, timeout, qualifier=published)
    live_model.route(target, published, revision=revision)  # moving the alias is the rollback
    return published
