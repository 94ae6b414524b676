"""dpcontroller's paired dplog (issue 21, spec section 5), without a
daemon: ``log = true`` and the ``[service.NAME.log]`` table to dplog's
argv and the log_dir= tags, every bad value with its key, container
mode's stdout default, ``[controller] log_dir`` and its default, what a
change of the logger's settings restarts (the logger alone), and what
--check finds on the host (dplog in PATH, a directory it cannot create)."""

import os
import shutil
import sys
import tempfile
import unittest

import _path

_path.check()

from daemonproxy import ServiceState, Signal                        # noqa: E402
from daemonproxy.events import FdState                              # noqa: E402
from test_controller_policy import NEED, FakeClient                 # noqa: E402

if sys.version_info >= (3, 11):
    from daemonproxy.controller.check import check_runnable
    from daemonproxy.controller.config import ConfigError, default_log_dir, load, parse
    from daemonproxy.controller.controller import Controller
    from daemonproxy.controller.policy import define_commands, fds_of, unit_tags


def cfg_of(services, **ctl):
    return parse({'controller': ctl, 'service': services}, 'f.toml')


def problems(services, **ctl):
    try:
        cfg_of(services, **ctl)
    except ConfigError as e:
        return e.problems
    raise AssertionError('no ConfigError for %r %r' % (services, ctl))


def web(log, **kw):
    d = {'run': ['/bin/sh'], 'log': log}
    d.update(kw)
    return {'web': d}


