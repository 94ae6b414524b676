"""dpcontroller's keys of issue 22, without a daemon: ``env_file``
(systemd's EnvironmentFile= syntax, strict; read at each start; a file
that cannot be read fails the start as a failure), ``start_timeout`` (not
ready within it: stopped, a failure for the restart policy) and
``autostart = false`` (defined, started only when wanted up), each bad
value with its key."""

import os
import shutil
import sys
import tempfile
import unittest

import _path

_path.check()

from daemonproxy import ServiceState, ServiceWant                   # noqa: E402
from daemonproxy.events import ServiceNotify, ServiceTags           # noqa: E402
from test_controller_policy import NEED, ControllerCase, FakeClient # noqa: E402

if sys.version_info >= (3, 11):
    from daemonproxy.controller.check import check_runnable
    from daemonproxy.controller.config import ConfigError, load, parse
    from daemonproxy.controller.controller import Controller, Timer
    from daemonproxy.controller.envfile import EnvFileError, parse_env, read_env_files
    from daemonproxy.controller.policy import env_of, unit_tags
    from daemonproxy.controller.unit import Phase


def tmpdir(case):
    """A directory removed when case ends."""
    d = tempfile.mkdtemp()
    case.addCleanup(shutil.rmtree, d)
    return d


def problems(services, **ctl):
    try:
        parse({'controller': ctl, 'service': services}, 'f.toml')
    except ConfigError as e:
        return e.problems
    raise AssertionError('no ConfigError for %r' % (services,))


@NEED
class EnvFileSyntax(unittest.TestCase):
    def test_systemd_syntax(self):
        text = ('# comment\n'
                '  ; another\n'
                '\n'
                'A=1\n'
                'B = "x  y"  \n'
                "C='no $escapes \\n here'\n"
                'D=first \\\n'
                'second\n'
                'E=a"b c"\'d\'  \n'
                'F=  trailing blanks cut   \n'
                'G="\\"\\\\\\$\\`\\z"\n'
                'H=a#b;c\n'
                'I=\n'
                'A=2\n')
        self.assertEqual(parse_env(text, 'e'), [
            ('A', '1'), ('B', 'x  y'), ('C', 'no $escapes \\n here'), ('D', 'first second'),
            ('E', 'ab cd'), ('F', 'trailing blanks cut'), ('G', '"\\$`\\z'), ('H', 'a#b;c'),
            ('I', ''), ('A', '2')])

    def test_errors_name_file_and_line(self):
        for text, line, what in [
                ('A=1\nnoequals\n', 2, 'no "=" in \'noequals\''),
                ('A=1\n\nexport B=2\n', 3, "invalid variable name 'export B'"),
                ('1A=x\n', 1, "invalid variable name '1A'"),
                ('A-B=x\n', 1, "invalid variable name 'A-B'"),
                ('A=1\nB="open\n', 2, 'a newline inside quotes'),
                ("A='open", 1, 'unterminated single quote'),
                ('A=a\\\tb\n', 1, 'a control character in the value of A')]:
            with self.assertRaises(EnvFileError) as cm:
                parse_env(text, '/etc/x')
            self.assertIn('/etc/x:%d: %s' % (line, what), str(cm.exception), text)

    def test_files_optional_missing_and_order(self):
        d = tmpdir(self)
        a, b = os.path.join(d, 'a'), os.path.join(d, 'b')
        with open(a, 'w') as f:
            f.write('X=1\nY=a\n')
        with open(b, 'w') as f:
            f.write('Y=b\n')
        self.assertEqual(read_env_files([a, b, '-' + d + '/none']),
                         [('X', '1'), ('Y', 'a'), ('Y', 'b')])
        with self.assertRaises(EnvFileError) as cm:
            read_env_files([a, d + '/none'])
        self.assertEqual(str(cm.exception), '%s/none: No such file or directory' % d)
        with open(b, 'wb') as f:
            f.write(b'A=1\nB=\xff\n')
        with self.assertRaisesRegex(EnvFileError, ':2: not UTF-8'):
            read_env_files([b])
        svc = parse({'service': {'w': {'run': ['w'], 'env': {'Y': 'own'},
                                       'env_file': [a, b]}}}).services['w']
        self.assertEqual(dict(env_of(svc, [('X', '1'), ('Y', 'file')])),
                         {'X': '1', 'Y': 'own'}, 'env wins over the files')


