"""Synthesize the CDK app (``infra/app.py``) and read the cloud assembly it writes.

The same assembly deploys to AWS (CDK CLI) and to the local target (CloudFormation change sets).
Synth runs ``infra/app.py`` in a subprocess, as the CDK CLI does: ``CDK_OUTDIR`` and
``CDK_CONTEXT_JSON`` carry the output folder and the context.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ops.aws import node
from ops.errors import DeployError
from ops.modelfiles.versions import PROJECT_ROOT

INFRA_APP = PROJECT_ROOT / "infra" / "app.py"


@dataclass(frozen=True)
class StackArtifact:
    """One stack of the assembly."""

    artifact_id: str
    stack_name: str
    template_file: Path
    assets_file: Path | None
    dependencies: tuple[str, ...]

    @property
    def template_body(self) -> str:
        return self.template_file.read_text()


@dataclass(frozen=True)
class CloudAssembly:
    outdir: Path
    stacks: tuple[StackArtifact, ...]  # dependencies first


def read_assembly(outdir: Path) -> CloudAssembly:
    manifest = json.loads((outdir / "manifest.json").read_text())
    artifacts = manifest["artifacts"]
    stacks: dict[str, StackArtifact] = {}
    for artifact_id, artifact in artifacts.items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact["properties"]
        assets = None
        for dep in artifact.get("dependencies", []):
            if artifacts.get(dep, {}).get("type") == "cdk:asset-manifest":
                assets = outdir / artifacts[dep]["properties"]["file"]
        stacks[artifact_id] = StackArtifact(
            artifact_id,
            props.get("stackName", artifact_id),
            outdir / props["templateFile"],
            assets,
            tuple(
                d
                for d in artifact.get("dependencies", [])
                if d in artifacts and artifacts[d].get("type") == "aws:cloudformation:stack"
            ),
        )
    ordered: list[StackArtifact] = []
    while len(ordered) < len(stacks):
        for stack in stacks.values():
            if stack not in ordered and all(
                stacks[d] in ordered for d in stack.dependencies if d in stacks
            ):
                ordered.append(stack)
    return CloudAssembly(outdir, tuple(ordered))


def fingerprint(context: dict[str, str], account: str | None, region: str) -> str:
    """What the assembly depends on: the app's and the image's files, and the context."""
    digest = hashlib.sha256(json.dumps([context, account, region], sort_keys=True).encode())
    for folder in (PROJECT_ROOT / "infra", PROJECT_ROOT / "lambda"):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "cdk.out" not in path.parts and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def synth(context: dict[str, str], outdir: Path, account: str | None, region: str) -> CloudAssembly:
    """Run the CDK app into ``outdir`` (skipped when nothing it depends on changed)."""
    stamp = outdir / ".fingerprint"
    wanted = fingerprint(context, account, region)
    if stamp.is_file() and stamp.read_text() == wanted and (outdir / "manifest.json").is_file():
        return read_assembly(outdir)
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    env = node.environment()  # jsii runs the pinned Node 22 (ops/aws/node.py)
    env.update(
        {
            "CDK_OUTDIR": str(outdir),
            "CDK_CONTEXT_JSON": json.dumps(context),
            "CDK_DEFAULT_REGION": region,
        }
    )
    if account:
        env["CDK_DEFAULT_ACCOUNT"] = account
    done = subprocess.run(
        [sys.executable, str(INFRA_APP)],
        cwd=INFRA_APP.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DeployError(
            f"cdk synth failed (exit {done.returncode}); fix the app in infra/ and retry:\n"
            + done.stderr[-3000:]
        )
    stamp.write_text(wanted)
    return read_assembly(outdir)
