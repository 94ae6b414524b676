"""The controller's decisions as pure functions: back-off arithmetic,
restart policy, exit codes, the tags that keep its intent in the daemon,
and the commands that define a service.  No I/O here, so each is tested
on its own (tests/python/test_controller_policy.py)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from .config import RestartPolicy, Service

__all__ = ['backoff_delay', 'count_failure', 'should_restart', 'exit_code_of',
           'describe_exit', 'Intent', 'make_tags', 'read_tags', 'define_commands',
           'pipe_command', 'argv_of', 'fds_of', 'unit_tags', 'stop_tags', 'opts_of',
           'recent_failures', 'over_start_limit', 'log_tags', 'env_of', 'env_command']

TAG = 'dpc'
REFUSED_HASH = 'refused'


def backoff_delay(base: float, cap: float, failures: int) -> int:
    """Seconds to wait before the next start after `failures` failures in
    a row (1 for the first): base * 2^(failures-1), at most cap, whole
    seconds (the daemon's timer counts whole seconds), at least 1."""
    if failures <= 0:
        return 0
    delay = base * 2 ** min(failures - 1, 62)
    return max(1, int(min(delay, cap) + 0.5))


def count_failure(previous: int, uptime: Optional[int], reset: float) -> int:
    """Failures in a row after one more exit: a run of `reset` seconds or
    more counts as healthy and starts the count over."""
    if uptime is not None and uptime >= reset:
        previous = 0
    return previous + 1


def recent_failures(fails: Tuple[int, ...], ts: int, interval: float) -> Tuple[int, ...]:
    """The failures (daemon TS) within interval seconds before ts, and ts:
    the window a start limit counts."""
    return tuple(t for t in fails if t > ts - interval) + (ts,)


def over_start_limit(fails: Tuple[int, ...], burst: int) -> bool:
    """True when the failures of the window reach the limit's burst (0: no
    limit): the service is to be marked failed instead of restarted."""
    return burst > 0 and len(fails) >= burst


def should_restart(policy: RestartPolicy, reason: Optional[str], value: Union[int, str, None]) -> bool:
    """always: yes; on-failure: unless it exited with code 0; never: no."""
    if policy == 'always':
        return True
    if policy == 'on-failure':
        return not (reason == 'exit' and value == 0)
    return False


def exit_code_of(reason: Optional[str], value: Union[int, str, None]) -> int:
    """The exit status a shell would report: the code, or 128+N for
    signal N (as tini and dumb-init return)."""
    if reason == 'exit' and isinstance(value, int):
        return value & 255
    if reason == 'signal' and isinstance(value, str):
        try:
            return 128 + int(signal.Signals[value])
        except KeyError:
            return 128
    return 1


def describe_exit(reason: Optional[str], value: Union[int, str, None]) -> str:
    """'exit 1', 'signal SIGKILL'."""
    if reason is None:
        return 'no exit status'
    return '%s %s' % (reason, value)


@dataclass
class Intent:
    """What the tags of a service say: ours?, the hash of the definition
    it was started with, failures in a row, a stop in progress, the
    daemon TS of its recent failures (its start limit's window)."""

    managed: bool = False
    hash: Optional[str] = None
    failures: int = 0
    stopping: bool = False
    fails: Tuple[int, ...] = ()


def make_tags(hash_: str, failures: int = 0, stopping: bool = False,
              stop: Tuple[str, ...] = (), fails: Tuple[int, ...] = ()) -> Tuple[str, ...]:
    """The tags of a managed service; stop: its stop_tags() (and
    log_tags()), the conventions for other clients; fails: the
    daemon TS of its recent failures (its start limit's window)."""
    tags = [TAG, 'dpc.hash=' + hash_, 'dpc.fail=%d' % failures]
    if stopping:
        tags.append('dpc.stopping')
    if fails:
        tags.append('dpc.fails=' + ','.join(map(str, fails)))
    return tuple(tags) + stop


def stop_tags(svc: Service) -> Tuple[str, ...]:
    """How the service is stopped, published for any client that stops it
    (docs/protocol.md, "Desired state": dpctl stop and restart use them)."""
    return ('stop_signal=' + svc.stop_signal, 'stop_timeout=%g' % svc.stop_timeout)


def log_tags(svc: Service) -> Tuple[str, ...]:
    """Where its logger writes, published for any client that reads the
    logs (docs/protocol.md: ``dpctl logs NAME`` reads DIR): on a service
    whose dplog writes files, and on that logger."""
    return ('log_dir=' + svc.log_dir,) if svc.log_dir else ()


def unit_tags(svc: Service, failures: int = 0, fails: Tuple[int, ...] = (),
              refused: bool = False) -> Tuple[str, ...]:
    """Every tag of a managed service, as make_tags() makes them;
    refused: daemonproxy refused its execution attributes, so that it
    does not hold this definition (its hash is then REFUSED_HASH, which
    no definition has: a controller that starts defines it again)."""
    return make_tags(REFUSED_HASH if refused else svc.hash, failures,
                     stop=stop_tags(svc) + log_tags(svc), fails=fails)


def read_tags(tags: Tuple[str, ...]) -> Intent:
    """Parse make_tags()'s output (other tags are ignored)."""
    it = Intent()
    for t in tags:
        if t == TAG:
            it.managed = True
        elif t.startswith('dpc.hash='):
            it.hash = t[9:]
        elif t.startswith('dpc.fail=') and t[9:].isdigit():
            it.failures = int(t[9:])
        elif t == 'dpc.stopping':
            it.stopping = True
        elif t.startswith('dpc.fails='):
            ts = t[10:].split(',')
            if all(x.isdigit() for x in ts):
                it.fails = tuple(int(x) for x in ts)
    return it


def argv_of(svc: Service) -> List[str]:
    """The argv daemonproxy runs: `run` (its ``cwd`` is daemonproxy's
    ``cwd=`` option, in opts_of)."""
    return list(svc.run)


def opts_of(svc: Service) -> Tuple[str, ...]:
    """Its service.opts words: notify (ready = "notify"), then its
    execution attributes (Service.attributes)."""
    return (('notify',) if svc.ready == 'notify' else ()) + tuple(svc.attributes())


def fds_of(svc: Service) -> List[str]:
    """The handles of fds 0, 1, 2 (and 3, notify.fd, for ready = "fd")."""
    read, write = svc.pipe
    names = {'null': 'null', 'stdout': 'stdout', 'stderr': 'stderr'}
    out = []
    for which in (svc.stdin, svc.stdout, svc.stderr):
        out.append((read if svc.logger_of else write) if which == 'log' else names[which])
    if svc.ready == 'fd':
        out.append('notify.fd')
    return out


def define_commands(svc: Service, failures: int = 0, fresh: bool = False,
                    fails: Tuple[int, ...] = ()) -> List[Tuple[str, ...]]:
    """The commands that (re)define a service in daemonproxy, as fields
    (the log pipe is made separately: see pipe_command).  Never an
    auto_up: restarts are the controller's decision.  fresh: the service
    does not exist yet, so empty settings need not be sent."""
    name = svc.name
    cmds: List[Tuple[str, ...]] = []
    cmds.append(('service.args', name) + tuple(argv_of(svc)))
    cmds.append(('service.fds', name) + tuple(fds_of(svc)))
    if svc.env or not fresh:
        cmds.append(('service.env', name) + tuple('%s=%s' % kv for kv in svc.env))
    opts = opts_of(svc)
    if opts or not fresh:
        cmds.append(('service.opts', name) + opts)
    if not fresh:
        cmds.append(('service.auto_up', name, '-'))
    cmds.append(('service.tags', name) + unit_tags(svc, failures, fails))
    return cmds


def env_of(svc: Service, from_files=()) -> Tuple[Tuple[str, str], ...]:
    """The environment a run of svc gets: what its env_file set
    (from_files, in order: a later assignment wins), then its ``env``,
    which wins over the files (as systemd's Environment= does not, but
    here the file is the host's and ``env`` the service's own word)."""
    merged = dict(from_files)
    merged.update(svc.env)
    return tuple(sorted(merged.items()))


def env_command(svc: Service, from_files=()) -> Tuple[str, ...]:
    """The service.env of a run of svc (env_of's variables)."""
    return ('service.env', svc.name) + tuple('%s=%s' % kv for kv in env_of(svc, from_files))


def pipe_command(svc: Service) -> Tuple[str, ...]:
    """The fd.pipe that makes the log pipe of a service with a logger
    (held by daemonproxy, so it survives restarts of both ends)."""
    return ('fd.pipe',) + svc.pipe
