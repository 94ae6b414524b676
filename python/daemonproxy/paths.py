"""Where the control socket is by default.

The rule is the same as the one of the C client ``dpctl``, so that both
find the same daemon without being told.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

__all__ = ['default_socket_path']


def default_socket_path(environ: Optional[Mapping[str, str]] = None,
                        euid: Optional[int] = None) -> str:
    """The control socket path to use when none is given.

    1. ``$DAEMONPROXY_SOCKET``, if set and not empty;
    2. for root (effective uid 0), ``/run/daemonproxy.sock``;
    3. ``$XDG_RUNTIME_DIR/daemonproxy.sock``, if XDG_RUNTIME_DIR is set,
       not empty and an absolute path;
    4. otherwise ``/tmp/daemonproxy-UID.sock`` (UID: the effective uid).

    ``environ`` and ``euid`` default to ``os.environ`` and ``os.geteuid()``
    (they are parameters for tests).
    """
    env = os.environ if environ is None else environ
    uid = os.geteuid() if euid is None else euid
    explicit = env.get('DAEMONPROXY_SOCKET')
    if explicit:
        return explicit
    if uid == 0:
        return '/run/daemonproxy.sock'
    xdg = env.get('XDG_RUNTIME_DIR')
    if xdg and xdg.startswith('/'):
        return xdg + '/daemonproxy.sock'
    return '/tmp/daemonproxy-%d.sock' % uid
