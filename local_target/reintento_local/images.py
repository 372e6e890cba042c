"""Image functions without Docker: the local "image build" and how the runtime finds the code.

Building registers the image tag in the local container registry (ECR on the local target) with
an annotation that records the build context, copied into the state folder. Before that, the
function's own Python environment is built from the Dockerfile's ``RUN pip install`` lines
(``reintento_local.function_env``), so a missing or unresolvable dependency fails the deploy,
not the first request, and the function never sees the project's packages.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reintento_local import function_env
from reintento_local.errors import ImageBuildError

BUILD_CONTEXT_ANNOTATION = "reintento.local/build-context"
TASK_ROOT_VARS = ("${LAMBDA_TASK_ROOT}", "$LAMBDA_TASK_ROOT", "/var/task")
_IMAGE_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # Docker's tag grammar


@dataclass(frozen=True)
class Dockerfile:
    """What the runtime needs from a Lambda Dockerfile: handler, environment, copied folders."""

    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    copied_dirs: list[str] = field(default_factory=list)
    base: str = ""
    pip_installs: list[list[str]] = field(default_factory=list)  # each RUN pip install's args


_PIP_INSTALL = re.compile(r"^(?:python3?(?:\.\d+)? -m )?pip3? install\s+")


def _run_commands(rest: str, path: Path) -> list[list[str]]:
    """The arguments of each ``pip install`` of one RUN; any other command is refused (the
    local build cannot reproduce it, so the function's environment would differ from the
    image's)."""
    installs: list[list[str]] = []
    for command in re.split(r"\s*(?:&&|;)\s*", rest.strip()):
        found = _PIP_INSTALL.match(command)
        if found is None:
            raise ImageBuildError(
                f"{path}: RUN {command!r} cannot be reproduced by the local target, which "
                "builds the function's environment from `RUN pip install` lines only"
            )
        installs.append(command[found.end() :].split())
    return installs


def parse_dockerfile(path: Path) -> Dockerfile:
    """Read CMD, ENV and the folders COPY'd into the task root (line continuations joined)."""
    if not path.is_file():
        raise ImageBuildError(f"no Dockerfile at {path}; an image function needs one with a CMD")
    text = re.sub(r"\\\r?\n", " ", path.read_text())
    cmd: list[str] = []
    env: dict[str, str] = {}
    copied: list[str] = []
    base = ""
    installs: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            base = rest.split()[0] if rest else ""
        elif instruction == "RUN":
            installs += _run_commands(rest, path)
        elif instruction == "CMD":
            try:
                parsed = json.loads(rest)
                cmd = [str(x) for x in parsed] if isinstance(parsed, list) else [str(parsed)]
            except ValueError:
                cmd = rest.split()
        elif instruction == "ENV":
            if "=" in rest.split()[0]:
                for key, value in re.findall(r'(\S+?)=("[^"]*"|\S+)', rest):
                    env[key] = value.strip('"')
            else:
                key, _, value = rest.partition(" ")
                env[key] = value.strip()
        elif instruction in ("COPY", "ADD"):
            parts = [p for p in rest.split() if not p.startswith("--")]
            # a folder copied *into* the task root puts its contents there (importable at the
            # top level); one copied to a folder below it keeps its own name (a package)
            if len(parts) >= 2 and parts[-1].rstrip("/") in TASK_ROOT_VARS:
                copied.extend(parts[:-1])
    if not cmd:
        raise ImageBuildError(f'{path} has no CMD; add CMD ["module.handler"]')
    return Dockerfile(cmd, env, copied, base, installs)


def build_image(context: Path, images_dir: Path, tag: str) -> Path:
    """The local build: the function's environment (built once, cached), then the context
    copied into the images folder; return where it now lives."""
    dockerfile = parse_dockerfile(context / "Dockerfile")
    function_env.ensure(context, dockerfile.base, dockerfile.pip_installs)
    target = images_dir / tag
    if not target.is_dir():
        staging = images_dir / f".{tag}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        # a link out of the context stays a link (dangling in the function's view)
        shutil.copytree(context, staging, symlinks=True)
        staging.rename(target)
    return target


def python_for(context: Path) -> str:
    """Server side: the Python of a built image's function environment (built if missing)."""
    dockerfile = parse_dockerfile(context / "Dockerfile")
    return str(function_env.ensure(context, dockerfile.base, dockerfile.pip_installs))


# What Lambda takes, and what it refuses: an image index (a multi-platform list, or what BuildKit's
# default provenance attestations make of a single build under Docker's containerd image store)
# is "not supported" (https://docs.aws.amazon.com/lambda/latest/dg/images-create.html: build with
# `--provenance=false`).
SINGLE_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)


