"""Handler overhead and a naive peer, in process; the model comes from a moto server over HTTP."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Any

import boto3
import joblib
import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

from benchmarks.measure import Row, median_ms, paired_median_ms
from ops.modelfiles.demo_model import sample_rows
from reintento_function import contract

ROOT = Path(__file__).resolve().parent.parent
BUCKET, KEY = "bench-models", "models/mejor_modelo.pkl"
ONNX_KEY = "models/compiled_modelo.pkl"  # the same model, uploaded for the ONNX engine (#30)


class Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


def serve_model(model_path: Path) -> Any:
    """A moto server holding the model as upload_model records it; env points the handler at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        MODEL_BUCKET=BUCKET,
        MODEL_KEY=KEY,
        MAX_ROWS="100000",
        MODEL_REFRESH_SECONDS="3600",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="Bench",
    )
    os.environ[contract.ENV_CPU_THREADS] = "1"  # one vCPU's worth, as the stack sets at 1,024 MB
    s3, kms = boto3.client("s3"), boto3.client("kms")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    # signed as upload_model signs it, with a signing key like the model stack's
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    os.environ[contract.ENV_SIGNING_KEY] = key
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "bench")
    _put_signed(s3, kms, key, model_path, KEY, None)
    _put_signed(s3, kms, key, model_path, ONNX_KEY, "onnx")
    return server


def _put_signed(
    s3: Any, kms: Any, signing_key: str, path: Path, key: str, engine: str | None
) -> None:
    """The model at ``key`` as upload_model puts it, signed; for ``engine="onnx"`` with its
    compiled file and a manifest carrying the engine record (and no profile: drift is not
    counted on either side, as before; ``_drift_overhead`` measures it)."""
    from dataclasses import replace

    from ops.modelfiles.engine import engine_for
    from ops.modelfiles.manifest import ensure_manifest

    body = path.read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    metadata = {contract.SHA256_METADATA: sha, contract.SKLEARN_METADATA: sklearn.__version__}
    manifest_sha = ""
    if engine == "onnx":
        manifest = ensure_manifest(path)
        choice = engine_for(path, manifest, "onnx")
        assert choice.onnx is not None, choice.reason
        written = s3.put_object(Bucket=BUCKET, Key=contract.model_onnx_key(key), Body=choice.onnx)
        record = {
            **choice.record(),
            contract.ENGINE_ONNX_SHA256: hashlib.sha256(choice.onnx).hexdigest(),
            contract.ENGINE_ONNX_VERSION: written["VersionId"],
        }
        document = replace(manifest, engine=record, profile=None).to_json().encode()
        manifest_sha = hashlib.sha256(document).hexdigest()
        put = s3.put_object(Bucket=BUCKET, Key=contract.model_manifest_key(key), Body=document)
        metadata[contract.MANIFEST_SHA256_METADATA] = manifest_sha
        metadata[contract.MANIFEST_VERSION_METADATA] = put["VersionId"]
    signature = kms.sign(
        KeyId=signing_key,
        Message=contract.signing_message(key, sha, sklearn.__version__, manifest_sha),
        MessageType="RAW",
        SigningAlgorithm=contract.SIGNING_ALGORITHM,
    )["Signature"]
    s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        Metadata={**metadata, contract.SIGNATURE_METADATA: base64.b64encode(signature).decode()},
    )


def _warm(handler_module: Any, model: Any, rows: list[Any], repeats: int) -> tuple[float, float]:
    """Median ms of a bare ``model.predict`` on ``rows`` and of the warm handler answering them,
    measured in turn."""
    frame = pd.DataFrame(rows)
    return paired_median_ms(
        lambda: model.predict(frame),
        lambda: handler_module.handler({"instances": rows}, Context()),
        repeats,
    )