@NEED
class Settings(unittest.TestCase):
    def logger(self, log, **ctl):
        cfg = cfg_of(web(log), **ctl)
        return cfg.services['web'], cfg.services['web.log']

    def test_log_true_runs_dplog_in_log_dir(self):
        svc, lg = self.logger(True, log_dir='/srv/logs')
        self.assertEqual(lg.run, ('dplog', '/srv/logs/web'))
        self.assertEqual((svc.log_dir, lg.log_dir), ('/srv/logs/web', '/srv/logs/web'))
        self.assertEqual(fds_of(svc), ['null', 'web.log.w', 'web.log.w'])
        self.assertEqual(fds_of(lg), ['web.log.r', 'stderr', 'stderr'])
        self.assertEqual(svc.after, ('web.log',), 'the logger starts first')
        for s in (svc, lg):
            self.assertIn('log_dir=/srv/logs/web', unit_tags(s))
            self.assertEqual(define_commands(s)[-1], ('service.tags', s.name) + unit_tags(s))

    def test_default_log_dir(self):
        self.assertEqual(default_log_dir(0, {}), '/var/log/daemonproxy')
        self.assertEqual(default_log_dir(1000, {'XDG_STATE_HOME': '/st', 'HOME': '/h'}),
                         '/st/daemonproxy/log')
        self.assertEqual(default_log_dir(1000, {'HOME': '/h'}),
                         '/h/.local/state/daemonproxy/log')
        self.assertEqual(default_log_dir(1000, {'XDG_STATE_HOME': 'rel', 'HOME': '/h'}),
                         '/h/.local/state/daemonproxy/log', 'a relative XDG path is ignored')
        _, lg = self.logger(True)
        self.assertEqual(lg.run, ('dplog', os.path.join(default_log_dir(), 'web')))

    def test_each_table_key(self):
        cases = [
            ({}, ('dplog', '/l/web')),
            ({'dir': '/var/log/my//web/'}, ('dplog', '/var/log/my/web')),
            ({'max_size': 65536}, ('dplog', '-s', '65536', '/l/web')),
            ({'max_size': '64k'}, ('dplog', '-s', '65536', '/l/web')),
            ({'max_size': '2M'}, ('dplog', '-s', '2097152', '/l/web')),
            ({'max_size': '1G'}, ('dplog', '-s', '1073741824', '/l/web')),
            ({'max_size': 4096}, ('dplog', '-s', '4096', '/l/web')),
            ({'keep': 0}, ('dplog', '-n', '0', '/l/web')),
            ({'keep': 3}, ('dplog', '-n', '3', '/l/web')),
            ({'keep': 'all'}, ('dplog', '-n', 'all', '/l/web')),
            ({'timestamps': 'rfc3339'}, ('dplog', '-t', 'rfc3339', '/l/web')),
            ({'timestamps': 'tai64n'}, ('dplog', '-t', 'tai64n', '/l/web')),
            ({'timestamps': 'none'}, ('dplog', '-t', 'none', '/l/web')),
            ({'stdout': False}, ('dplog', '/l/web')),
            ({'stdout': True}, ('dplog', '-o', 'web', '/l/web')),
        ]
        for table, argv in cases:
            with self.subTest(table=table):
                svc, lg = self.logger(table, log_dir='/l')
                self.assertEqual(lg.run, argv)
                self.assertEqual(svc.log_dir, argv[-1])
                self.assertEqual(lg.stdout, 'stdout' if table.get('stdout') else 'stderr')

    def test_container_mode_default_is_prefixed_stdout(self):
        cfg = cfg_of(web(True), main='web')
        svc, lg = cfg.services['web'], cfg.services['web.log']
        self.assertEqual(lg.run, ('dplog', '-o', 'web'))
        self.assertEqual(fds_of(lg), ['web.log.r', 'stdout', 'stderr'])
        self.assertEqual((svc.log_dir, lg.log_dir), (None, None))
        self.assertFalse([t for t in unit_tags(svc) + unit_tags(lg) if t.startswith('log_dir=')],
                         'no files: no log_dir tag')
        # a directory (its own, or log_dir) writes files, and stdout only if asked
        cfg = cfg_of(web({'dir': '/d', 'stdout': True}), main='web')
        self.assertEqual(cfg.services['web.log'].run, ('dplog', '-o', 'web', '/d'))
        cfg = cfg_of(web(True), main='web', log_dir='/l')
        self.assertEqual(cfg.services['web.log'].run, ('dplog', '/l/web'))
        self.assertEqual(cfg.services['web'].log_dir, '/l/web')

    def test_log_false_and_argv_unchanged(self):
        cfg = cfg_of(web(False))
        self.assertNotIn('web.log', cfg.services)
        self.assertEqual(cfg.services['web'].stdout, 'stdout')
        # log = [argv]: the definition hash of the original controller
        cfg = cfg_of({'web': {'run': ['httpd'], 'log': ['cat', '-u']}})
        self.assertEqual((cfg.services['web'].hash, cfg.services['web.log'].hash),
                         ('24b1369cd10f', '3c08fea826e8'))
        self.assertIsNone(cfg.services['web'].log_dir)

    def test_dplog_settings_are_the_loggers_definition_not_the_services(self):
        base = cfg_of(web(True), log_dir='/l')
        for other in (cfg_of(web({'max_size': '64k', 'keep': 2, 'timestamps': 'tai64n'}),
                             log_dir='/l'),
                      cfg_of(web({'dir': '/elsewhere'}), log_dir='/l')):
            self.assertEqual(other.services['web'].hash, base.services['web'].hash)
            self.assertNotEqual(other.services['web.log'].hash, base.services['web.log'].hash)
        self.assertNotEqual(cfg_of(web(['dplog', '/l/web'])).services['web'].hash,
                            base.services['web'].hash)

    def test_bad_values_with_their_keys(self):
        cases = [
            (web(3), "f.toml: service.web.log: must be true (dplog), a table [service.web.log]"),
            (web('dplog'), 'service.web.log: must be true (dplog)'),
            (web({'colour': 1}), 'f.toml: service.web.log.colour: unknown key (expected one of '
                                 'dir, max_size, keep, timestamps, stdout)'),
            (web({'dir': 'logs/web'}), "f.toml: service.web.log.dir: must be an absolute path"),
            (web({'dir': ''}), 'service.web.log.dir: must be a directory path'),
            (web({'dir': 5}), 'service.web.log.dir: must be a directory path'),
            (web({'dir': '/a\nb'}), 'service.web.log.dir: must be a directory path (without '
                                    'control characters)'),
            (web({'max_size': 4095}), 'f.toml: service.web.log.max_size: must be a size from '
                                      '4096 bytes'),
            (web({'max_size': '3k'}), 'service.web.log.max_size: must be a size'),
            (web({'max_size': '1.5M'}), 'service.web.log.max_size: must be a size'),
            (web({'max_size': '1X'}), 'service.web.log.max_size: must be a size'),
            (web({'max_size': -5}), 'service.web.log.max_size: must be a size'),
            (web({'max_size': True}), 'service.web.log.max_size: must be a size'),
            (web({'max_size': 4096.0}), 'service.web.log.max_size: must be a size'),
            (web({'max_size': '2T'}), 'service.web.log.max_size: must be a size'),
            (web({'keep': -1}), 'f.toml: service.web.log.keep: must be how many rotated files'),
            (web({'keep': True}), 'service.web.log.keep: must be how many'),
            (web({'keep': 'some'}), 'service.web.log.keep: must be how many'),
            (web({'keep': 1.5}), 'service.web.log.keep: must be how many'),
            (web({'timestamps': 'iso'}), 'f.toml: service.web.log.timestamps: must be one of '
                                         '"rfc3339", "tai64n", "none"'),
            (web({'timestamps': True}), 'service.web.log.timestamps: must be one of'),
            (web({'stdout': 'yes'}), 'f.toml: service.web.log.stdout: must be true or false'),
            ({'..': {'run': ['x'], 'log': True}},
             "f.toml: service....log.dir: missing, and the service name '..' cannot be a "
             "directory of log_dir"),
            ({'.': {'run': ['x'], 'log': {}}}, "the service name '.' cannot be a directory"),
            ({'a': {'run': ['x'], 'log': {'dir': '/l/b'}}, 'b': {'run': ['x'], 'log': True}},
             "'/l/b' is service a's log directory too: two loggers cannot share one"),
            ({'a' * 26: {'run': ['x'], 'log': True}}, 'needs a name of at most 25 bytes'),
        ]
        for services, want in cases:
            with self.subTest(want=want):
                got = problems(services, log_dir='/l')
                self.assertTrue(any(want in p for p in got), got)
        # a name unfit for a path is fine with a dir of its own
        self.assertIn('...log', cfg_of({'..': {'run': ['x'], 'log': {'dir': '/d'}}}).services)

    def test_controller_log_dir(self):
        for bad, want in ((3, 'must be a directory path'), ('', 'must be a directory path'),
                          ('var/log', "must be an absolute path"),
                          ('/a\tb', 'must be a directory path (without control characters)')):
            with self.subTest(value=bad):
                got = problems({}, log_dir=bad)
                self.assertTrue(any(p.startswith('f.toml: controller.log_dir: ' + want)
                                    for p in got), got)
        self.assertEqual(cfg_of({}, log_dir='/x/').log_dir, '/x')

    def test_container_mode_errors(self):
        cases = [
            (web({'stdout': False}), 'f.toml: service.web.log.stdout: false, and no dir: the '
                                     'lines would go nowhere'),
            (web({'max_size': '1M'}), 'f.toml: service.web.log.max_size: no files are written'),
            (web({'keep': 3}), 'service.web.log.keep: no files are written'),
            (web({'timestamps': 'tai64n'}), 'service.web.log.timestamps: no files are written'),
        ]
        for services, want in cases:
            with self.subTest(want=want):
                got = problems(services, main='web')
                self.assertTrue(any(want in p for p in got), got)

    def test_longest_dir_checked_as_the_daemon_reads_lines(self):
        got = problems(web({'dir': '/' + 'd' * 4100}))
        self.assertTrue(any(p.startswith('f.toml: service.web') and 'the daemon would refuse'
                            in p for p in got), got)