@NEED
class Keys(unittest.TestCase):
    def test_values(self):
        cfg = parse({'service': {
            'a': {'run': ['a'], 'env_file': '-/etc/default/a', 'start_timeout': 5,
                  'ready': 'notify', 'autostart': False},
            'b': {'run': ['b'], 'env_file': ['/x', '-/y'], 'start_timeout': 2.5, 'ready': 1}}})
        a, b = cfg.services['a'], cfg.services['b']
        self.assertEqual((a.env_file, a.start_timeout, a.autostart),
                         (('-/etc/default/a',), 5, False))
        self.assertEqual((b.env_file, b.start_timeout, b.autostart), (('/x', '-/y'), 2.5, True))

    def test_hash(self):
        plain = parse({'service': {'a': {'run': ['a']}}}).services['a']
        policy = parse({'service': {'a': {'run': ['a'], 'autostart': False, 'ready': 'fd',
                                          'start_timeout': 3}}}).services['a']
        self.assertNotIn('env_file', plain.definition(), 'old hashes stay as they were')
        self.assertEqual(plain.hash, 'a482565ffa62', 'as before issue 22: nothing restarts')
        with_file = parse({'service': {'a': {'run': ['a'], 'env_file': '/e'}}}).services['a']
        self.assertNotEqual(plain.hash, with_file.hash, 'a new env_file path restarts it')
        self.assertNotEqual(policy.hash, plain.hash)          # (ready = "fd": fds differ)
        no_auto = parse({'service': {'a': {'run': ['a'], 'autostart': False}}}).services['a']
        self.assertEqual(no_auto.hash, plain.hash, 'autostart is policy, not definition')

    def test_bad_values(self):
        for table, key, what in [
                ({'env_file': 'etc/x'}, 'env_file', 'must be an absolute path'),
                ({'env_file': '-etc/x'}, 'env_file', 'must be an absolute path'),
                ({'env_file': []}, 'env_file', 'must not be empty'),
                ({'env_file': 3}, 'env_file', 'list of strings'),
                ({'env_file': '/a\nb'}, 'env_file', 'control characters'),
                ({'start_timeout': 0, 'ready': 'notify'}, 'start_timeout', ''),
                ({'start_timeout': 'x', 'ready': 'notify'}, 'start_timeout', ''),
                ({'start_timeout': 5}, 'start_timeout', 'needs ready = "notify"'),
                ({'start_timeout': 5, 'ready': 5}, 'start_timeout', 'more than ready = 5'),
                ({'autostart': 'no'}, 'autostart', 'must be true or false')]:
            got = problems({'a': dict(table, run=['a'])})
            self.assertEqual(len(got), 1, (table, got))
            self.assertTrue(got[0].startswith('f.toml: service.a.%s: ' % key), got)
            self.assertIn(what, got[0])
        got = problems({'a': {'run': ['a'], 'autostart': False}}, main='a')
        self.assertIn('f.toml: service.a.autostart: the main service', got[0])

    def test_check_reads_the_files(self):
        d = tmpdir(self)
        bad = os.path.join(d, 'bad')
        with open(bad, 'w') as f:
            f.write('OK=1\nexport X=1\n')
        cfg = parse({'service': {
            'a': {'run': ['true'], 'env_file': ['-' + d + '/none']},
            'b': {'run': ['true'], 'env_file': d + '/none'},
            'c': {'run': ['true'], 'env_file': bad}}}, 'f.toml')
        self.assertEqual(check_runnable(cfg, '/usr/bin:/bin'), [
            'f.toml: service.b.env_file: %s/none: No such file or directory' % d,
            'f.toml: service.c.env_file: %s:2: invalid variable name \'export X\' (A-Z a-z '
            '0-9 _, not starting with a digit) ("export" is a shell\'s, not systemd\'s: '
            'drop it)' % bad])