def naive_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The tutorial pattern: download and unpickle the model on every request, no validation."""
    s3 = boto3.client("s3")
    model = joblib.load(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()))
    frame = pd.DataFrame(event["instances"])
    return {
        "predictions": model.predict(frame).tolist(),
        "probabilities": model.predict_proba(frame).tolist(),
    }


def run(model_path: Path) -> list[Row]:
    server = serve_model(model_path)
    try:
        import reintento_function.lambda_predict_reintento as handler_module

        model = joblib.load(model_path)
        rows_out: list[Row] = []
        quiet = contextlib.redirect_stdout(io.StringIO())
        # one native thread, as the function has at 1,024 MB (and as the local target runs it)
        with quiet, threadpool_limits(1):
            handler_module.handler(
                {"instances": sample_rows(1)}, Context()
            )  # cold start outside timing
            for n in (1, 100, 10_000):
                rows, repeats = sample_rows(n, seed=3), 60 if n < 10_000 else 20
                raw, ours = _warm(handler_module, model, rows, repeats)
                naive = median_ms(
                    lambda rows=rows: naive_handler({"instances": rows}, Context()),
                    max(5, repeats // 3),
                )
                if n == 1:
                    target, met = "<= raw + 2 ms", ours <= raw + 2.0
                elif n == 10_000:
                    target, met = "<= 1.2x", ours <= 1.2 * raw
                else:
                    target, met = "-", None
                rows_out.append(
                    Row(
                        "handler overhead",
                        f"warm handler, {n:,} rows",
                        ours,
                        raw,
                        "ms",
                        ours / raw,
                        target,
                        met,
                        "vs raw in-process model.predict on the same rows",
                    )
                )
                rows_out.append(
                    Row(
                        "naive peer",
                        f"naive handler, {n:,} rows",
                        naive,
                        ours,
                        "ms",
                        naive / ours,
                        "-",
                        None,
                        "download + unpickle per request, no validation; baseline = ours warm",
                    )
                )
            rows_out.append(_drift_overhead(handler_module, model_path))
            rows_out += _onnx_rows(handler_module, model)
        return rows_out
    finally:
        server.stop()


def _drift_overhead(handler_module: Any, model_path: Path) -> Row:
    """The warm handler on 10,000 rows with the model's profile (drift counted and published)
    against the same handler without one: what counting drift costs."""
    from dataclasses import replace

    from ops.modelfiles.manifest import build_manifest
    from reintento_function.drift_check import InputProfile

    profile = InputProfile.from_manifest({"profile": build_manifest(model_path).profile})
    assert profile is not None, "the bench model has no profile"
    cache = handler_module._state["cache"]
    plain = cache.model
    counted = replace(plain, profile=profile)
    rows = sample_rows(10_000, seed=3)

    def call(loaded: Any) -> None:
        cache.model = loaded
        handler_module.handler({"instances": rows}, Context())

    without, with_drift = paired_median_ms(lambda: call(plain), lambda: call(counted), 40)
    cache.model = plain
    return Row(
        "drift overhead",
        "warm handler, 10,000 rows, drift counted",
        with_drift,
        without,
        "ms",
        with_drift / without,
        "<= 1.05x",
        with_drift <= 1.05 * without,
        "vs the same handler for a model without a profile (no drift counted)",
    )


def _onnx_rows(handler_module: Any, model: Any) -> list[Row]:
    """#30: the same warm handler serving the model compiled to ONNX (the function loads it in
    place of the pickle), against a bare ``model.predict`` on the same rows; one row also
    against the ONNX session's own run (the handler's overhead on top of the engine)."""
    os.environ["MODEL_KEY"] = ONNX_KEY
    saved = handler_module._state.pop("cache", None)
    try:
        handler_module.handler({"instances": sample_rows(1)}, Context())  # its cold start
        served = handler_module._state["cache"].model
        assert served.engine == contract.ENGINE_ONNX, served.engine
        out: list[Row] = []
        for n in (1, 100, 10_000):
            raw, ours = _warm(
                handler_module, model, sample_rows(n, seed=3), 60 if n < 10_000 else 20
            )
            target, met = ("< 1.0x", ours < raw) if n == 10_000 else ("-", None)
            out.append(
                Row(
                    "compiled engine",
                    f"warm handler, ONNX engine, {n:,} rows",
                    ours,
                    raw,
                    "ms",
                    ours / raw,
                    target,
                    met,
                    "vs raw in-process model.predict (scikit-learn) on the same rows",
                )
            )
        out.append(_session_row(handler_module, served))
        out.append(_two_vcpus(handler_module, model))
        return out
    finally:
        os.environ["MODEL_KEY"] = KEY
        handler_module._state.pop("cache", None)
        if saved is not None:
            handler_module._state["cache"] = saved


def _two_vcpus(handler_module: Any, model: Any) -> Row:
    """10,000 rows as a function of 3,538 MB computes them (two vCPUs: the stack sets two
    threads): scikit-learn's OpenMP on two threads, the ONNX engine in two pieces of rows."""
    os.environ[contract.ENV_CPU_THREADS] = "2"
    try:
        with threadpool_limits(2):
            raw, ours = _warm(handler_module, model, sample_rows(10_000, seed=3), 20)
    finally:
        os.environ[contract.ENV_CPU_THREADS] = "1"
    return Row(
        "compiled engine",
        "warm handler, ONNX engine, 10,000 rows, 2 vCPUs",
        ours,
        raw,
        "ms",
        ours / raw,
        "-",
        None,
        "vs raw model.predict on two threads (a function of 3,538 MB or more)",
    )


def _session_row(handler_module: Any, served: Any) -> Row:
    from reintento_function.inference_core import check_rows

    rows = sample_rows(1, seed=3)
    feed = served.estimator.feed(check_rows(served.schema, rows).columns)
    session, ours = paired_median_ms(
        lambda: served.estimator.answer(feed),
        lambda: handler_module.handler({"instances": rows}, Context()),
        200,
    )
    return Row(
        "compiled engine",
        "warm handler, ONNX engine, 1 row, over its session",
        ours,
        session,
        "ms",
        ours / session,
        "<= session + 1 ms",
        ours <= session + 1.0,
        "vs the ONNX session's own run on the same row (fed the checked columns)",
    )
