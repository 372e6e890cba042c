"""Publish a stack's assets to the local target: file assets to S3, images built locally."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from reintento_local.images import build_image, register_image


def _sub(text: str, account: str, region: str) -> str:
    return (
        text.replace("${AWS::AccountId}", account)
        .replace("${AWS::Region}", region)
        .replace("${AWS::Partition}", "aws")
    )


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.getvalue()


def publish(
    assets_file: Path, *, s3: Any, ecr: Any, account: str, region: str, images_dir: Path
) -> list[str]:
    """Publish every asset of one asset manifest; return the image tags registered."""
    spec = json.loads(assets_file.read_text())
    base = assets_file.parent
    for asset in spec.get("files", {}).values():
        source = base / asset["source"]["path"]
        body = _zip(source) if source.is_dir() else source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = _sub(destination["bucketName"], account, region)
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(
                Bucket=bucket, Key=_sub(destination["objectKey"], account, region), Body=body
            )
    tags: list[str] = []
    for asset in spec.get("dockerImages", {}).values():
        context = base / asset["source"]["directory"]
        for destination in asset["destinations"].values():
            tag = destination["imageTag"]
            built = build_image(context, images_dir, tag)
            register_image(ecr, _sub(destination["repositoryName"], account, region), tag, built)
            tags.append(tag)
    return tags