@NEED
class EnvAtEachStart(ControllerCase):
    def setUp(self):
        super().setUp()
        self.file = os.path.join(tmpdir(self), 'web.env')

    def write(self, text):
        with open(self.file, 'w') as f:
            f.write(text)

    def sent(self, kind, n=0):
        return [f for f in self.dp.sent[n:] if f[0] == kind]

    def test_read_at_each_start_env_wins(self):
        self.write('PORT=1\nHOST=h\n')
        c = self.controller({'web': {'run': ['w'], 'env_file': self.file,
                                     'env': {'PORT': '8080'}}})
        env, start = self.dp.sent.index(('service.env', 'web', 'HOST=h', 'PORT=8080')), \
            self.dp.sent.index(('service.start', 'web'))
        self.assertLess(env, start, 'the environment, then the start')
        self.write('HOST=new\n')
        n = len(self.dp.sent)
        self.feed(c, ServiceState('web', 'up', 100, 10))
        self.feed(c, ServiceState('web', 'down', 101, 10, 'exit', 1, 1, 0))
        self.assertEqual(self.sent('service.env', n), [('service.env', 'web', 'HOST=new',
                                                         'PORT=8080')])
        self.assertEqual(self.sent('service.start', n), [('service.start', 'web', '102')])

    def test_missing_file_fails_the_start_as_a_failure(self):
        c = self.controller({'web': {'run': ['w'], 'env_file': self.file,
                                     'start_limit': '2/1h'},
                             'dep': {'run': ['d'], 'requires': ['web']}})
        self.assertEqual(self.sent('service.start'), [], 'nothing runs without its file')
        self.assertIn('web: start failed (env_file %s: No such file or directory); '
                      'failure 1; next try in 1s' % self.file, self.lines)
        self.assertEqual(c.units['web'].phase, Phase.STARTING)
        self.assertIn((Timer.RETRY, 'web'), c.timer_due)
        self.assertIn('dpc.fail=1', [f for f in self.dp.sent if f[0] == 'service.tags'][-1])
        c.on_timer_retry('web')                       # still missing: the second failure
        c.flush()
        self.assertEqual(c.units['web'].phase, Phase.FAILED)
        want = self.sent('service.want')
        self.assertEqual(want[0][:3], ('service.want', 'web', 'failed'))
        self.assertIn('No such file or directory', want[0][3])
        self.assertEqual(c.units['dep'].phase, Phase.GAVE_UP)
        # fixed, then dpctl start (want up): the daemon starts it
        self.write('A=1\n')
        self.feed(c, ServiceWant('web', 'up', 'uid=0', 200))
        self.assertEqual(c.units['web'].phase, Phase.STARTING)

    def test_bad_file_never(self):
        self.write('oops\n')
        c = self.controller({'web': {'run': ['w'], 'env_file': self.file, 'restart': 'never'}})
        self.assertEqual(c.units['web'].phase, Phase.GAVE_UP)
        self.assertIn('web: start failed (env_file %s:1: no "=" in \'oops\' (each line is '
                      'KEY=VALUE)); restart=never: giving up' % self.file, self.lines)
        self.assertEqual(self.sent('service.start'), [])


@NEED
class StartTimeout(ControllerCase):
    def boot(self, **kw):
        svc = {'run': ['w'], 'ready': 'notify', 'start_timeout': 5}
        svc.update(kw)
        c = self.controller({'web': svc, 'dep': {'run': ['d'], 'requires': ['web']}})
        self.feed(c, ServiceState('web', 'up', 10 ** 10, 10))
        return c

    def time_out(self, c, reason='exit', value=0):
        """web's start_timeout fires; web goes down (reason, value)."""
        c.on_timer_start_timeout('web')
        self.feed(c, ServiceState('web', 'down', 10 ** 10 + 5, 10, reason, value, 5, 0))

    def test_not_ready_in_time_is_a_failure(self):
        c = self.boot()
        self.assertIn((Timer.START_TIMEOUT, 'web'), c.timer_due)
        c.on_timer_start_timeout('web')
        c.flush()
        self.assertEqual(self.dp.sent[-1], ('service.signal', 'web', 'SIGTERM', 'group'))
        self.assertIn('web: not ready within start_timeout 5s: a failure; stopping it',
                      self.lines)
        n = len(self.dp.sent)
        # it exits 0 at SIGTERM: still a failure, even for on-failure
        self.feed(c, ServiceState('web', 'down', 10 ** 10 + 5, 10, 'exit', 0, 5, 0))
        self.assertEqual(self.lines[-2:], ['web: stopped (exit 0)',
                                           'web: not ready within start_timeout 5s; failure 1; '
                                           'next start in 1s'])
        self.assertEqual([f for f in self.dp.sent[n:] if f[0] == 'service.start'],
                         [('service.start', 'web', str(10 ** 10 + 6))])
        self.assertEqual(c.units['dep'].phase, Phase.WAITING)

    def test_on_failure_restarts_never_gives_up(self):
        c = self.boot(restart='on-failure')
        self.time_out(c)
        self.assertEqual(c.units['web'].phase, Phase.STARTING)
        self.dp = FakeClient()
        c = self.boot(restart='never')
        self.time_out(c, 'signal', 'SIGTERM')
        self.assertEqual(c.units['web'].phase, Phase.GAVE_UP)
        self.assertEqual(c.units['dep'].phase, Phase.GAVE_UP)

    def test_ready_in_time_cancels_it(self):
        c = self.boot()
        self.feed(c, ServiceNotify('web', 10 ** 10, 10, ('READY=1',)))
        self.assertNotIn((Timer.START_TIMEOUT, 'web'), c.timer_due)
        self.assertEqual(c.units['web'].phase, Phase.READY)

    def test_start_limit_counts_it(self):
        c = self.boot(start_limit='1/1h')
        self.time_out(c)
        self.assertEqual(c.units['web'].phase, Phase.FAILED)
        want = [f for f in self.dp.sent if f[0] == 'service.want']
        self.assertIn('the last: not ready within start_timeout 5s', want[0][3])


