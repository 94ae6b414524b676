"""dpctl stop, start and restart through the desired state (docs/protocol.md,
"Desired state"; dpctl(1)), against the real daemon and real controllers.

- A stop sticks: under auto-up alone, under examples/controller.sh, under
  dpcontroller, across a crash of the controller and across a live re-exec,
  nothing starts the service again.  Each is proven by a later event rather
  than a pause: ticks of a clock service (auto-up 1 always, so each tick is
  one of the daemon's MIN_INTERVALs: what the stopped service's own rule
  would have waited), after the controller has shown that it decided
  (controller.sh logs each event it reads, dpcontroller its start).
- start brings back exactly the auto-up rule (or the controller's policy):
  the rule was only gated, never changed.
- restart: want down (why "restart"), the stop, want up, in that order of
  events; the stop_signal= and stop_timeout= tags a controller publishes
  are used (a SIGTERM-ignoring service is killed after the tag's timeout,
  not dpctl's default 10 s: dpctl says which it waited); under dpcontroller
  dpctl sends no service.start that could meet the controller's in an
  "already running" error; a -t given wins over the tag.
- stop of a service already down records it down (exit 0); --why / -m
  recorded as WHY, and bad ones are usage errors; patterns and `all`.
"""

import os
import re
import signal
import sys
import unittest

import dp
from dp import TIMEOUT
from svc_util import PY
from test_dpctl import DpctlTest, TERM_IGNORER, USAGE_CODE

PYDIR = os.path.join(dp.REPO, 'python')
CONTROLLER_SH = os.path.join(dp.REPO, 'examples', 'controller.sh')
HAVE_311 = sys.version_info >= (3, 11)
ME = 'uid=%d' % os.geteuid()


def states(lines, name):
    return [l.split('\t')[2] for l in lines if l.startswith('service.state\t%s\t' % name)]


class WantTest(DpctlTest):
    def boot(self, *args, env=None):
        """The daemon and its clock: a service that auto-up starts every
        MIN_INTERVAL (1 s as the daemon counts it) and that exits at once."""
        d = self.daemon(*args, env=env)
        self.define(d, 'clock', ['sh', '-c', 'exit 0'], auto_up=[1, 'always'])
        return d

    def ticks(self, d, n):
        """Every line d sees until n more `up` events of the clock, then up
        to an echo: whatever was to happen within n - 1 intervals."""
        seen = []
        for _ in range(n):
            d.expect(lambda l: seen.append(l) or l.startswith('service.state\tclock\tup\t'),
                     timeout=TIMEOUT + 2)
        return seen + d.cmd()

    def assertStaysDown(self, d, name, n=3):
        """name is not started for n clock ticks (two intervals of an
        auto-up rule of 1 s, or of a controller's back-off of 1 s)."""
        d.ping()                        # past the stop's own events
        seen = self.ticks(d, n)
        self.assertEqual(states(seen, name), [], '%s started while wanted down' % name)
        self.assertEqual(self.dump_lines(d, 'service.state', name)[0][2], 'down')

    def want_of(self, d, name):
        got = self.dump_lines(d, 'service.want', name)
        return got[0][2:4] + got[0][5:] if got else None

    def running(self, d, name):
        st = self.dump_lines(d, 'service.state', name)[0]
        return int(st[4]) if st[2] == 'up' else None

    def restarted_by_policy(self, d, name, pid):
        """A kill of name (run pid) is followed by a start of another run:
        its auto-up rule or controller acts on it again."""
        d.send('service.signal\t%s\tSIGKILL' % name)
        self.expect_state(d, name, 'down')
        self.assertNotEqual(int(self.expect_state(d, name, 'up', timeout=TIMEOUT + 2)[4]), pid)


