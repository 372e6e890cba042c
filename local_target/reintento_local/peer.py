"""Who is at the other end of a loopback TCP connection: the owner and process of its socket.

Lambda's Runtime API is reachable only from inside its own execution environment. Here an
environment is a process on the operator's machine and its Runtime API a loopback port, which any
local user could connect to; so each connection's peer is looked up before it is served: its
socket, found by the kernel's socket diagnostics (netlink ``sock_diag``: an exact lookup of the
connection's four-tuple, microseconds; else a search of ``/proc/net/tcp``, milliseconds on a
busy machine), must be owned by this user and open in the environment's own process
(``/proc/<pid>/fd`` holds ``socket:[inode]``). Linux only, as the rest of the local target's
runtime. See sock_diag(7) and proc(5).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import struct

TABLES = ("/proc/net/tcp", "/proc/net/tcp6")  # IPv4 loopback is in the first


def _hex_address(host: str, port: int) -> str:
    """An address as the kernel's tables print it: the IP's 32-bit words in this machine's byte
    order, in hex, then the port."""
    packed = ipaddress.ip_address(host).packed
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words) + f":{port:04X}"


NETLINK_SOCK_DIAG = 4  # linux/netlink.h
SOCK_DIAG_BY_FAMILY = 20  # linux/sock_diag.h
NLM_F_REQUEST = 1
INET_DIAG_NOCOOKIE = 0xFFFFFFFF  # an exact lookup by address and port, not by cookie
_NLMSGHDR = struct.Struct("=IHHII")
_UID_AT = _NLMSGHDR.size + 4 + 48 + 12  # inet_diag_msg: 4 bytes, sockid, expires/rqueue/wqueue


def _diag(peer: tuple[str, int], local: tuple[str, int]) -> tuple[int, int] | None:
    """(uid, inode) from sock_diag's exact lookup of a TCP/IPv4 socket; None if not found."""
    sockid = (
        struct.pack("!HH", peer[1], local[1])
        + socket.inet_aton(peer[0]).ljust(16, b"\0")
        + socket.inet_aton(local[0]).ljust(16, b"\0")
        + struct.pack("=III", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    )
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as netlink:
        netlink.settimeout(2.0)
        netlink.send(header + request)
        answer = netlink.recv(8192)
    _, kind = struct.unpack_from("=IH", answer)
    if kind != SOCK_DIAG_BY_FAMILY or len(answer) < _UID_AT + 8:
        return None  # NLMSG_ERROR: no such socket
    uid, inode = struct.unpack_from("=II", answer, _UID_AT)
    return int(uid), int(inode)


def socket_of(peer: tuple[str, int], local: tuple[str, int]) -> tuple[int, int] | None:
    """(owner uid, inode) of the socket at ``peer`` connected to ``local``; None if not found."""
    if ":" not in peer[0]:
        try:
            found = _diag(peer, local)
        except OSError:
            found = None  # no netlink here (a container may refuse it)
        if found is not None:
            return found
    # netlink refused or found nothing (a kernel without tcp_diag): the kernel's table
    return table_entry(peer, local)


def table_entry(peer: tuple[str, int], local: tuple[str, int]) -> tuple[int, int] | None:
    """(owner uid, inode) of the socket as ``/proc/net/tcp`` lists it; None if not found."""
    wanted = f": {_hex_address(*peer)} {_hex_address(*local)} "
    for table in TABLES:
        try:
            with open(table) as handle:
                text = handle.read()  # one search of the whole table: thousands of lines
        except OSError:
            continue
        at = text.find(wanted)
        if at >= 0:
            fields = text[at : text.find("\n", at)].split()
            if len(fields) > 9:
                return int(fields[7]), int(fields[9])
    return None


def process_holds(pid: int, inode: int) -> bool:
    """Whether process ``pid`` has the socket ``inode`` open."""
    wanted = f"socket:[{inode}]"
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(f"{folder}/{name}") == wanted:
                return True
    return False


def peer_is(pid: int, peer: tuple[str, int], local: tuple[str, int]) -> bool:
    """Whether the connection from ``peer`` to ``local`` comes from process ``pid`` of this
    user."""
    found = socket_of(peer, local)
    if found is None:
        return False
    uid, inode = found
    return uid == os.getuid() and process_holds(pid, inode)