@NEED
class Autostart(ControllerCase):
    def test_defined_not_started_until_wanted_up(self):
        c = self.controller({'tool': {'run': ['t'], 'autostart': False},
                             'dep': {'run': ['d'], 'requires': ['tool']},
                             'other': {'run': ['o']}})
        starts = [f for f in self.dp.sent if f[0] == 'service.start']
        self.assertEqual(starts, [('service.start', 'other')])
        self.assertIn(('service.args', 'tool', 't'), self.dp.sent, 'defined')
        self.assertEqual((c.units['tool'].phase, c.units['dep'].phase),
                         (Phase.STOPPED, Phase.WAITING))
        self.assertIn('tool: defined, not started: autostart = false (dpctl start tool starts '
                      'it)', self.lines)
        # dpctl start: the daemon starts it; then the restart policy applies
        n = len(self.dp.sent)
        self.dp.event(ServiceState('tool', 'up', 5, 50))
        self.feed(c, ServiceWant('tool', 'up', 'uid=0', 5))
        self.feed(c, ServiceState('tool', 'up', 5, 50))
        self.assertEqual(c.units['tool'].phase, Phase.READY)
        self.assertEqual([f for f in self.dp.sent[n:] if f[0] == 'service.start'],
                         [('service.start', 'dep')], 'its dependent follows')
        self.feed(c, ServiceState('tool', 'down', 6, 50, 'exit', 1, 1, 0))
        self.assertEqual(self.dp.sent[-2], ('service.start', 'tool', '7'))

    def test_a_new_controller_keeps_it_as_wanted(self):
        cfg = parse({'service': {'tool': {'run': ['t'], 'autostart': False}}})
        self.dp.event(ServiceState('tool', 'down', 1, None))
        self.dp.event(ServiceTags('tool', unit_tags(cfg.services['tool'])))
        self.dp.event(ServiceWant('tool', 'up', 'uid=0', 1))
        c = self.controller({'tool': {'run': ['t'], 'autostart': False}})
        self.assertIn(('service.start', 'tool'), self.dp.sent, 'wanted up: supervised')
        self.assertEqual(c.units['tool'].phase, Phase.STARTING)


