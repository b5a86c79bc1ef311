"""Loopback ports that really belong to the process we started.

Picking a free port (bind port 0, close) and starting a server on it later leaves a gap in which
any other process can take the port: then the server we started never serves, and a readiness
probe that only asks "does something answer on this port?" passes against whoever took it. Two
ways out of that, used by the local stack:

* ``listening_socket``: we bind and listen ourselves and hand the socket to the child (the
  functions, through ``local.function_server``): the port is ours from the first moment to the
  last, and a function restarted (a chaos kill, a changed setting) serves the same socket again.
* ``owner``: for servers that cannot take a socket (the emulators, in Java), whether the LISTEN
  socket on the port is one of the open files of the process group we started, read from
  ``/proc/net/tcp{,6}`` and ``/proc/<pid>/fd`` (Linux); ``local.emulators`` starts again on
  another port when someone else holds it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

LISTEN, TIME_WAIT = "0A", "06"
# The listening addresses that answer a connection to 127.0.0.1:<port>.
LOOPBACK = {ipaddress.ip_address(a) for a in ("127.0.0.1", "0.0.0.0", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0")}
PROC = Path("/proc")


def listening_socket(host: str = "127.0.0.1", backlog: int = 128) -> socket.socket:
    """A TCP socket listening on ``host`` at a port the kernel picked: nobody else can bind it
    while it is open. Pass ``fileno()`` to a child with ``pass_fds``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def supported() -> bool:
    """Whether ``owner`` can tell (Linux's /proc)."""
    return (PROC / "net" / "tcp").exists()


def _address(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """``0100007F:1F90`` (tcp) or 32 hex digits (tcp6), each 32-bit word in host order."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words), int(port, 16)


def sockets_on(port: int) -> list[tuple[str, int, bool]]:
    """(state, inode, answers 127.0.0.1) of every TCP socket bound to ``port``, IPv4 and IPv6."""
    found = []
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            address, local_port = _address(fields[1])
            if local_port == port:
                found.append((fields[3], int(fields[9]), address in LOOPBACK))
    return found


def group_socket_inodes(pgid: int) -> set[int]:
    """The inodes of every socket open in a process of group ``pgid``."""
    inodes = set()
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        try:
            stat = (PROC / entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[2]) != pgid:
                continue
            fds = os.listdir(PROC / entry / "fd")
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
        for fd in fds:
            try:
                target = os.readlink(PROC / entry / "fd" / fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def owner(port: int, pgid: int) -> str:
    """Who answers connections to 127.0.0.1:``port``: "ours" (only sockets of process group
    ``pgid`` listen there), "other" (some other process listens there, alone or beside ours),
    "none" (nobody listens yet)."""
    listening = {inode for state, inode, loopback in sockets_on(port) if state == LISTEN and loopback}
    if not listening:
        return "none"
    return "ours" if listening <= group_socket_inodes(pgid) else "other"


def taken(port: int) -> bool:
    """Whether a socket (other than one closing in TIME_WAIT) is bound to ``port``."""
    return any(state != TIME_WAIT for state, _, _ in sockets_on(port))