class AutoUp(WantTest):
    def test_stop_sticks_and_start_brings_the_rule_back(self):
        d = self.boot()
        self.define(d, 'web', ['sleep', '1000'], auto_up=[1, 'always'])
        pid = self.running(d, 'web')
        r = self.ok('stop', '--why', 'disk full', 'web')
        self.assertEqual(r.lines, ['web: stopped (signal SIGTERM)'])
        self.assertFalse(dp.proc_alive(pid))
        self.assertStaysDown(d, 'web')
        self.assertEqual(self.want_of(d, 'web'), ['down', ME, 'disk full'])
        self.assertEqual(self.auto_up_line(d, 'web'), ['service.auto_up', 'web', '1', 'always'])
        # the refusal a controller would get names who and why (the
        # clock's events may come between the command and its answer)
        out = [l for l in d.cmd('service.start\tweb') if not l.startswith('service.state\tclock')]
        self.assertEqual(len(out), 1, out)
        self.assertError(out[0], 'wanted down by %s (disk full); to start it: dpctl start web' % ME)
        r = self.ok('start', '-m', 'fixed', 'web')
        m = re.match(r'^web: up, pid (\d+)$', r.out.rstrip('\n'))
        self.assertTrue(m, r)
        self.assertEqual(self.want_of(d, 'web'), ['up', ME, 'fixed'])
        # the rule is back as it was: a kill is followed by auto-up's start
        self.restarted_by_policy(d, 'web', int(m.group(1)))
        # start of a running one: nothing sent but the want, no error
        new = self.running(d, 'web')
        r = self.ok('start', 'web')
        self.assertEqual(r.lines, ['web: already up, pid %d' % new])

    def test_stop_of_a_down_service_records_it(self):
        d = self.boot()
        self.define(d, 'web', ['sleep', '1000'])
        r = self.ok('stop', 'web')
        self.assertEqual((r.lines, r.err), (['web: was not running'], ''))
        self.assertEqual(self.want_of(d, 'web'), ['down', ME, ''])
        # so a later auto-up rule does not start it either
        self.assertEqual(states(d.cmd('service.auto_up\tweb\t1\talways'), 'web'), [])
        self.assertStaysDown(d, 'web', 2)
        # a crash-looping one: its pending start is cancelled
        self.define(d, 'loop', ['sh', '-c', 'exit 1'], auto_up=[1000, 'always'])
        self.expect_state(d, 'loop', 'start')
        r = self.ok('stop', 'loop')
        self.assertEqual(r.lines, ['loop: was not running; its pending start is cancelled'])
        self.assertEqual(self.want_of(d, 'loop')[0], 'down')

    def test_patterns_all_and_why(self):
        d = self.daemon()
        for n in ('web1', 'web2', 'db'):
            self.define(d, n, ['sleep', '1000'], auto_up=[1, 'always'])
        self.define(d, 'ctl', ['sleep', '1000'], fds=['control.event', 'control.cmd', 'stderr'])
        r = self.ok('stop', 'web*')
        self.assertEqual(r.lines, ['web1: stopped (signal SIGTERM)',
                                   'web2: stopped (signal SIGTERM)'])
        self.assertEqual([self.want_of(d, n) for n in ('web1', 'web2', 'db')],
                         [['down', ME, ''], ['down', ME, ''], None])
        r = self.ok('stop', 'all', '--why=drain')
        self.assertEqual(r.lines, ['db: stopped (signal SIGTERM)', 'web1: was not running',
                                   'web2: was not running'], r)
        self.assertEqual(self.want_of(d, 'db'), ['down', ME, 'drain'])
        self.assertIsNone(self.want_of(d, 'ctl'), 'all leaves the controllers out')
        r = self.ok('start', 'all')
        self.assertEqual([l.split(':')[0] for l in r.lines], ['db', 'web1', 'web2'], r)
        for n in ('db', 'web1', 'web2'):
            self.assertEqual(self.want_of(d, n)[0], 'up')
            self.assertIsNotNone(self.running(d, n))
        # bad reasons are usage errors, sent nowhere; --why only where it means something
        for args in (['stop', '--why', 'a\tb', 'db'], ['stop', '-m', 'x' * 256, 'db'],
                     ['status', '--why', 'x'], ['--why', 'x', 'stop', 'db'],
                     ['signal', '-m', 'x', 'HUP', 'db']):
            r = self.dpctl(*args)
            self.assertEqual(r.rc, USAGE_CODE, r)
        self.assertEqual(self.want_of(d, 'db')[0], 'up')
        r = self.ok('stop', '-m', 'x' * 255, 'db')
        self.assertEqual(self.want_of(d, 'db'), ['down', ME, 'x' * 255])
        # completed as an option of these commands only
        for cmd, offered in (('stop', ['--why']), ('restart', ['--why']), ('status', [])):
            r = self.ok('__complete', cmd, '--w', sock=False)
            self.assertEqual(r.lines, ['words'] + offered, r)