@NEED
class Oneshot(ControllerCase):
    def boot(self, **kw):
        job = {'run': ['setup'], 'type': 'oneshot'}
        job.update(kw)
        return self.controller({'setup': job, 'web': {'run': ['w'], 'requires': ['setup']},
                                'late': {'run': ['l'], 'after': ['setup']}})

    def starts(self, n=0):
        return [f[1:] for f in self.dp.sent[n:] if f[0] == 'service.start']

    def test_keys(self):
        cfg = parse({'service': {'a': {'run': ['a'], 'type': 'oneshot'},
                                 'b': {'run': ['b'], 'type': 'oneshot', 'restart': 'on-failure',
                                       'start_timeout': 60}}})
        self.assertEqual((cfg.services['a'].type, cfg.services['a'].restart),
                         ('oneshot', 'never'))
        self.assertEqual((cfg.services['b'].restart, cfg.services['b'].start_timeout),
                         ('on-failure', 60), 'start_timeout: the time it has to finish')
        for table, key, what in [
                ({'type': 'forking'}, 'type', 'must be one of "simple", "oneshot"'),
                ({'type': 'oneshot', 'ready': 'notify'}, 'ready', 'a oneshot is ready when'),
                ({'type': 'oneshot', 'restart': 'always'}, 'restart', '"on-failure" or')]:
            got = problems({'a': dict(table, run=['a'])})
            self.assertEqual(len(got), 1, (table, got))
            self.assertTrue(got[0].startswith('f.toml: service.a.%s: ' % key), got)
            self.assertIn(what, got[0])

    def test_requirers_start_after_exit_0(self):
        c = self.boot()
        self.assertEqual(self.starts(), [('setup',)])
        self.feed(c, ServiceState('setup', 'up', 10, 100))
        self.assertEqual(self.starts(), [('setup',)], 'running is not ready for a oneshot')
        self.assertEqual(c.units['web'].phase, Phase.WAITING)
        self.feed(c, ServiceState('setup', 'down', 11, 100, 'exit', 0, 1, 0))
        self.assertEqual(self.starts(), [('setup',), ('web',), ('late',)])
        self.assertEqual(c.units['setup'].phase, Phase.FINISHED)
        self.assertIn('setup: exited (exit 0) after 1s; oneshot: done', self.lines)
        # dpctl start: the daemon runs it again; no start of ours, and done again
        n = len(self.dp.sent)
        self.dp.event(ServiceState('setup', 'up', 20, 101))
        self.feed(c, ServiceWant('setup', 'up', 'uid=0', 20))
        self.feed(c, ServiceState('setup', 'up', 20, 101))
        self.assertEqual(c.units['setup'].phase, Phase.STARTING)
        self.feed(c, ServiceState('setup', 'down', 21, 101, 'exit', 0, 1, 0))
        self.assertEqual(c.units['setup'].phase, Phase.FINISHED)
        self.assertEqual(self.starts(n), [], 'exit 0 is no restart')

    def test_failure_marks_failed_and_blocks(self):
        c = self.boot()
        self.feed(c, ServiceState('setup', 'up', 10, 100))
        self.feed(c, ServiceState('setup', 'down', 11, 100, 'exit', 3, 1, 0))
        self.assertEqual(c.units['setup'].phase, Phase.FAILED)
        self.assertIn(('service.want', 'setup', 'failed', 'oneshot exited (exit 3); '
                       'restart=never'), self.dp.sent)
        self.assertEqual(c.units['web'].phase, Phase.GAVE_UP)
        self.assertEqual(self.starts(), [('setup',), ('late',)], 'after: ordering only')

    def test_on_failure_retries_then_fails(self):
        c = self.boot(restart='on-failure', start_limit='2/1h')
        self.feed(c, ServiceState('setup', 'up', 10, 100))
        self.feed(c, ServiceState('setup', 'down', 11, 100, 'exit', 1, 1, 0))
        self.assertEqual(self.starts()[-1], ('setup', '12'))
        self.feed(c, ServiceState('setup', 'up', 12, 101))
        self.feed(c, ServiceState('setup', 'down', 13, 101, 'exit', 1, 1, 0))
        self.assertEqual(c.units['setup'].phase, Phase.FAILED)
        self.assertEqual(c.units['web'].phase, Phase.GAVE_UP)

    def test_start_timeout_bounds_the_run(self):
        c = self.boot(start_timeout=5)
        self.feed(c, ServiceState('setup', 'up', 10 ** 10, 100))
        self.assertIn((Timer.START_TIMEOUT, 'setup'), c.timer_due)
        c.on_timer_start_timeout('setup')
        self.feed(c, ServiceState('setup', 'down', 10 ** 10 + 5, 100, 'signal', 'SIGTERM', 5, 0))
        self.assertEqual(c.units['setup'].phase, Phase.FAILED)
        self.assertEqual([f[3] for f in self.dp.sent if f[0] == 'service.want'],
                         ['not ready within start_timeout 5s'])

    def test_a_new_controller_finds_it_done(self):
        cfg = parse({'service': {'setup': {'run': ['setup'], 'type': 'oneshot'}}})
        self.dp.event(ServiceState('setup', 'down', 5, 100, 'exit', 0, 1, 3))
        self.dp.event(ServiceTags('setup', unit_tags(cfg.services['setup'])))
        c = self.controller({'setup': {'run': ['setup'], 'type': 'oneshot'},
                             'web': {'run': ['w'], 'requires': ['setup']}})
        self.assertEqual(self.starts(), [('web',)], 'not run again, its requirer started')
        self.assertEqual(c.units['setup'].phase, Phase.FINISHED)


