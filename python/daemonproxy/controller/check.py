"""What will run: each service's program, its ``cwd``, its logger's
program, checked on this host as daemonproxy will look them up.

:func:`check_runnable` returns every problem at once, each as
``FILE: KEY: what is wrong`` like :func:`~.config.load`'s
(``services.toml: service.api.run: 'nosuch': not found in
PATH=/usr/bin:/bin``).  ``dpcontroller --check`` refuses a file with any
(exit 1); the running controller only logs them as warnings when it loads
a file (a program may be installed, a directory mounted, after the file
is written: as with systemd, a start that cannot exec fails at start).

How daemonproxy finds a program: it runs ``execvpe()``, which searches
the PATH of daemonproxy's own environment (a service's ``env`` sets the
child's environment, not the search), after changing to the service's
``cwd`` (so a program given with a relative path is found from there).
The controller runs with daemonproxy's environment, so its own PATH is
daemonproxy's; ``--check`` from a shell uses the shell's.  ``log =
true`` runs ``dplog``, looked up the same way.

Each ``user``, ``group`` and ``groups`` entry must exist in this host's
user and group databases, as daemonproxy looks them up when the service
is defined (a number passes; a uid that is not in /etc/passwd needs
``group``, as daemonproxy has no primary group to give it then), and
``capabilities`` needs a user that is not root.

Each ``env_file`` must exist (unless optional: ``-PATH``) and parse
(envfile.py), as the controller reads it at each start: the running
controller counts a start whose file it cannot read as a failure.

A log directory (``log = true``) must be one dplog can write, or create
as ``mkdir -p`` does: its nearest existing ancestor a directory this
user may write into (checked with access(2), as the controller's user:
run ``--check`` as the user daemonproxy runs as).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from typing import List, Optional, Tuple

from .config import Config, Service
from .envfile import EnvFileError, read_env_files

__all__ = ['check_runnable', 'default_path']


def default_path() -> str:
    """The PATH a program is searched in when daemonproxy's environment
    has none (glibc's execvpe default, os.defpath)."""
    return os.environ.get('PATH', os.defpath)


def _executable(path: str) -> Optional[str]:
    """Why path cannot be run as a program, or None if it can."""
    try:
        st = os.stat(path)
    except OSError as e:
        return 'no such file' if e.errno == 2 else (e.strerror or str(e))
    if stat.S_ISDIR(st.st_mode):
        return 'is a directory'
    if not stat.S_ISREG(st.st_mode) or not os.access(path, os.X_OK):
        return 'not executable'
    return None


def _find(prog: str, search: str, here: str) -> Optional[str]:
    """Why prog is not found in search (a PATH value; an empty entry is
    the directory here), or None if it is, as execvp looks."""
    seen = None
    for d in search.split(':'):
        why = _executable(os.path.join(d or here, prog))
        if why is None:
            return None
        if why == 'not executable' and seen is None:
            seen = os.path.join(d or here, prog)
    if seen is not None:
        return '%r: found as %s, which is not executable' % (prog, seen)
    return '%r: not found in PATH=%s' % (prog, search)


def _program_problem(svc: Service, path: str) -> Optional[str]:
    prog = svc.run[0]
    here = svc.cwd or os.getcwd()
    if '/' in prog:
        why = _executable(os.path.join(here, prog))
        return None if why is None else '%r: %s' % (prog, why)
    return _find(prog, path, here)


def _ids_problems(svc: Service) -> List[Tuple[str, str]]:
    """(key, why) for each user or group of svc that daemonproxy would
    not find (it refuses the service's execution attributes then)."""
    out: List[Tuple[str, str]] = []
    uid: Optional[int] = None
    if svc.user is not None:
        try:
            uid = pwd.getpwnam(svc.user).pw_uid if not svc.user.isdigit() else \
                pwd.getpwuid(int(svc.user)).pw_uid
        except KeyError:
            if not svc.user.isdigit():
                out.append(('user', '%r: no such user' % svc.user))
            elif svc.group is None:
                out.append(('user', 'uid %s is not in /etc/passwd: give group too' % svc.user))
            else:
                uid = int(svc.user)
    for key, names in (('group', [svc.group]), ('groups', list(svc.groups or ()))):
        for g in names:
            if g is None or g.isdigit():
                continue
            try:
                grp.getgrnam(g)
            except KeyError:
                out.append((key, '%r: no such group' % g))
    if svc.capabilities and uid == 0:
        out.append(('capabilities', 'user %r is root, which gets every capability at the exec'
                                    % svc.user))
    return out


def _log_dir_problem(directory: str) -> Optional[str]:
    """Why dplog could not create or write directory, or None."""
    d = directory
    while True:
        try:
            st = os.stat(d)
            break
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(d)
            if parent == d:
                return 'cannot be created: no such directory %r' % d
            d = parent
        except OSError as e:
            return 'cannot be created: %r: %s' % (d, e.strerror or e)
    if not stat.S_ISDIR(st.st_mode):
        return 'not a directory' if d == directory else \
            'cannot be created: %r is not a directory' % d
    if not os.access(d, os.W_OK | os.X_OK):
        return 'not writable' if d == directory else \
            'cannot be created: %r is not writable' % d
    if d == directory:
        # dplog's own rule (dplog(1), FILES): another user's directory, or
        # one any user may write, is refused for logs.
        if st.st_mode & stat.S_IWOTH:
            return 'writable by any user: dplog refuses it'
        if st.st_uid not in (os.geteuid(), 0):
            return 'owned by uid %d: dplog refuses it' % st.st_uid
    return None


def check_runnable(cfg: Config, path: Optional[str] = None) -> List[str]:
    """Every problem with what cfg's services would run on this host, in
    the file's order; path: daemonproxy's PATH (default: ours)."""
    path = default_path() if path is None else path
    problems: List[str] = []
    for svc in cfg.services.values():
        key = 'service.%s.log' % svc.logger_of if svc.logger_of else 'service.%s' % svc.name
        if svc.cwd is not None and not os.path.isdir(svc.cwd):
            problems.append('%s: %s.cwd: %r: %s' % (
                cfg.path, key, svc.cwd,
                'not a directory' if os.path.exists(svc.cwd) else 'no such directory'))
            prog = svc.run[0]
            if '/' in prog and not prog.startswith('/'):
                continue                        # looked up in that directory: nothing to say
        for k, why in _ids_problems(svc):
            problems.append('%s: %s.%s: %s' % (cfg.path, key, k, why))
        why = _program_problem(svc, path)
        if why is not None:
            problems.append('%s: %s: %s' % (cfg.path, key if svc.logger_of else key + '.run',
                                            why))
        if svc.env_file:
            try:
                read_env_files(svc.env_file)
            except EnvFileError as e:
                problems.append('%s: %s.env_file: %s' % (cfg.path, key, e))
        if svc.log_dir is not None and not svc.logger_of:
            why = _log_dir_problem(svc.log_dir)
            if why is not None:
                where = cfg.log_dir_keys.get(svc.name, 'service.%s.log' % svc.name)
                if where == 'controller.log_dir':
                    why = '%s\'s log directory %r: %s' % (svc.name, svc.log_dir, why)
                else:
                    why = '%r: %s' % (svc.log_dir, why)
                problems.append('%s: %s: %s' % (cfg.path, where, why))
    return problems
