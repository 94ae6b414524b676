"""Who is at the other end of a loopback TCP connection.

A loopback address is reachable by every local user, but what dpweb
shows (every service's argv, environment, STATUS= text) is what dpctl
shows only to daemonproxy's user and root.  So on loopback, a request
without the token is answered only for a peer of the same standing: the
kernel lists each TCP socket with its owner's uid in /proc/net/tcp and
tcp6 (``ss -e`` reads the same), and the peer's socket is the one whose
local address is the connection's remote one and the other way round.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Optional, Tuple

__all__ = ['peer_uid']


def _hex_address(host: str, port: int) -> str:
    """An address as /proc/net/tcp{,6} prints it: the address in 32-bit
    words of host byte order, each %08X, then ':' and the port %04X."""
    ip = ipaddress.ip_address(host.split('%')[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped          # an IPv4 socket, seen by an IPv6 one
    packed = ip.packed
    words = ''.join('%08X' % int.from_bytes(packed[i:i + 4], sys.byteorder)
                    for i in range(0, len(packed), 4))
    return '%s:%04X' % (words, port)


def peer_uid(peer: Tuple, ours: Tuple) -> Optional[int]:
    """The uid owning the socket at peer (host, port, ...) connected to
    ours, or None when no such socket is listed (another network
    namespace, a /proc that hides it)."""
    try:
        want_local = _hex_address(peer[0], peer[1])
        want_remote = _hex_address(ours[0], ours[1])
    except ValueError:
        return None
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f, None)                   # the header
                for line in f:
                    fields = line.split()
                    if len(fields) > 7 and fields[1] == want_local and fields[2] == want_remote:
                        return int(fields[7])
        except (OSError, ValueError):
            continue
    return None
