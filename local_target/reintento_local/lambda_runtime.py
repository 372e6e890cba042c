"""The docker-less Lambda runtime plugged into moto: every invoke path runs the real handler.

Replaces ``LambdaFunction.invoke`` (the Invoke API, which Step Functions tasks call too) and
``_invoke_lambda`` (event sources), the only places moto would start Docker. Errors come back
in the real format (``x-amz-function-error: Unhandled``, ``errorType``, ``errorMessage``);
START/END/REPORT lines, with Init Duration on a cold start, go to the function's log group.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from reintento_local import aws_metrics, faults, function_states, iam_enforcement
from reintento_local.environment import (
    UNSANDBOXED,
    ExecutionEnvironment,
    FunctionSpec,
    MintedCredentials,
    Pool,
    Result,
)
from reintento_local.images import context_for_image, parse_dockerfile, python_for
from reintento_local.process import DEFAULT_MAX_ENVIRONMENTS
from reintento_local.sandbox import Sandbox

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
MB_PER_VCPU = 1769
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def vcpus(memory_mb: int) -> int:
    """Whole vCPUs Lambda allocates for a memory size (at least one)."""
    return max(1, min(6, memory_mb // MB_PER_VCPU))


# pools kept per function: the version the live alias serves, and the next (or $LATEST)
WARM_CONFIGURATIONS_PER_FUNCTION = 2


class LambdaRuntime:
    """Pools of execution environments, one per function configuration."""

    def __init__(
        self,
        endpoint: str,
        max_environments: int,
        state_dir: Path | None = None,
        sandbox: Sandbox = UNSANDBOXED,
    ) -> None:
        self.endpoint, self.max_environments = endpoint, max_environments
        self.state_dir, self.sandbox = state_dir, sandbox
        self.images_dir = (state_dir or Path(".local-target")) / "images"
        self.pools: dict[str, Pool] = {}
        self.by_arn: dict[str, str] = {}
        self.recent: dict[str, list[str]] = {}  # function name -> pool keys, least recent first
        self.specs: dict[str, FunctionSpec] = {}
        self.lock = threading.Lock()

    def spec_for(self, fn: Any) -> FunctionSpec:
        if "ImageUri" in (fn.code or {}):
            context = context_for_image(
                fn.code["ImageUri"], fn.account_id, fn.region, self.images_dir
            )
            dockerfile = parse_dockerfile(context / "Dockerfile")
            command = list(getattr(fn.image_config, "cmd", None) or []) or dockerfile.cmd
            handler = command[0]
            extra_paths = [
                str(context / p)
                for p in dockerfile.copied_dirs
                if (context / p).is_dir() and os.path.normpath(p) != "."
            ]
            paths = (str(context), *extra_paths)
            image_env = dockerfile.env
            python = python_for(context)  # the image's own environment, never the project's
        else:
            raise NotImplementedError(
                "the local target runs image functions (DockerImageFunction) only"
            )
        env = {
            "LAMBDA_TASK_ROOT": str(context),
            "_HANDLER": handler,
            "AWS_EXECUTION_ENV": "AWS_Lambda_Image",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "TZ": ":UTC",
            # Lambda gives a function one vCPU per 1,769 MB: native thread pools follow suit, so
            # several environments on this machine do not oversubscribe its cores
            **{var: str(vcpus(int(fn.memory_size))) for var in THREAD_VARS},
            **image_env,
            **{k: str(v) for k, v in (fn.environment_vars or {}).items()},
            # the one deliberate difference from AWS: the SDK talks to the local target
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        limit = self.max_environments
        reserved = getattr(fn, "reserved_concurrency", None)
        if reserved:
            limit = max(1, min(limit, int(reserved)))
        return FunctionSpec(
            name=fn.function_name,
            arn=fn.function_arn,
            version=str(fn.version),
            handler=handler,
            python=python,
            code_paths=paths,
            env=tuple(sorted(env.items())),
            timeout_seconds=float(fn.timeout),
            memory_mb=int(fn.memory_size),
            log_group=fn.logs_group_name,
            max_environments=limit,
        )

    def _spec(self, fn: Any) -> FunctionSpec:
        """The spec, built once per function configuration (not on every invocation)."""
        key = json.dumps(
            [
                fn.function_arn,
                str(fn.version),
                fn.code,
                fn.environment_vars,
                fn.timeout,
                fn.memory_size,
                getattr(fn, "reserved_concurrency", None),
                getattr(fn.image_config, "cmd", None),
                fn.role,
                fn.logs_group_name,
            ],
            sort_keys=True,
            default=str,
        )
        spec = self.specs.get(key)
        if spec is None:
            spec = self.specs[key] = self.spec_for(fn)
        return spec

    def pool_for(self, fn: Any) -> Pool:
        spec = self._spec(fn)
        with self.lock:
            pool = self.pools.get(spec.key)
            if pool is None:
                old = self.by_arn.get(spec.arn)
                if old in self.pools:
                    self.pools.pop(old).shutdown()  # configuration changed: new environments
                minted = MintedCredentials(functools.partial(iam_enforcement.credentials_for, fn))

                def factory(spec: FunctionSpec = spec) -> ExecutionEnvironment:
                    credentials = minted.current()
                    return ExecutionEnvironment(
                        spec, credentials.env, credentials.expires_at, self.sandbox
                    )

                pool = self.pools[spec.key] = Pool(spec, factory)
                self.by_arn[spec.arn] = spec.key
            self._retire_unused(spec)
            return pool

    def _retire_unused(self, spec: FunctionSpec) -> None:
        """Keep the most recently invoked configurations of a function warm; retire the rest.
        After a model change the live alias points at a new version, so the old version's
        environments take no new invocations: their processes are freed instead of lingering."""
        recent = self.recent.setdefault(spec.name, [])
        if recent and recent[-1] == spec.key:
            return
        if spec.key in recent:
            recent.remove(spec.key)
        recent.append(spec.key)
        while len(recent) > WARM_CONFIGURATIONS_PER_FUNCTION:
            old = recent.pop(0)
            if old in self.pools:
                self.pools.pop(old).shutdown()

    def invoke(self, fn: Any, payload: bytes) -> Result:
        pool = self.pool_for(fn)
        environment = pool.acquire()
        request_id = str(uuid.uuid4())
        started = int(time.time() * 1000)
        fault = faults.take(self.state_dir, fn.function_name, payload)
        held = faults.delay(self.state_dir, fn.function_name, payload)
        if held:
            time.sleep(held)
        try:
            if fault is not None:
                result = environment.fail(request_id, fault)
            else:
                result = environment.invoke(payload, request_id)
        except Exception as err:  # a broken pipe or the like: the environment is gone
            result = Result(
                json.dumps({"errorType": "Runtime.ExitError", "errorMessage": str(err)}).encode(),
                True,
                request_id,
                0.0,
                False,
                None,
                [],
                True,
            )
        pool.release(environment, healthy=not result.replaced)
        self._write_logs(fn, environment, result, started)
        return result

    def _write_logs(
        self, fn: Any, environment: ExecutionEnvironment, result: Result, started: int
    ) -> None:
        init = f"\tInit Duration: {result.init_ms:.2f} ms" if result.cold and result.init_ms else ""
        billed = max(1, int(result.duration_ms + 0.999))
        lines = [
            f"START RequestId: {result.request_id} Version: {environment.spec.version}",
            *result.log_lines,
            f"END RequestId: {result.request_id}",
            f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: {environment.spec.memory_mb} MB\t"
            f"Max Memory Used: {environment.max_memory_mb()} MB{init}",
        ]
        result.log_lines = lines
        events = [{"timestamp": started, "message": line} for line in lines if line]
        try:
            fn.logs_backend.ensure_log_group(environment.spec.log_group)
            group = fn.logs_backend.groups[environment.spec.log_group]
            if environment.stream not in group.streams:
                fn.logs_backend.create_log_stream(environment.spec.log_group, environment.stream)
            fn.logs_backend.put_log_events(environment.spec.log_group, environment.stream, events)
        except Exception:  # logs must never turn an answer into a failure
            return

    def shutdown(self) -> None:
        with self.lock:
            for pool in self.pools.values():
                pool.shutdown()
            self.pools.clear()


_configured: list[LambdaRuntime] = []  # the server's runtime, set by configure()


def configured_state_dir() -> Path | None:
    """The state folder of the server's runtime (faults and function states live there)."""
    return _configured[0].state_dir if _configured else None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def configure(
    endpoint: str,
    max_environments: int = DEFAULT_MAX_ENVIRONMENTS,
    state_dir: Path | None = None,
    sandbox: Sandbox = UNSANDBOXED,
) -> LambdaRuntime:
    """The runtime the patched moto runs functions with (one per server process)."""
    runtime = LambdaRuntime(endpoint, max_environments, state_dir, sandbox)
    _configured[:] = [runtime]
    return runtime


