"""A stand-in for the ``docker`` client, so the CDK CLI publishes image assets to the local target.

Rehearsing an AWS deploy locally (``target="aws"`` with ``AWS_ENDPOINT_URL`` pointing at the
local target) runs the real CDK CLI, which builds an image asset by calling ``docker``. Without
a Docker daemon, this stand-in does what the build would do on the local target: ``build``
builds the function's environment from the Dockerfile (``reintento_local.function_env``, as the
local deploy does) and remembers the context; ``push`` copies the context into the local
target's private images folder and registers the image in its ECR (``reintento_local.images``),
where the Lambda runtime finds it. ``info``, ``login``, ``inspect``, ``images`` and ``tag``
answer as the CLI expects. Anything else fails loudly. Where a Docker daemon runs, use real
Docker instead.

Install it first on ``PATH`` with :func:`install` (a ``docker`` script in a folder of yours).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STATE_ENV = "REINTENTO_DOCKER_STANDIN_STATE"  # the stand-in's own record of tags
IMAGES_ENV = "REINTENTO_DOCKER_STANDIN_IMAGES"  # the local target's images folder


def install(folder: Path, state_dir: Path) -> dict[str, str]:
    """Write a ``docker`` script into ``folder``; return the environment that puts it first on
    PATH for ``state_dir``'s local target."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "docker"
    script.write_text(
        f"#!{sys.executable}\n"
        "from reintento_local.docker_standin import main\nraise SystemExit(main())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
        STATE_ENV: str(folder / "tags.json"),
        IMAGES_ENV: str(state_dir / "images"),
    }


@contextmanager
def _tags() -> Iterator[dict[str, str]]:
    """tag -> build context, kept in a file (each CLI call is a new process)."""
    path = Path(os.environ[STATE_ENV])
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f"{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tags: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        yield tags
        path.write_text(json.dumps(tags))


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    while args and args[0] == "--config":  # a config folder: nothing to configure here
        args = args[2:]
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "info":
        print("reintento docker stand-in (no daemon; builds on the local target)")
        return 0
    if command == "login":
        sys.stdin.read()
        print("Login Succeeded")
        return 0
    if command == "inspect":
        with _tags() as tags:
            return 0 if rest and rest[-1] in tags else 1
    if command == "images":
        wanted = (_option(rest, "--filter") or "").rpartition(":")[2]
        with _tags() as tags:
            listed = [t for t in tags if "/" in t and not t.startswith(INDEX_MARK)]
            print("\n".join(t for t in listed if t.rpartition(":")[2] == wanted))
        return 0
    if command == "build":
        return _build(rest)
    if command == "tag" and len(rest) == 2:
        with _tags() as tags:
            if rest[0] not in tags:
                print(f"Error: No such image: {rest[0]}", file=sys.stderr)
                return 1
            tags[rest[1]] = tags[rest[0]]
            if tags.get(INDEX_MARK + rest[0]):
                tags[INDEX_MARK + rest[1]] = "1"
            else:
                tags.pop(INDEX_MARK + rest[1], None)
        return 0
    if command == "push" and rest:
        return _push(rest[-1])
    print(f"docker stand-in: `docker {' '.join(args)}` is not supported", file=sys.stderr)
    return 2


def _build(rest: list[str]) -> int:
    from reintento_local import function_env
    from reintento_local.errors import LocalTargetError
    from reintento_local.images import parse_dockerfile

    tag = _option(rest, "--tag")
    if tag is None or rest[-1] != ".":
        print("docker stand-in: build needs --tag and the context `.`", file=sys.stderr)
        return 2
    context = Path.cwd()
    dockerfile = context / (_option(rest, "--file") or "Dockerfile")
    try:
        parsed = parse_dockerfile(dockerfile)
        function_env.ensure(context, parsed.base, parsed.pip_installs)
    except LocalTargetError as err:
        print(f"docker stand-in: {err}", file=sys.stderr)
        return 1
    with _tags() as tags:
        tags[tag] = str(context)
        if _attests(rest):
            tags[INDEX_MARK + tag] = "1"
        else:  # a rebuild replaces the image, as Docker's does
            tags.pop(INDEX_MARK + tag, None)
    print(f"built {tag} (the function's environment; no image layers)")
    return 0


# BuildKit adds a provenance attestation by default, and with Docker's containerd image store the
# pushed tag is then an OCI image index, which Lambda refuses; `--provenance=false` or
# BUILDX_NO_DEFAULT_ATTESTATIONS=1 builds one image (https://docs.docker.com/build/metadata/attestations/).
INDEX_MARK = "index:"


def _attests(build_args: list[str]) -> bool:
    if os.environ.get("BUILDX_NO_DEFAULT_ATTESTATIONS", "").strip() not in ("", "0", "false"):
        return False
    return not any(a in ("--provenance=false", "--provenance=0") for a in build_args)


def _push(reference: str) -> int:
    import boto3

    from reintento_local.images import build_image, register_image

    with _tags() as tags:
        context = tags.get(reference)
        index = bool(tags.get(INDEX_MARK + reference))
    if context is None:
        print(f"An image does not exist locally with the tag: {reference}", file=sys.stderr)
        return 1
    name, _, tag = reference.rpartition(":")
    repository = name.split("/", 1)[1]
    built = build_image(Path(context), Path(os.environ[IMAGES_ENV]), tag)
    ecr = boto3.client("ecr")  # AWS_ENDPOINT_URL: the local target
    register_image(ecr, repository, tag, built, index=index)
    print(f"{tag}: pushed to {repository}")
    return 0
