"""The function's environment on the local target follows the image's Dockerfile: its base
image's Python, its `RUN pip install` lines, nothing the local build cannot reproduce."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.modelfiles.versions import LAMBDA_DIR
from reintento_local import function_env
from reintento_local.errors import ImageBuildError
from reintento_local.images import parse_dockerfile


def test_the_real_dockerfile_is_read_for_its_base_and_installs() -> None:
    parsed = parse_dockerfile(LAMBDA_DIR / "Dockerfile")
    assert function_env.base_python_minor(parsed.base) == (3, 12)
    assert parsed.pip_installs == [
        [
            "--no-cache-dir",
            "--require-hashes",
            "--only-binary=:all:",
            "--no-deps",
            "-r",
            "${LAMBDA_TASK_ROOT}/requirements.lock",
        ]
    ]
    args = function_env.install_args(parsed.pip_installs[0], LAMBDA_DIR)
    assert args == [
        "--require-hashes",
        "--only-binary=:all:",
        "--no-deps",
        "-r",
        str(LAMBDA_DIR / "requirements.lock"),
    ]


def test_what_the_local_build_cannot_reproduce_is_refused(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM x\nRUN dnf install -y gcc && pip install six\nCMD ["a.h"]\n')
    with pytest.raises(ImageBuildError, match="cannot be reproduced by the local target"):
        parse_dockerfile(dockerfile)
    with pytest.raises(ImageBuildError, match="reproduces only"):
        function_env.install_args(["--index-url", "http://example.invalid", "six"], tmp_path)
    with pytest.raises(ImageBuildError, match=r"no requirements\.txt in"):
        function_env.install_args(["-r", "/var/task/requirements.txt"], tmp_path)
    with pytest.raises(ImageBuildError, match=r"public\.ecr\.aws/lambda/python:3\.X only"):
        function_env.base_python_minor("python:3.12-slim")


def test_a_base_image_of_another_python_minor_is_refused(tmp_path: Path) -> None:
    # the project's Python must be the image's: a model saved here is loaded by that Python
    with pytest.raises(ImageBuildError, match=r"the image is Python 3\.11 .* runs Python 3\.12"):
        function_env.ensure(tmp_path, "public.ecr.aws/lambda/python:3.11.2025.11.19.14", [])


def test_the_environment_key_follows_what_defines_it(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("six==1.17.0\n")
    line = ["--require-hashes", "-r", str(lock)]
    first = function_env.environment_key((3, 12), [line])
    assert function_env.environment_key((3, 12), [line]) == first
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "requirements.lock").write_text("six==1.17.0\n")
    # the same files elsewhere (another build context) share the environment
    assert (
        function_env.environment_key(
            (3, 12), [["--require-hashes", "-r", str(moved / "requirements.lock")]]
        )
        == first
    )
    lock.write_text("six==1.16.0\n")
    assert function_env.environment_key((3, 12), [line]) != first
    assert function_env.environment_key((3, 12), []) != first


def test_cache_root_is_the_users_cache_or_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REINTENTO_CACHE_DIR", str(tmp_path))
    assert function_env.cache_root() == tmp_path / "function-envs"
    monkeypatch.delenv("REINTENTO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert function_env.cache_root() == tmp_path / "xdg" / "reintento" / "function-envs"


def test_a_cache_others_may_write_is_refused(tmp_path: Path) -> None:
    # GIVEN a cache folder of the function environments that others may write
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    # THEN it is refused, saying why and what to do (another user could plant a `bin/python`)
    with pytest.raises(ImageBuildError, match=r"not yours alone.*REINTENTO_CACHE_DIR"):
        function_env.trusted_root(shared)
    # AND a new one is made private, and trusted
    made = function_env.trusted_root(tmp_path / "new" / "function-envs")
    assert made.stat().st_mode & 0o077 == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_cache_another_user_owns_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(ImageBuildError, match="owner uid 65534"):
        function_env.trusted_root(theirs)


def test_a_cache_inside_a_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    # GIVEN a private cache folder inside a folder everyone may write (no sticky bit): another
    # user may rename it away and put their own in its place
    open_parent = tmp_path / "open"
    open_parent.mkdir()
    open_parent.chmod(0o777)
    cache = open_parent / "function-envs"
    cache.mkdir(mode=0o700)
    # THEN it is refused, naming the folder
    with pytest.raises(ImageBuildError, match=r"open.*may be replaced by another user"):
        function_env.trusted_root(cache)
    # AND inside a sticky folder (as /tmp: only an entry's owner may rename it) it is trusted
    open_parent.chmod(0o1777)
    assert function_env.trusted_root(cache) == cache
