"""Images Lambda takes: one image per build, never the index BuildKit's default attestations
push (Lambda refuses it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.settings import Settings
from ops.targets.aws import cdk_environment
from reintento_local import docker_standin
from reintento_local.images import INDEX_MEDIA_TYPES, SINGLE_MANIFEST, image_manifest


def test_the_cdk_cli_builds_one_image_without_attestations() -> None:
    env = cdk_environment(Settings.resolve(target="aws", region="eu-west-1"))
    assert env["BUILDX_NO_DEFAULT_ATTESTATIONS"] == "1"
    assert env["AWS_REGION"] == "eu-west-1"


@pytest.mark.parametrize(
    ("variable", "args", "index"),
    [
        (None, [], True),  # BuildKit's default: a provenance attestation, an index
        ("1", [], False),
        (None, ["--provenance=false"], False),
    ],
)
def test_the_docker_stand_in_builds_as_buildkit_does(
    variable: str | None, args: list[str], index: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if variable is None:
        monkeypatch.delenv("BUILDX_NO_DEFAULT_ATTESTATIONS", raising=False)
    else:
        monkeypatch.setenv("BUILDX_NO_DEFAULT_ATTESTATIONS", variable)
    assert docker_standin._attests(args) is index


def test_a_pushed_index_is_an_index(tmp_path: Path) -> None:
    assert json.loads(image_manifest("t", tmp_path))["mediaType"] == SINGLE_MANIFEST
    assert json.loads(image_manifest("t", tmp_path, index=True))["mediaType"] in INDEX_MEDIA_TYPES
