"""Where the control socket is by default, and whom a client trusts there.

The rules are those of the C client ``dpctl`` (and of daemonproxy's
``--default-socket``), so that all of them find the same daemon without
being told, and refuse the same impostors.
"""

from __future__ import annotations

import os
import pwd
import stat
from typing import FrozenSet, Mapping, Optional, Union

from .errors import InvalidArgument, UntrustedSocket

__all__ = ['default_socket_path', 'check_socket_dir', 'trusted_uids', 'TRUST_UID_ENV']

#: The environment variable naming one more uid (a number or a user name)
#: whose daemon a client may talk to.
TRUST_UID_ENV = 'DAEMONPROXY_TRUST_UID'

_SOCKET_NAME = 'daemonproxy.sock'


def default_socket_path(environ: Optional[Mapping[str, str]] = None,
                        euid: Optional[int] = None, *, check: bool = False,
                        tmpdir: str = '/tmp') -> str:
    """The control socket path to use when none is given (the first that
    applies):

    1. ``$DAEMONPROXY_SOCKET``, if set and not empty (as given);
    2. for root (effective uid 0), ``/run/daemonproxy.sock``;
    3. ``$XDG_RUNTIME_DIR/daemonproxy.sock``, if XDG_RUNTIME_DIR is an
       absolute path;
    4. otherwise ``/tmp/daemonproxy-UID/daemonproxy.sock`` (UID: the
       effective uid).  Any user can create a name in /tmp, so this one is
       used only inside a directory that only this user can have made.

    With ``check`` (what :meth:`Client.connect` does), rule 4's directory
    is checked first (see :func:`check_socket_dir`): UntrustedSocket if it
    is there and not the user's own 0700 directory.  A missing directory
    passes (the connection then fails: no daemon there); clients never
    create it, ``daemonproxy --default-socket`` does.

    ``environ``, ``euid`` and ``tmpdir`` default to ``os.environ``,
    ``os.geteuid()`` and ``/tmp`` (they are parameters for tests).
    """
    env = os.environ if environ is None else environ
    uid = os.geteuid() if euid is None else euid
    explicit = env.get('DAEMONPROXY_SOCKET')
    if explicit:
        return explicit
    if uid == 0:
        return '/run/' + _SOCKET_NAME
    xdg = env.get('XDG_RUNTIME_DIR')
    if xdg and xdg.startswith('/'):
        return xdg + '/' + _SOCKET_NAME
    directory = '%s/daemonproxy-%d' % (tmpdir.rstrip('/'), uid)
    if check:
        check_socket_dir(directory, uid)
    return directory + '/' + _SOCKET_NAME


def check_socket_dir(directory: str, euid: Optional[int] = None) -> None:
    """Refuse the fallback directory of the default socket unless it is
    missing, or a directory (not a symlink) owned by euid with no
    permission for group or others.  Raises UntrustedSocket with the
    reason and what the user can do about it (the same words as dpctl's
    and daemonproxy's: src/sockpath.c)."""
    uid = os.geteuid() if euid is None else euid
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return
    # what the user can do: in the sticky /tmp only a name's owner (or
    # root) may remove it
    fix = 'remove it' if st.st_uid == uid else 'ask root to remove it'
    if stat.S_ISLNK(st.st_mode):
        reason = 'a symlink'
    elif not stat.S_ISDIR(st.st_mode):
        reason = 'not a directory'
    elif st.st_uid != uid:
        reason = 'owned by uid %d, not %d' % (st.st_uid, uid)
    elif st.st_mode & 0o077:
        reason = 'mode %04o, must not be open to group or others' % stat.S_IMODE(st.st_mode)
        fix = 'chmod 700 it or remove it'
    else:
        return
    raise UntrustedSocket(directory,
                          '%s; %s, or set XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET' % (reason, fix),
                          uid=st.st_uid, role='for the default socket')


def trusted_uids(trust_uid: Union[int, str, None] = None,
                 environ: Optional[Mapping[str, str]] = None,
                 euid: Optional[int] = None) -> FrozenSet[int]:
    """The uids whose socket a client talks to: root, the effective uid,
    and ``trust_uid`` (a uid or a user name; None: ``$DAEMONPROXY_TRUST_UID``
    if set and not empty).  An unknown user name or a bad number raises
    InvalidArgument."""
    uids = {0, os.geteuid() if euid is None else euid}
    what = 'trust_uid'
    if trust_uid is None or trust_uid == '':
        env = os.environ if environ is None else environ
        trust_uid = env.get(TRUST_UID_ENV) or None
        what = TRUST_UID_ENV
    if trust_uid is not None:
        uids.add(_uid_of(trust_uid, what))
    return frozenset(uids)


def _uid_of(who: Union[int, str], what: str) -> int:
    if isinstance(who, bool) or not isinstance(who, (int, str)):
        raise InvalidArgument('%s: expected a uid or a user name, got %r' % (what, who))
    if isinstance(who, str) and who.isdigit() and who.isascii():
        who = int(who)
    if isinstance(who, int):
        if not 0 <= who < 2 ** 32 - 1:
            raise InvalidArgument('%s: uid %d out of range' % (what, who))
        return who
    try:
        return pwd.getpwnam(who).pw_uid
    except (KeyError, ValueError):
        raise InvalidArgument('%s: no user named %r' % (what, who)) from None
