"""Checks at the boundary: every value a user gives is refused here, before anything runs, with
a ``ConfigurationError`` that names the argument, the value and what would be accepted.

The CLI's argument types call the same checks, so ``--help`` and the Python API agree.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ops.errors import ConfigurationError

# CloudFormation stack names: a letter, then letters, digits and hyphens (128 at most in all);
# the stage and the prefix are parts of them, and of generated bucket names
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,31}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_STACK = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
MAX_TEXT = 1024


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _matching(argument: str, value: Any, pattern: re.Pattern[str], accepted: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigurationError(f"{argument}={_shown(value)} is not {accepted}")
    return value


def name(argument: str, value: Any) -> str:
    """A stage or stack prefix: part of stack and bucket names."""
    return _matching(
        argument,
        value,
        _NAME,
        "a valid name: use a letter followed by up to 31 letters, digits or hyphens (it becomes "
        "part of the stack names), e.g. dev or prod-2",
    )


def stack_name(argument: str, value: Any) -> str:
    return _matching(
        argument,
        value,
        _STACK,
        "a stack name: a letter, then letters, digits or hyphens (128 at most), e.g. "
        "Reintento-dev-Service",
    )


# Regions outside the commercial `aws` partition, by prefix: their ARNs (arn:aws-cn:...,
# arn:aws-us-gov:...), endpoints and consoles differ
# (https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html)
_OTHER_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-iso-", "aws-iso"),
    ("us-isob-", "aws-iso-b"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
)


def region(argument: str, value: Any) -> str:
    """A region of the commercial partition (``aws``), the one the stacks, the console links
    and the local target are built for."""
    name = _matching(argument, value, _REGION, "an AWS region name such as us-east-1 or eu-west-1")
    for prefix, partition in _OTHER_PARTITIONS:
        if name.startswith(prefix):
            raise ConfigurationError(
                f"{argument}={name!r} is in the {partition} partition; this toolkit supports the "
                "commercial `aws` partition only (its ARNs, endpoints and console links): use a "
                "region such as us-east-1 or eu-west-1"
            )
    return name


def model_key(argument: str, value: Any) -> str:
    """An S3 key for the model: 1 to 1,024 characters, printable, not under batch/."""
    if (
        not isinstance(value, str)
        or not 0 < len(value.encode()) <= 1024
        or not value.isprintable()
        or value.startswith(("/", "batch/"))
        or ".." in value.split("/")
        or not value.endswith((".pkl", ".joblib"))
    ):
        raise ConfigurationError(
            f"{argument}={_shown(value)} is not a usable model key: a printable S3 key of at "
            "most 1,024 bytes ending in .pkl or .joblib, not starting with / or batch/, e.g. "
            "models/mejor_modelo.pkl"
        )
    return value


def text(argument: str, value: Any, *, allow_empty: bool = False) -> str:
    """Free text (a profile name, a log filter pattern): printable, bounded."""
    if (
        not isinstance(value, str)
        or (not value and not allow_empty)
        or len(value) > MAX_TEXT
        or not value.isprintable()
    ):
        raise ConfigurationError(
            f"{argument}={_shown(value)} must be printable text of 1 to {MAX_TEXT} characters"
        )
    return value


def integer(argument: str, value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{argument}={_shown(value)} must be a whole number from {low:,} to {high:,}"
        )
    return value


def within(value: Any, low: float, high: float) -> bool:
    """A finite number (not a bool) from ``low`` to ``high``."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


def number(argument: str, value: Any, *, low: float, high: float) -> float:
    if not within(value, low, high):
        raise ConfigurationError(
            f"{argument}={_shown(value)} must be a number from {low} to {high}"
        )
    return float(value)


def seconds(argument: str, value: Any, *, high: float = 86_400.0) -> float:
    """A wait or a timeout: a finite number of seconds from 0 to ``high`` (a day by default)."""
    if not within(value, 0.0, high):
        raise ConfigurationError(
            f"{argument}={_shown(value)} must be a number of seconds from 0 to {high:,.0f}"
        )
    return float(value)


def _path(argument: str, value: Any, suffixes: tuple[str, ...]) -> Path:
    """A path whose name ends in one of ``suffixes``."""
    try:
        path = Path(value)
    except TypeError as err:
        raise ConfigurationError(f"{argument}={_shown(value)} is not a path") from err
    if path.suffix.lower() not in suffixes:
        raise ConfigurationError(
            f"{argument}={_shown(str(value))} must be a {' or '.join(suffixes)} file"
        )
    return path


def existing_file(argument: str, value: Any, suffixes: tuple[str, ...]) -> Path:
    """A path to an existing file with one of ``suffixes``."""
    path = _path(argument, value, suffixes)
    if not path.is_file():
        raise ConfigurationError(
            f"{argument}={_shown(str(value))}: no such file; check the path (relative paths "
            "start from the current folder)"
        )
    return path


def output_file(argument: str, value: Any, suffixes: tuple[str, ...]) -> Path:
    """A path to write, with one of ``suffixes``, in a folder that exists."""
    path = _path(argument, value, suffixes)
    if not path.parent.is_dir():
        raise ConfigurationError(
            f"{argument}={_shown(str(value))}: no folder {path.parent}; create it first"
        )
    return path
