"""Start a function's process in a filesystem of its own (run as a script, standard library only).

``python sandbox_launch.py '<view json>' <command...>``, the view being ``{"root": <an empty
folder>, "binds": [[<outer path>, <path in the view>], ...], "cwd": <path in the view>}``:
in a new user and mount namespace, a read-only root is built on a fresh tmpfs holding only the
system's programs and libraries, the binds (the function's code, at ``/var/task``), the
launching Python's environment and an empty writable ``/tmp`` (Lambda's 512 MB default:
https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html); the
process pivots into it, drops the old root, sets no_new_privs and becomes ``command`` (the
same pid: the Runtime API admits it by pid). The operator's home, the local target's state
folder (its key, its log) and every other file are not in that view; ``/proc`` is not either
(through another process's ``/proc/<pid>/root`` the old root would be reachable). The network
is shared: the function reaches its Runtime API and the local target over loopback, as a
Lambda function reaches its endpoints.

Any step that fails ends the launch with exit status 125 and the reason on stderr: a function
never runs outside its view once the local target has said it sandboxes.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
LAST_CAPABILITY = 63
# who the function is inside its view: Lambda's sbx_user1051, never root (a root inside would
# keep every capability in its namespace after exec and could remount its view writable)
INNER_UID, INNER_GID = 993, 990
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # syscall numbers (glibc has no wrapper)
FAILED = 125

# what any Python program needs from the machine: its programs and libraries, the dynamic
# linker's cache, name resolution for loopback, time zones, certificates, the basic devices
SYSTEM = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/pki",
    "/dev/null",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/dev/full",
)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source or ''} on {target}",
    )


def _kept_flags(path: str) -> int:
    """A read-only remount must keep the flags its source mount has (the kernel locks them)."""
    flags = os.statvfs(path).f_flag
    return (
        (MS_NOSUID if flags & os.ST_NOSUID else 0)
        | (MS_NODEV if flags & os.ST_NODEV else 0)
        | (MS_NOEXEC if flags & os.ST_NOEXEC else 0)
    )


def _bind(root: str, path: str, at: str | None = None) -> None:
    """``path`` read-only in the view, at ``at`` (default: the same place); a symlink stays a
    symlink."""
    inside = root + (at or path)
    if os.path.lexists(inside):
        return
    if os.path.islink(path):
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        os.symlink(os.readlink(path), inside)
        return
    if not os.path.exists(path):
        return
    if os.path.isdir(path):
        os.makedirs(inside, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        with open(inside, "a"):
            pass
    _mount(path, inside, None, MS_BIND | MS_REC)
    _mount(None, inside, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _kept_flags(path))


def _own_namespaces() -> None:
    uid, gid = os.getuid(), os.getgid()
    os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNS)
    maps = (
        ("setgroups", "deny"),
        ("uid_map", f"{INNER_UID} {uid} 1"),
        ("gid_map", f"{INNER_GID} {gid} 1"),
    )
    for name, text in maps:
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the machine


def _prefixes() -> list[str]:
    """The launching Python's installation and, for a virtual environment, the environment
    (run with -S, ``sys.prefix`` is the installation's: the environment is found from the
    executable, as ``site`` would)."""
    found = [sys.base_prefix, sys.prefix]
    venv = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        found.append(venv)
    return [os.path.normpath(p) for p in found]


def _refuse_exposing(paths: list[str], hidden: list[str]) -> None:
    """A bind must not bring what the view hides (the operator's home, the state folder)."""
    for path in paths:
        for secret in hidden:
            if path == "/" or os.path.commonpath([path, secret]) == path:
                raise OSError(
                    1, f"{path} would show {secret} in the view; install Python elsewhere"
                )


def _users(root: str) -> None:
    """Who the function is, for getpass and ~ (Lambda's user; home in /tmp)."""
    os.makedirs(root + "/etc", exist_ok=True)
    with open(root + "/etc/passwd", "w") as f:
        f.write(f"sbx_user1051:x:{INNER_UID}:{INNER_GID}::/tmp:/sbin/nologin\n")
    with open(root + "/etc/group", "w") as f:
        f.write(f"sbx_user1051:x:{INNER_GID}:\n")


def _enter(view: dict[str, object]) -> None:
    root = str(view["root"])
    binds = view["binds"] if isinstance(view["binds"], list) else []
    hidden = [str(h) for h in view["hidden"]] if isinstance(view["hidden"], list) else []
    prefixes = _prefixes()
    _refuse_exposing(prefixes + [str(outer) for outer, _ in binds], hidden)
    _own_namespaces()
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    os.makedirs(root + "/tmp")
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=512m")
    for outer, inner in binds:  # the deployment first: where it goes is not the machine's
        _bind(root, os.path.normpath(str(outer)), os.path.normpath(str(inner)))
    _users(root)
    for path in (*SYSTEM, *prefixes):
        _bind(root, os.path.normpath(path))
    os.makedirs(root + "/.old")
    _check(
        _libc.syscall(PIVOT_ROOT[platform.machine()], root.encode(), (root + "/.old").encode()),
        "pivot_root",
    )
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "unmount the machine's root")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(str(view["cwd"]))
    for capability in range(LAST_CAPABILITY + 1):  # none left to gain, even by a setuid file
        if _libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            _check(-1, f"drop capability {capability}")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.stderr.write("usage: sandbox_launch.py '<view json>' command...\n")
        raise SystemExit(FAILED)
    try:
        _enter(json.loads(argv[0]))
        os.execv(argv[1], argv[1:])
    except (OSError, ValueError, KeyError) as err:
        sys.stderr.write(f"sandbox: {err}\n")
        raise SystemExit(FAILED) from None


if __name__ == "__main__":
    main(sys.argv[1:])
