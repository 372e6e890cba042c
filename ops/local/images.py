"""Image functions without Docker: the local "image build" and how the runtime finds the code.

Building registers the image tag in the local container registry (ECR on the local target) with
an annotation that records the build context, copied into the state folder. Before that, the
Python environment that runs functions is checked against the image's ``requirements.txt``, so
a missing or different dependency fails the deploy, not the first request.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ops.errors import DeployError
from ops.modelfiles.versions import read_pins

BUILD_CONTEXT_ANNOTATION = "reintento.local/build-context"
TASK_ROOT_VARS = ("${LAMBDA_TASK_ROOT}", "$LAMBDA_TASK_ROOT", "/var/task")
_IMAGE_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # Docker's tag grammar


@dataclass(frozen=True)
class Dockerfile:
    """What the runtime needs from a Lambda Dockerfile: handler, environment, copied folders."""

    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    copied_dirs: list[str] = field(default_factory=list)


def parse_dockerfile(path: Path) -> Dockerfile:
    """Read CMD, ENV and the folders COPY'd into the task root (line continuations joined)."""
    if not path.is_file():
        raise DeployError(f"no Dockerfile at {path}; an image function needs one with a CMD")
    text = re.sub(r"\\\r?\n", " ", path.read_text())
    cmd: list[str] = []
    env: dict[str, str] = {}
    copied: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "CMD":
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
            if len(parts) >= 2 and any(parts[-1].startswith(v) for v in TASK_ROOT_VARS):
                copied.extend(parts[:-1])
    if not cmd:
        raise DeployError(f'{path} has no CMD; add CMD ["module.handler"]')
    return Dockerfile(cmd, env, copied)


def check_requirements(requirements: Path) -> list[str]:
    """Problems of this Python environment against the image's exact pins (empty: all good)."""
    if not requirements.is_file():
        return []
    problems: list[str] = []
    for name, wanted in read_pins(requirements).items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}=={wanted} is required but not installed")
            continue
        if have != wanted:
            problems.append(f"{name}=={wanted} is required but {have} is installed")
    return problems


def build_image(context: Path, images_dir: Path, tag: str) -> Path:
    """The local build: check the environment, copy the context, return where it now lives."""
    dockerfile = parse_dockerfile(context / "Dockerfile")
    problems = check_requirements(context / "requirements.txt")
    if problems:
        raise DeployError(
            "the local target cannot run this image: "
            + "; ".join(problems)
            + ". Run `make setup` (the project's environment matches lambda/requirements.txt)"
        )
    target = images_dir / tag
    if not target.is_dir():
        staging = images_dir / f".{tag}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(context, staging)
        staging.rename(target)
    del dockerfile
    return target


def image_manifest(tag: str, context: Path) -> str:
    """A registry manifest for the tag, annotated with the build context."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 0,
                "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
            },
            "layers": [],
            "annotations": {BUILD_CONTEXT_ANNOTATION: str(context)},
        }
    )


def register_image(ecr: Any, repository: str, tag: str, context: Path) -> None:
    """Register ``repository:tag`` in the local registry (idempotent)."""
    from botocore.exceptions import ClientError

    try:
        ecr.create_repository(repositoryName=repository)
    except ClientError as err:
        if err.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
            raise
    try:
        ecr.put_image(
            repositoryName=repository, imageManifest=image_manifest(tag, context), imageTag=tag
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
        raise DeployError(f"image {image_uri} is not in the local registry; run deploy") from err
    root = images_dir.resolve()
    for image in images:
        for candidate in getattr(image, "image_tags", None) or [getattr(image, "image_tag", None)]:
            if not isinstance(candidate, str) or not _IMAGE_TAG.fullmatch(candidate):
                continue
            context = (images_dir / candidate).resolve()
            if context.parent == root and context.is_dir():
                return context
    raise DeployError(
        f"image {image_uri} was not built by `ops deploy` on this local target; run deploy"
    )
