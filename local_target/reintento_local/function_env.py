"""The function's own Python environment on the local target: what its image would contain.

On AWS a container-image function imports only what its image holds: the base image's Python and
runtime interface client, and what the Dockerfile's ``RUN pip install`` lines installed. The
local target builds the same thing without Docker: an isolated virtual environment (no project
package is visible) with the packages of each ``RUN pip install`` line of the Dockerfile (a
``--require-hashes`` lock is checked hash by hash, as in the image build), plus ``awslambdaric``,
the runtime interface client the AWS base images carry. A module the handler imports that the
image would not have fails locally as it would on AWS (``Runtime.ImportModuleError``).

Its Python is this project's interpreter, whose minor version must equal the base image's
(``FROM public.ecr.aws/lambda/python:3.12...``): a model saved here is loaded by the same Python
in the function. Environments are cached by a hash of what defines them (Python, the install
lines, the files they name, the runtime client's pin), in the user's cache folder, shared by
every local target; each is built once, before first use, with pip's progress on stderr.
See https://docs.aws.amazon.com/lambda/latest/dg/python-image.html (AWS base images for Python).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from reintento_local.errors import ImageBuildError

RUNTIME_CLIENT = "awslambdaric"
_BASE = re.compile(r"public\.ecr\.aws/lambda/python:(\d+)\.(\d+)(?:[.\w-]*)?")
_TASK_ROOT = re.compile(r"^(?:\$\{LAMBDA_TASK_ROOT\}|\$LAMBDA_TASK_ROOT|/var/task)/")
# the pip options an image's install line may use here; anything else is refused, not ignored
_FLAGS_WITH_FILE = ("-r", "--requirement", "-c", "--constraint")
_FLAGS = ("--require-hashes", "--no-deps", "--no-cache-dir", "--only-binary=:all:")
COMPLETE = ".complete.json"


def cache_root() -> Path:
    """Where function environments live: ``REINTENTO_CACHE_DIR``, else the XDG cache folder."""
    explicit = os.environ.get("REINTENTO_CACHE_DIR")
    if explicit:
        return Path(explicit) / "function-envs"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "reintento" / "function-envs"


def base_python_minor(base_image: str) -> tuple[int, int]:
    """(3, 12) for ``public.ecr.aws/lambda/python:3.12.<date>``; refuses other bases."""
    found = _BASE.fullmatch(base_image.strip())
    if found is None:
        raise ImageBuildError(
            f"the local target runs images built FROM public.ecr.aws/lambda/python:3.X only, "
            f"not {base_image!r}; use an AWS base image for Python"
        )
    return int(found.group(1)), int(found.group(2))


def install_args(line: list[str], context: Path) -> list[str]:
    """pip's arguments for one ``RUN pip install ...`` of the Dockerfile, files mapped into the
    build context; an option the local build cannot reproduce is refused."""
    args: list[str] = []
    words = iter(line)
    for word in words:
        if word in _FLAGS_WITH_FILE:
            name = next(words, "")
            local = context / _TASK_ROOT.sub("", name)
            if not local.is_file():
                raise ImageBuildError(
                    f"RUN pip install {word} {name}: no {local.name} in {context}"
                )
            args += [word, str(local)]
        elif word in _FLAGS:
            if word != "--no-cache-dir":  # the local build may use pip's cache
                args.append(word)
        elif word.startswith("-"):
            raise ImageBuildError(
                f"RUN pip install {word}: the local target reproduces only "
                f"{', '.join(_FLAGS_WITH_FILE + _FLAGS)} and package pins"
            )
        else:
            args.append(word)
    return args


def environment_key(minor: tuple[int, int], installs: list[list[str]]) -> str:
    """A hash of everything that defines the environment (the files' contents included)."""
    files = {
        arg: hashlib.sha256(Path(arg).read_bytes()).hexdigest()
        for line in installs
        for arg in line
        if Path(arg).is_file()
    }
    defining = {
        "python": sys.version,
        "image_python": list(minor),
        "installs": [[Path(a).name if a in files else a for a in line] for line in installs],
        "files": sorted(files.values()),
        "runtime_client": metadata.version(RUNTIME_CLIENT),
    }
    return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()[:20]


def _installed_pins() -> str:
    """Every distribution beside this local target at its version, as pip constraints: the
    runtime interface client is installed as the local target runs it, its dependencies too."""
    found = {f"{d.metadata['Name']}=={d.version}\n" for d in metadata.distributions()}
    return "".join(sorted(found))


def trusted_root(root: Path) -> Path:
    """``root``, created private if missing; refused when another user owns it or others may
    write it (whoever writes there chooses the code every function runs)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = root.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ImageBuildError(
            f"the function environments' cache {root} is not yours alone (owner uid "
            f"{info.st_uid}, mode {info.st_mode & 0o777:o}): whoever can write it chooses the "
            "code functions run. Remove it, or set REINTENTO_CACHE_DIR to a folder of your own"
        )
    # a folder above it that others may write (without the sticky bit, which lets only an
    # entry's owner rename it, as in /tmp) lets them move the cache away and put theirs there
    for parent in root.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o002 and not mode & stat.S_ISVTX:
            raise ImageBuildError(
                f"the function environments' cache {root} may be replaced by another user: "
                f"{parent} is writable by everyone (mode {mode & 0o7777:o}). Set "
                "REINTENTO_CACHE_DIR to a folder of your own"
            )
    return root


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip(python: Path, args: list[str]) -> None:
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    with subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        tail: list[str] = []
        shown = sys.stderr.isatty()  # pip's progress on a terminal; a notebook's record: no
        for line in process.stdout:
            if shown:
                print(f"function env: {line.rstrip()}", file=sys.stderr, flush=True)
            tail = [*tail[-30:], line]
    if process.returncode != 0:
        raise ImageBuildError(
            f"building the function's environment failed (pip install {shlex.join(args)}):\n"
            + "".join(tail)
            + "Fix the requirements its Dockerfile installs (for this project: "
            "lambda/requirements.txt, then `make lock`)"
        )


def ensure(context: Path, base_image: str, installs: list[list[str]]) -> Path:
    """The Python of the environment for an image (built now if missing); its minor version
    must equal the base image's."""
    minor = base_python_minor(base_image)
    if sys.version_info[:2] != minor:
        raise ImageBuildError(
            f"the image is Python {minor[0]}.{minor[1]} ({base_image}) but the local target runs "
            f"Python {sys.version_info[0]}.{sys.version_info[1]}: make the project's Python the "
            "image's (the README's set-up: `make setup` with that Python)"
        )
    mapped = [install_args(line, context) for line in installs]
    root = trusted_root(cache_root())
    target = root / environment_key(minor, mapped)
    python = target / "bin" / "python"
    if (target / COMPLETE).is_file():
        return python
    with _exclusive(root / f"{target.name}.lock"):
        if (target / COMPLETE).is_file():
            return python
        shutil.rmtree(target, ignore_errors=True)
        started = time.monotonic()
        print(
            f"function env: building the function's Python environment in {target} (once; "
            "later deploys reuse it)",
            file=sys.stderr,
            flush=True,
        )
        try:
            subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
            for args in mapped:
                _pip(python, args)
            pins = target / "runtime-client-constraints.txt"
            pins.write_text(_installed_pins())
            _pip(python, [f"{RUNTIME_CLIENT}=={metadata.version(RUNTIME_CLIENT)}", "-c", str(pins)])
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # never a half-built environment
            raise
        seconds = time.monotonic() - started
        (target / COMPLETE).write_text(json.dumps({"built_seconds": round(seconds, 1)}))
        print(f"function env: built in {seconds:.0f} s", file=sys.stderr, flush=True)
    return python
