"""The command line: ``dpcontroller FILE`` (or ``python3 -m
daemonproxy.controller FILE``) runs as daemonproxy's controller service;
``dpcontroller --check FILE`` checks FILE, and what it would run (each
program found, each ``cwd`` a directory, each ``env_file`` read: see
:mod:`.check`), and prints
the plan.

Run it from daemonproxy's config::

    service.args→controller→dpcontroller→/etc/daemonproxy/services.toml
    service.fds→controller→control.event→control.cmd→stderr
    service.auto_up→controller→1→always

A bad FILE at start: the controller logs its problems once and waits for
a reload (``dpctl reload``, SIGHUP) instead of exiting (daemonproxy would
restart it, and it would log the same lines, every second); it still
honours SIGTERM, SIGINT and ``dpctl shutdown``.

Exit status: 0 when daemonproxy closed the connection (after
``terminate``), 1 for a connection that does not speak daemonproxy's
protocol, or with --check a bad file or a program that cannot run, 2 for
bad usage.
"""

import argparse
import sys

if sys.version_info < (3, 11):                          # pragma: no cover
    sys.exit('dpcontroller needs Python 3.11 or later (tomllib)')

from .config import Config, ConfigError, describe_start_limit, load, start_order    # noqa: E402
from .policy import define_commands, pipe_command      # noqa: E402


def print_plan(cfg, out=sys.stdout) -> None:
    """What the controller would do with cfg, for humans and tests."""
    out.write('# %s: %d services\n' % (cfg.path, len(cfg.services)))
    if cfg.main:
        out.write('# container mode: main service %s\n' % cfg.main)
    for i, wave in enumerate(start_order(cfg)):
        out.write('# start wave %d: %s\n' % (i + 1, ' '.join(wave)))
    for svc in cfg.services.values():
        # issue 22's keys only when set: the line of every other service stays
        extra = ''.join(
            ' %s=%s' % kv for kv, on in (
                (('type', svc.type), svc.type != 'simple'),
                (('start_timeout', '%gs' % (svc.start_timeout or 0)), svc.start_timeout),
                (('autostart', 'false'), not svc.autostart),
                (('env_file', ','.join(svc.env_file)), svc.env_file),
                (('user', svc.user), svc.user is not None),
                (('group', svc.group), svc.group is not None),
                (('groups', ','.join(svc.groups or ()) or '[]'), svc.groups is not None),
                (('umask', '%04o' % (svc.umask or 0)), svc.umask is not None),
                (('nice', svc.nice), svc.nice is not None),
                (('limits', ','.join('%s=%s' % kv for kv in svc.limits)), svc.limits),
                (('no_new_privs', 'true'), svc.no_new_privs),
                (('capabilities', ','.join(svc.capabilities)), svc.capabilities)) if on)
        out.write('\n# %s: restart=%s backoff=%s..%ss reset=%ss start_limit=%s ready=%s '
                  'stop=%s/%ss%s\n'
                  % (svc.name, svc.restart, svc.backoff_base, svc.backoff_max,
                     svc.backoff_reset, describe_start_limit(svc), svc.ready, svc.stop_signal,
                     svc.stop_timeout, extra))
        if svc.log:
            out.write('\t'.join(pipe_command(svc)) + '\n')
        for cmd in define_commands(svc, fresh=True):
            out.write('\t'.join(cmd) + '\n')


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='dpcontroller',
                                 description='The reference controller for daemonproxy.')
    ap.add_argument('--check', action='store_true',
                    help='check FILE and what it would run (programs, cwd, env_file, loggers), '
                         'print the plan, do not run')
    ap.add_argument('file', metavar='FILE', help='the services file (TOML)')
    args = ap.parse_args(argv)
    from .check import check_runnable
    from .controller import Controller, log_line
    try:
        cfg, broken = load(args.file), None
    except ConfigError as e:
        for p in e.problems:
            log_line('dpcontroller', p)
        if args.check:
            return 1
        cfg, broken = Config(args.file), e.problems
    if args.check:
        problems = check_runnable(cfg)
        for p in problems:
            log_line('dpcontroller', p)
        if problems:
            return 1
        print_plan(cfg)
        return 0
    from .. import Client, ProtocolError
    try:
        dp = Client.from_stdio(timeout=60)
        ctl = Controller(dp, cfg, broken=broken)
        if broken is None:
            log_line('controller', 'started with %s (%d services)'
                     % (cfg.path, len(cfg.services)))
            ctl.warn_runnable(cfg)
        return ctl.run()
    except ProtocolError as e:
        log_line('controller', 'giving up: %s' % e)
        return 1


if __name__ == '__main__':
    sys.exit(main())