class Tags(WantTest):
    def stubborn(self, d, name, tags):
        """A service that ignores SIGTERM, with tags; returns its pid."""
        prog = self.script('term_ignorer.py', TERM_IGNORER)
        armed = self.path(name + '.armed')
        self.define(d, name, [PY, prog, armed], tags=tags)
        pid = self.start_svc(d, name)
        self.armed(armed)
        return pid

    def test_restart_uses_the_stop_timeout_tag(self):
        d = self.boot()
        pid = self.stubborn(d, 'web', ['role=x', 'stop_timeout=1'])
        d.ping()
        r = self.ok('restart', 'web')
        self.assertEqual(len(r.lines), 2, r)
        self.assertEqual(r.lines[0], 'web: did not stop within 1s; killed (signal SIGKILL)')
        new = int(re.match(r'^web: up, pid (\d+)$', r.lines[1]).group(1))
        self.assertNotEqual(new, pid)
        # the events, in order: want down (restart), the SIGKILL's down,
        # want up (restart), the new run
        seen = d.cmd()
        order = [l.split('\t')[:3] for l in seen
                 if l.startswith(('service.want\tweb\t', 'service.state\tweb\t'))]
        self.assertEqual(order, [['service.want', 'web', 'down'],
                                 ['service.state', 'web', 'down'],
                                 ['service.want', 'web', 'up'],
                                 ['service.state', 'web', 'start'],
                                 ['service.state', 'web', 'up']], seen)
        down = [l.split('\t') for l in seen if l.startswith('service.state\tweb\tdown\t')][0]
        self.assertEqual(down[4:7], [str(pid), 'signal', 'SIGKILL'])
        self.assertEqual(self.want_of(d, 'web'), ['up', ME, 'restart'])
        # the stop signal tag; and -t given wins over the timeout tag
        d.cmd('service.tags\tweb\tstop_signal=HUP\tstop_timeout=1000')
        r = self.ok('stop', 'web')
        self.assertEqual(r.lines, ['web: stopped (signal SIGHUP)'])
        os.unlink(self.path('web.armed'))
        self.ok('start', 'web')
        self.armed('web.armed')
        d.cmd('service.tags\tweb\tstop_timeout=1000')
        r = self.ok('-t', '0.5', 'stop', 'web')
        self.assertEqual(r.lines, ['web: did not stop within 0.5s; killed (signal SIGKILL)'])

    def test_bad_tags_fall_back(self):
        d = self.boot()
        self.define(d, 'web', ['sleep', '1000'], tags=['stop_signal=SIGBOGUS',
                                                        'stop_timeout=soon'])
        self.start_svc(d, 'web')
        r = self.dpctl('stop', 'web')
        self.assertEqual((r.rc, r.lines), (0, ['web: stopped (signal SIGTERM)']), r)
        self.assertIn("dpctl: web: ignoring its tag stop_timeout=soon", r.err)
        self.assertIn("stop_signal=SIGBOGUS); sending SIGTERM", r.err)


class ControllerSh(WantTest):
    def controlled(self):
        """The clock, web (started, no auto-up) and examples/controller.sh,
        whose policy restarts web one second after it goes down."""
        d = self.boot()
        self.define(d, 'web', ['sleep', '1000'])
        self.start_svc(d, 'web')
        i = len(d.log.snapshot())
        self.define(d, 'controller', ['sh', CONTROLLER_SH],
                    fds=['control.event', 'control.cmd', 'stderr'], auto_up=[1, 'always'])
        d.log.expect(lambda l: l is not None and 'controller.sh: controller.synced' in l,
                     start=i)
        return d

    def controller_decided(self, d, start):
        """controller.sh logs each event it reads: once it has read a tick
        after web's down, it has decided about web (a start one second after
        the down, by its policy), and assertStaysDown's ticks pass that
        second."""
        d.log.expect(lambda l: l is not None and
                     l.startswith('controller.sh: service.state\tclock\tup\t'),
                     start=start, timeout=TIMEOUT + 2)

    def test_stop_sticks_under_controller_sh(self):
        d = self.controlled()
        i = len(d.log.snapshot())
        r = self.ok('stop', 'web')
        self.assertEqual(r.lines, ['web: stopped (signal SIGTERM)'])
        self.controller_decided(d, i)
        self.assertStaysDown(d, 'web')
        # start: its policy is back
        pid = int(re.match(r'^web: up, pid (\d+)', self.ok('start', 'web').out).group(1))
        self.restarted_by_policy(d, 'web', pid)

    @unittest.skipIf(dp.VALGRIND_DIR, 'a re-exec leaves valgrind')
    def test_stop_sticks_across_reexec(self):
        d = self.controlled()
        self.ok('stop', '--why', 'upgrade', 'web')
        r = self.ok('reexec')
        self.assertTrue(r.out.startswith('daemonproxy re-executed: '), r)
        # the controller stays connected across it, and decides again
        self.controller_decided(d, len(d.log.snapshot()))
        self.assertStaysDown(d, 'web')
        self.assertEqual(self.want_of(d, 'web'), ['down', ME, 'upgrade'])
        pid = int(re.match(r'^web: up, pid (\d+)', self.ok('start', 'web').out).group(1))
        self.restarted_by_policy(d, 'web', pid)