@NEED
class EnvAtDefinition(ControllerCase):
    def test_autostart_false_is_defined_with_the_file(self):
        d = tmpdir(self)
        path = os.path.join(d, 'e')
        with open(path, 'w') as f:
            f.write('A=1\n')
        self.controller({'tool': {'run': ['t'], 'autostart': False, 'env_file': path,
                                  'env': {'B': '2'}},
                         'gone': {'run': ['g'], 'autostart': False,
                                  'env_file': '-' + d + '/none', 'env': {'B': '2'}}})
        envs = [f for f in self.dp.sent if f[0] == 'service.env']
        self.assertEqual(envs, [('service.env', 'tool', 'A=1', 'B=2'),
                                ('service.env', 'gone', 'B=2')],
                         'dpctl start (the daemon\'s own start) gets the file too')


@NEED
class AutostartChanges(ControllerCase):
    """A reload that changes an autostart = false service."""

    def boot_file(self, text):
        self.path = os.path.join(tmpdir(self), 's.toml')
        with open(self.path, 'w') as f:
            f.write(text)
        c = Controller(self.dp, load(self.path),
                       log=lambda s, m: self.lines.append(s + ': ' + m))
        c.reconcile()
        c.flush()
        return c

    def reload_to(self, c, text):
        with open(self.path, 'w') as f:
            f.write(text)
        self.assertTrue(c.reload()[0])
        c.flush()

    def test_reload_to_autostart_true_starts_it(self):
        c = self.boot_file('[service.tool]\nrun = ["t"]\nautostart = false\n')
        self.assertEqual(c.units['tool'].phase, Phase.STOPPED)
        self.reload_to(c, '[service.tool]\nrun = ["t"]\n')
        self.assertEqual(self.dp.sent[-1], ('service.start', 'tool'))

    def test_a_changed_definition_starts_it_only_if_wanted_up(self):
        c = self.boot_file('[service.tool]\nrun = ["t"]\nautostart = false\n')
        self.reload_to(c, '[service.tool]\nrun = ["t2"]\nautostart = false\n')
        self.assertEqual([f for f in self.dp.sent if f[0] == 'service.start'], [])
        self.assertEqual(c.units['tool'].phase, Phase.STOPPED)
        # dpctl start, then a change: restarted with the new definition
        self.dp.event(ServiceState('tool', 'up', 5, 50))
        self.feed(c, ServiceWant('tool', 'up', 'uid=0', 5))
        self.feed(c, ServiceState('tool', 'up', 5, 50))
        self.reload_to(c, '[service.tool]\nrun = ["t3"]\nautostart = false\n')
        self.assertEqual(self.dp.sent[-1], ('service.signal', 'tool', 'SIGTERM', 'group'))
        self.feed(c, ServiceState('tool', 'down', 6, 50, 'signal', 'SIGTERM', 1, 0))
        self.assertEqual(self.dp.sent[-1], ('service.start', 'tool'))
        self.assertIn(('service.args', 'tool', 't3'), self.dp.sent)

    def test_env_too_long_for_the_daemon_fails_the_start(self):
        d = tmpdir(self)
        path = os.path.join(d, 'e')
        with open(path, 'w') as f:
            f.write('BIG=%s\n' % ('x' * 5000))
        c = self.controller({'w': {'run': ['w'], 'env_file': path, 'restart': 'never'}})
        self.assertEqual(c.units['w'].phase, Phase.GAVE_UP)
        self.assertIn('the daemon would refuse the environment', self.lines[-1])
        self.assertEqual([f for f in self.dp.sent if f[0] == 'service.start'], [])
        self.assertIn(('service.env', 'w'), self.dp.sent, 'defined with env alone')


@NEED
class Plan(unittest.TestCase):
    def test_check_prints_the_keys_when_set(self):
        import io
        from daemonproxy.controller.__main__ import print_plan
        out = io.StringIO()
        print_plan(parse({'service': {
            'setup': {'run': ['true'], 'type': 'oneshot', 'start_timeout': 30},
            'web': {'run': ['w'], 'env_file': '-/e', 'autostart': False},
            'plain': {'run': ['p']}}}, 'f.toml'), out)
        heads = [l for l in out.getvalue().splitlines() if l.startswith('# ') and ':' in l
                 and 'restart=' in l]
        self.assertEqual([h.split('stop=SIGTERM/10s')[1] for h in heads],
                         [' type=oneshot start_timeout=30s', ' autostart=false env_file=-/e',
                          ''])