@NEED
class Running(unittest.TestCase):
    """What a change of the logger's settings restarts (the logger), and
    how a shutdown ends dplog (by the end of its pipe)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        self.path = os.path.join(self.dir, 'services.toml')
        self.dp = FakeClient()
        self.lines = []

    def write(self, text):
        with open(self.path, 'w') as f:
            f.write(text)

    def running(self, log_table):
        self.write('[service.web]\nrun = ["sleep", "1000"]\n[service.web.log]\n' + log_table)
        c = Controller(self.dp, load(self.path), log=lambda s, m: self.lines.append(s + ': ' + m))
        c.reconcile()
        c.flush()
        self.assertIn(('fd.pipe', 'web.log.r', 'web.log.w'), self.dp.sent)
        c.handle(self.dp.event(FdState('web.log.r', 'pipe', 'read', 'web.log.w')))
        c.handle(self.dp.event(FdState('web.log.w', 'pipe', 'write', 'web.log.r')))
        for pid, name in ((10, 'web.log'), (11, 'web')):
            c.handle(self.dp.event(ServiceState(name, 'up', pid, 5)))
            c.flush()
        del self.dp.sent[:]
        return c

    def test_max_size_restarts_the_logger_only(self):
        c = self.running('dir = "/l/web"\n')
        self.write('[service.web]\nrun = ["sleep", "1000"]\n[service.web.log]\n'
                   'dir = "/l/web"\nmax_size = "64k"\n')
        ok, text, _ = c.reload()
        c.flush()
        self.assertEqual((ok, text), (True, 'reloaded %s: 1 changed, 0 added, 0 removed'
                                      % self.path))
        signals = [f for f in self.dp.sent if f[0] == 'service.signal']
        self.assertEqual(signals, [('service.signal', 'web.log', 'SIGTERM', 'group')])
        c.handle(self.dp.event(ServiceState('web.log', 'down', 10, 6, 'exit', 0, 1, 0)))
        c.flush()
        self.assertIn(('service.args', 'web.log', 'dplog', '-s', '65536', '/l/web'),
                      self.dp.sent)
        self.assertEqual([f for f in self.dp.sent if f[0] == 'service.start'],
                         [('service.start', 'web.log')])

    def test_new_dir_restarts_the_logger_and_retags_the_service(self):
        c = self.running('dir = "/l/web"\n')
        self.write('[service.web]\nrun = ["sleep", "1000"]\n[service.web.log]\n'
                   'dir = "/m/web"\n')
        c.reload()
        c.flush()
        self.assertEqual([f for f in self.dp.sent if f[0] == 'service.signal'],
                         [('service.signal', 'web.log', 'SIGTERM', 'group')])
        web_tags = [f for f in self.dp.sent if f[:2] == ('service.tags', 'web')]
        self.assertEqual(len(web_tags), 1, self.dp.sent)
        self.assertIn('log_dir=/m/web', web_tags[0])
        self.assertNotIn('log_dir=/l/web', web_tags[0])


    def test_shutdown_ends_dplog_by_the_end_of_its_pipe(self):
        """Its service down, dplog is not signalled (it would stop with
        lines still in the pipe) but its pipe's write end is closed: it
        reads to the end and exits; SIGKILL after stop_timeout if not."""
        c = self.running('dir = "/l/web"\n')
        c.handle(self.dp.event(Signal('SIGTERM', 1, 1)))
        c.flush()
        self.assertEqual([f for f in self.dp.sent if f[0] in ('service.signal', 'fd.delete')],
                         [('service.signal', 'web', 'SIGTERM', 'group')])
        c.handle(self.dp.event(ServiceState('web', 'down', 11, 6, 'exit', 0, 1, 0)))
        c.flush()
        self.assertEqual([f for f in self.dp.sent if f[0] in ('service.signal', 'fd.delete')],
                         [('service.signal', 'web', 'SIGTERM', 'group'),
                          ('fd.delete', 'web.log.w')])
        self.assertIn('web.log: stopping (shutdown): web.log.w closed, it exits at the end of '
                      'the pipe; SIGKILL after 10s', self.lines)
        c.on_timer_kill('web.log')
        c.flush()
        self.assertEqual(self.dp.sent[-1], ('service.signal', 'web.log', 'SIGKILL', 'group'))
        c.handle(self.dp.event(ServiceState('web.log', 'down', 10, 7, 'exit', 0, 1, 0)))
        c.flush()
        self.assertEqual(self.dp.sent[-1], ('terminate', '0'))

    def test_shutdown_signals_an_argv_logger_as_before(self):
        self.write('[service.web]\nrun = ["sleep", "1000"]\nlog = ["cat"]\n')
        c = Controller(self.dp, load(self.path), log=lambda s, m: self.lines.append(s + ': ' + m))
        c.reconcile()
        for pid, name in ((10, 'web.log'), (11, 'web')):
            c.handle(self.dp.event(ServiceState(name, 'up', pid, 5)))
        c.handle(self.dp.event(Signal('SIGTERM', 1, 1)))
        c.handle(self.dp.event(ServiceState('web', 'down', 11, 6, 'exit', 0, 1, 0)))
        c.flush()
        self.assertEqual([f for f in self.dp.sent if f[0] in ('service.signal', 'fd.delete')],
                         [('service.signal', 'web', 'SIGTERM', 'group'),
                          ('service.signal', 'web.log', 'SIGTERM', 'group')])


@NEED
class Check(unittest.TestCase):
    """--check: dplog looked up in daemonproxy's PATH, a log directory
    that cannot be created, each with its key."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        os.chmod(self.dir, 0o755)
        self.bin = os.path.join(self.dir, 'bin')
        os.mkdir(self.bin)
        with open(os.path.join(self.bin, 'dplog'), 'w') as f:
            f.write('#!/bin/sh\n')
        os.chmod(os.path.join(self.bin, 'dplog'), 0o755)

    def check(self, services, path=None, **ctl):
        return check_runnable(cfg_of(services, **ctl), self.bin if path is None else path)

    def test_dplog_missing_from_path(self):
        d = os.path.join(self.dir, 'logs')
        self.assertEqual(self.check(web(True), log_dir=d), [])
        empty = os.path.join(self.dir, 'empty')
        os.mkdir(empty)
        self.assertEqual(self.check(web(True), empty, log_dir=d),
                         ["f.toml: service.web.log: 'dplog': not found in PATH=%s" % empty])

    def test_dir_that_cannot_be_created(self):
        afile = os.path.join(self.dir, 'afile')
        open(afile, 'w').close()
        self.assertEqual(self.check(web({'dir': afile + '/web'})), [
            "f.toml: service.web.log.dir: '%s/web': cannot be created: '%s' is not a "
            "directory" % (afile, afile)])
        self.assertEqual(self.check(web({'dir': afile})), [
            "f.toml: service.web.log.dir: '%s': not a directory" % afile])
        self.assertEqual(self.check(web(True), log_dir=afile + '/logs'), [
            "f.toml: controller.log_dir: web's log directory '%s/logs/web': cannot be "
            "created: '%s' is not a directory" % (afile, afile)])
        # missing parents are made (mkdir -p)
        self.assertEqual(self.check(web({'dir': self.dir + '/a/b/c'})), [])

    def test_dir_dplog_refuses(self):
        """dplog's rule: a directory any user may write, or another user's."""
        shared = os.path.join(self.dir, 'shared')
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        self.assertEqual(self.check(web({'dir': shared})), [
            "f.toml: service.web.log.dir: '%s': writable by any user: dplog refuses it"
            % shared])
        # inside it, a directory dplog makes itself is dplog's own
        self.assertEqual(self.check(web({'dir': shared + '/web'})), [])
        if os.geteuid() == 0:
            theirs = os.path.join(self.dir, 'theirs')
            os.mkdir(theirs)
            os.chown(theirs, 65534, 65534)
            self.assertEqual(self.check(web({'dir': theirs})), [
                "f.toml: service.web.log.dir: '%s': owned by uid 65534: dplog refuses it"
                % theirs])

    @unittest.skipUnless(os.geteuid() == 0, 'becomes nobody: needs root')
    def test_dir_whose_parent_is_not_writable(self):
        """As a user who may not write into the parent (root may: the
        check runs in a child as nobody)."""
        ro = os.path.join(self.dir, 'ro')
        os.mkdir(ro, 0o755)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                                    # pragma: no cover (child)
            try:
                os.close(r)
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                got = self.check(web({'dir': ro + '/web'})) + \
                    self.check(web({'dir': ro})) + \
                    self.check(web({'dir': self.dir + '/mine'}))
                os.write(w, '\n'.join(got).encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, 'rb') as f:
            got = f.read().decode().split('\n')
        os.waitpid(pid, 0)
        self.assertEqual(got[:2], [
            "f.toml: service.web.log.dir: '%s/web': cannot be created: '%s' is not writable"
            % (ro, ro),
            "f.toml: service.web.log.dir: '%s': not writable" % ro])
        self.assertEqual(got[2:], ["f.toml: service.web.log.dir: '%s/mine': cannot be "
                                   "created: '%s' is not writable" % (self.dir, self.dir)])


if __name__ == '__main__':
    unittest.main()