TOML = '''
[service.web]
run = ["sleep", "1000"]
backoff_base = 1
[service.stubborn]
run = ["%s", "%s", "%s"]
stop_timeout = 1
backoff_base = 1
'''


@unittest.skipUnless(HAVE_311, 'the controller needs Python 3.11 (tomllib)')
class Dpcontroller(WantTest):
    def boot_controller(self):
        prog = self.script('term_ignorer.py', TERM_IGNORER)
        toml = self.write_file('services.toml', TOML % (PY, prog, self.path('armed')))
        d = self.boot(env=dict(os.environ, PYTHONPATH=PYDIR))
        self.define(d, 'controller', [PY, '-m', 'daemonproxy.controller', toml],
                    fds=['control.event', 'control.cmd', 'stderr'], auto_up=[1, 'always'])
        for name in ('web', 'stubborn'):
            self.expect_state(d, name, 'up', timeout=TIMEOUT * 2)
        # its tags name how it stops them
        tags = self.dump_lines(d, 'service.tags', 'stubborn')[0]
        self.assertIn('stop_timeout=1', tags)
        self.assertIn('stop_signal=SIGTERM', tags)
        return d

    def test_stop_sticks_and_survives_a_controller_crash(self):
        d = self.boot_controller()
        r = self.ok('stop', 'web')
        self.assertEqual(r.lines, ['web: stopped (signal SIGTERM)'])
        self.assertStaysDown(d, 'web')
        # a crash of the controller: the new one syncs and looks at web
        ctl = self.running(d, 'controller')
        i = len(d.log.snapshot())
        os.kill(ctl, signal.SIGKILL)
        self.expect_state(d, 'controller', 'down')
        self.expect_state(d, 'controller', 'up', timeout=TIMEOUT + 2)
        # its first decisions follow its first words
        d.log.expect(lambda l: l is not None and 'controller: started with' in l, start=i,
                     timeout=TIMEOUT * 2)
        self.assertStaysDown(d, 'web')
        self.assertEqual(self.want_of(d, 'web'), ['down', ME, ''])
        # start: up, and its policy restarts it again after a kill
        pid = int(re.match(r'^web: up, pid (\d+)', self.ok('start', 'web').out).group(1))
        self.restarted_by_policy(d, 'web', pid)

    def test_restart_uses_its_stop_timeout_without_a_race(self):
        d = self.boot_controller()
        pid = self.running(d, 'stubborn')
        self.armed('armed')
        r = self.ok('restart', 'stubborn')
        self.assertEqual(r.err, '', r)
        # dpcontroller follows the want down too, with the same stop_timeout:
        # whichever SIGKILL lands first, dpctl's (its message) or the
        # controller's (a plain stop by SIGKILL), it came after 1 s, not 10
        # (that dpctl itself uses the tag: test_restart_uses_the_stop_timeout_tag)
        self.assertIn(r.lines[0], ('stubborn: did not stop within 1s; killed (signal SIGKILL)',
                                   'stubborn: stopped (signal SIGKILL)'))
        new = int(re.match(r'^stubborn: up, pid (\d+)$', r.lines[1]).group(1))
        self.assertNotEqual(new, pid)
        # the run dpctl reports is the one that stays (no second start)
        self.ticks(d, 2)
        self.assertEqual(self.running(d, 'stubborn'), new)
        # dpctl itself sent no start that could meet one of the controller
        # (its own late start is its policy's: one that follows the
        # convention does not restart a service wanted down)
        self.assertFalse([l for l in d.log.snapshot() if re.search(
            r'client \d+: command: service\.start\t', l)], d.log.text())
