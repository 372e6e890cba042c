"""The local target's own errors; every message says what to do next. Callers translate them
(ops turns them into its ``LocalTargetError`` and ``DeployError``)."""

from __future__ import annotations


class LocalTargetError(Exception):
    """The local target could not be started, reached or used."""


class ImageBuildError(LocalTargetError):
    """A function's image (its Python environment here) could not be built from its Dockerfile."""