def image_manifest(tag: str, context: Path, *, index: bool = False) -> str:
    """A registry manifest for the tag, annotated with the build context: a single image, or
    (``index``) an OCI image index holding the image and a provenance attestation, as BuildKit
    pushes by default."""
    digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    annotations = {BUILD_CONTEXT_ANNOTATION: str(context)}
    if index:
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": digest,
                        "size": 0,
                        "platform": {"architecture": "amd64", "os": "linux"},
                    },
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:"
                        + hashlib.sha256(b"attestation" + tag.encode()).hexdigest(),
                        "size": 0,
                        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                        "platform": {"architecture": "unknown", "os": "unknown"},
                    },
                ],
                "annotations": annotations,
            }
        )
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": SINGLE_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 0,
                "digest": digest,
            },
            "layers": [],
            "annotations": annotations,
        }
    )


def registered_media_type(image_uri: str, account_id: str, region: str) -> str | None:
    """Server side: the media type of a registered image's manifest (None: not registered)."""
    from moto.ecr.models import ecr_backends

    name, _, tag = image_uri.split("/", 1)[-1].rpartition(":")
    ids = [{"imageTag": tag}]
    if "@" in image_uri:
        name, _, digest = image_uri.split("/", 1)[-1].partition("@")
        ids = [{"imageDigest": digest}]
    try:
        images = ecr_backends[account_id][region].batch_get_image(
            repository_name=name, image_ids=ids
        )["images"]
    except Exception:
        return None
    for image in images:
        try:
            kind = json.loads(image.image_manifest).get("mediaType")
        except (TypeError, ValueError, AttributeError):
            continue
        return str(kind) if kind else None
    return None


def register_image(
    ecr: Any, repository: str, tag: str, context: Path, *, index: bool = False
) -> None:
    """Register ``repository:tag`` in the local registry (idempotent); ``index``: as the OCI
    image index BuildKit pushes with its default attestations."""
    from botocore.exceptions import ClientError

    try:
        ecr.create_repository(repositoryName=repository)
    except ClientError as err:
        if err.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
            raise
    try:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image_manifest(tag, context, index=index),
            imageTag=tag,
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "ImageAlreadyExistsException":
            raise


def context_for_image(image_uri: str, account_id: str, region: str, images_dir: Path) -> Path:
    """Server side: the build context that deploy made for a registered image.

    Only a folder ``deploy`` built into the server's own, private images folder is ever used,
    found by the image's tag: what a client writes into the image (annotations, labels) is
    never trusted, so no caller can make a function run code from another folder.
    """
    from moto.ecr.models import ecr_backends

    name, _, tag = image_uri.split("/", 1)[-1].rpartition(":")
    if "@" in image_uri:
        name, _, digest = image_uri.split("/", 1)[-1].partition("@")
        ids = [{"imageDigest": digest}]
    else:
        ids = [{"imageTag": tag}]
    try:
        images = ecr_backends[account_id][region].batch_get_image(
            repository_name=name, image_ids=ids
        )["images"]
    except Exception as err:
        raise ImageBuildError(
            f"image {image_uri} is not in the local registry; run deploy"
        ) from err
    root = images_dir.resolve()
    for image in images:
        for candidate in getattr(image, "image_tags", None) or [getattr(image, "image_tag", None)]:
            if not isinstance(candidate, str) or not _IMAGE_TAG.fullmatch(candidate):
                continue
            context = (images_dir / candidate).resolve()
            if context.parent == root and context.is_dir():
                return context
    raise ImageBuildError(
        f"image {image_uri} was not built by `ops deploy` on this local target; run deploy"
    )