def install() -> None:
    """Plug the configured runtime into moto's Lambda model: every invoke path runs it (the
    `lambda-docker-less-runtime` entry of ``reintento_local.patches.PATCHES``)."""
    from moto.awslambda import models as lm
    from moto.awslambda.exceptions import LambdaClientError

    def run(fn: Any, payload: bytes) -> Result:
        if not _configured:
            body = {"errorType": "Runtime.Unavailable", "errorMessage": "no runtime configured"}
            return Result(json.dumps(body).encode(), True, str(uuid.uuid4()), 0.0, False, None)
        try:
            result = _configured[0].invoke(fn, payload)
        except Exception as err:  # a deployment problem, reported like Lambda would
            body = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(err)}
            result = Result(json.dumps(body).encode(), True, str(uuid.uuid4()), 0.0, False, None)
        aws_metrics.lambda_invocation(fn, result.errored, result.duration_ms, result.log_lines)
        return result

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        raw = body.encode() if isinstance(body, str) else (body or b"{}")
        headers = {k.lower(): v for k, v in dict(request_headers).items()}
        state_dir = configured_state_dir()
        refusal = function_states.before_invoke(state_dir, str(self.function_name), self)
        if refusal is not None:
            code, message, status = refusal
            not_active = LambdaClientError(code, message)
            not_active.code = status
            raise not_active
        if faults.take(state_dir, self.function_name, raw, kinds=("throttle",)):
            aws_metrics.lambda_throttle(self)
            throttled = LambdaClientError("TooManyRequestsException", "Rate Exceeded.")
            throttled.code = 429
            raise throttled
        if len(raw) > SYNC_PAYLOAD_LIMIT:
            raise LambdaClientError(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the "
                "InvokeFunction operation",
            )
        try:
            json.loads(raw, parse_constant=_refuse_constant)
        except ValueError as err:
            raise LambdaClientError(
                "InvalidRequestContentException", f"Could not parse request body into json: {err}"
            ) from err
        if headers.get("x-amz-invocation-type") == "Event":
            threading.Thread(target=run, args=(self, raw), daemon=True).start()
            return b""
        result = run(self, raw)
        if result.errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = str(self.version)
        # the invocation's own request id, as Lambda answers: the id of its REPORT line
        response_headers[REQUEST_ID_HEADER] = result.request_id
        if headers.get("x-amz-log-type") == "Tail":
            tail = "\n".join(result.log_lines).encode()[-4096:]
            response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
        return result.payload

    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        raw = event if isinstance(event, str | bytes) else json.dumps(event or {})
        result = run(self, raw.encode() if isinstance(raw, str) else raw)
        return result.payload.decode(), result.errored, "\n".join(result.log_lines)

    setattr(lm.LambdaFunction, "invoke", invoke)  # noqa: B010
    _keep_request_ids()
    setattr(lm.LambdaFunction, "_invoke_lambda", invoke_lambda)  # noqa: B010


REQUEST_ID_HEADER = "x-amzn-requestid"


def _keep_request_ids() -> None:
    """moto gives every answer a random request id, over the one Invoke set (the invocation's,
    which Lambda answers with: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html)."""
    from moto.core.responses import BaseResponse

    original: Any = BaseResponse._enrich_response

    def enrich(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        kept = headers.get(REQUEST_ID_HEADER)
        headers, body = original(headers, body)
        if kept:
            headers[REQUEST_ID_HEADER] = kept
        return headers, body

    setattr(BaseResponse, "_enrich_response", staticmethod(enrich))  # noqa: B010
