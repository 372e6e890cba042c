"""What a deploy to AWS needs, checked before the CDK CLI runs, each failure saying what to do.

- the CDK bootstrap stack, at a version the synthesized templates accept (their
  ``CheckBootstrapVersion`` rule refuses 1 to 5), read from SSM — a parameter that is missing means
  "not bootstrapped", an AccessDenied means the credentials may not read it (not the same fix);
  https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html
- a Docker daemon that answers (``docker info``), not only a ``docker`` binary on PATH;
- for an ``arm64`` function built on another architecture, emulation: the platforms buildx's
  builder lists, else the kernel's ``qemu-aarch64`` handler; without it the build fails part way.
  https://docs.docker.com/build/building/multi-platform/
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ops.errors import AccessDeniedError, DeployError

BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_BOOTSTRAP_VERSION = 6  # the CheckBootstrapVersion rule in every synthesized template
BINFMT_ARM64 = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def check_bootstrap(ssm: Any, account: str, region: str) -> int:
    """The bootstrap version of this account and region, or the error that says what to do."""
    bootstrap = f"`make cdk ARGS='bootstrap aws://{account}/{region}'`"
    try:
        value = ssm.get_parameter(Name=BOOTSTRAP_PARAMETER)["Parameter"]["Value"]
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise DeployError(
                f"account {account} region {region} is not CDK-bootstrapped; run {bootstrap} "
                "once, then deploy again"
            ) from err
        if code in ("AccessDeniedException", "AccessDenied"):
            raise AccessDeniedError(
                f"your credentials may not read the SSM parameter {BOOTSTRAP_PARAMETER} "
                f"(ssm:GetParameter), which the CDK needs to check the bootstrap of {account}/"
                f"{region}; allow it for this role or user, or deploy with one that has it"
            ) from err
        raise
    try:
        version = int(str(value))
    except ValueError as err:
        raise DeployError(
            f"the bootstrap version in {BOOTSTRAP_PARAMETER} is {value!r}, not a number; run "
            f"{bootstrap} again"
        ) from err
    if version < MIN_BOOTSTRAP_VERSION:
        raise DeployError(
            f"account {account} region {region} is bootstrapped at version {version}; these "
            f"templates need {MIN_BOOTSTRAP_VERSION} or later: run {bootstrap} to upgrade it"
        )
    return version


def check_docker(architecture: str) -> None:
    """A Docker daemon answers, and it can build for ``architecture``."""
    docker = shutil.which("docker")
    if docker is None:
        raise DeployError(
            "deploying to AWS builds the function image with Docker; install Docker and start it"
        )
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise DeployError("`docker info` did not answer in 30 s; restart Docker") from err
    if info.returncode != 0 or not info.stdout.strip():
        raise DeployError(
            "Docker is installed but its daemon is not running (`docker info` failed: "
            f"{(info.stderr or info.stdout).strip()[:200]}); start Docker Desktop or "
            "`sudo systemctl start docker`, then deploy again"
        )
    if architecture == "arm64" and not host_is_arm() and not _can_build_arm64(docker):
        raise DeployError(
            "the function is arm64 but this machine is "
            f"{platform.machine()} and has no arm64 emulation registered; run "
            "`docker run --privileged --rm tonistiigi/binfmt --install arm64` once, or deploy "
            "with context architecture=x86_64"
        )


def _can_build_arm64(docker: str) -> bool:
    """buildx lists the platforms its builder can build (Docker Desktop's VM included); without
    buildx, the kernel's registered emulators tell."""
    try:
        builders = subprocess.run(
            [docker, "buildx", "ls"], capture_output=True, text=True, timeout=30, check=False
        )
        if builders.returncode == 0:
            return "linux/arm64" in builders.stdout
    except subprocess.TimeoutExpired:
        pass
    return BINFMT_ARM64.exists()


def host_is_arm() -> bool:
    return platform.machine().lower() in ("arm64", "aarch64")


# "You can reserve up to the Unreserved account concurrency value that is shown, minus 100 for
# functions that don't have reserved concurrency."
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html); a deploy that
# reserves more fails with InvalidParameterValueException
MIN_UNRESERVED = 100
QUOTA = "Lambda's 'Concurrent executions' quota (Service Quotas console, or `aws service-quotas`)"


def check_concurrency(lam: Any, reserved: int | None, max_concurrency: int) -> str:
    """What the account's Lambda concurrency allows: a reservation it cannot take is refused
    (the deploy would fail); a batch wider than the account is said to be throttled (its
    slices retry throttles, so it finishes, more slowly)."""
    limits = lam.get_account_settings()["AccountLimit"]
    total, unreserved = (
        int(limits["ConcurrentExecutions"]),
        int(limits["UnreservedConcurrentExecutions"]),
    )
    if reserved is not None and reserved > unreserved - MIN_UNRESERVED:
        raise DeployError(
            f"the account's Lambda concurrency is {total:,} ({unreserved:,} unreserved) and "
            f"Lambda keeps {MIN_UNRESERVED} unreserved, so reserved_concurrency={reserved} "
            f"would fail the deploy; request more of {QUOTA} (at least "
            f"{reserved + MIN_UNRESERVED:,}), or deploy without the reserved_concurrency context"
        )
    said = f"the account runs {total:,} concurrent executions ({unreserved:,} unreserved)"
    if max_concurrency + 1 > (reserved if reserved is not None else unreserved):
        said += (
            f"; a batch's {max_concurrency} slices at once plus realtime calls exceed it and are "
            f"throttled (retried): request more of {QUOTA}, or lower max_concurrency"
        )
    return said
