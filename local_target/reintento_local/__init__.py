"""The local target: an AWS emulator on 127.0.0.1 that its users reach over HTTP only.

moto in a server process, behind a gate that checks every request's Signature Version 4 against
a key made at each start, with named fixes where moto differs from what AWS documents
(``reintento_local.patches.PATCHES``). It never imports the toolkit (``ops``); this is all a
caller needs:

- ``ensure_running(port, state_dir)``, ``stop(port, state_dir)``, ``status(port, state_dir)``:
  start (idempotent), stop and inspect the server; ``LocalTargetStatus.endpoint`` is its URL;
- ``read_credentials(state_dir)``: the key of the current start (None when it is not running);
- ``publish(assets_file, s3=, ecr=, account=, region=, images_dir=)``: publish a CDK stack's
  file and image assets (an image is a Python environment built from its Dockerfile);
- ``python_for(context)``: the Python of the environment an image's Dockerfile describes;
- ``inject(state_dir, rules)``: platform faults on demand, for tests (``reintento_local.faults``);
- ``metrics_delay(state_dir)``: how long after a call its CloudWatch metrics are visible;
- ``free_port()``: a free loopback port;
- ``LocalTargetError`` (and ``ImageBuildError``): every failure, with what to do next.
"""

from __future__ import annotations

from reintento_local.assets import publish
from reintento_local.credentials import read_credentials
from reintento_local.errors import ImageBuildError, LocalTargetError
from reintento_local.faults import inject
from reintento_local.images import python_for
from reintento_local.process import (
    LocalTargetStatus,
    ensure_running,
    free_port,
    metrics_delay,
    status,
    stop,
)

__all__ = [
    "ImageBuildError",
    "LocalTargetError",
    "LocalTargetStatus",
    "ensure_running",
    "free_port",
    "inject",
    "metrics_delay",
    "publish",
    "python_for",
    "read_credentials",
    "status",
    "stop",
]
