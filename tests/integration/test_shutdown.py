"""docs/protocol.md, "Shutdown": the daemon's own `shutdown→CODE→[GRACE]→
[GUARD]` (SIGTERM to every service's group, SIGKILL after GRACE, nothing
starts again, exit with CODE once nothing is left), and the SIGTERM
fail-safe: with no live controller a SIGTERM ends daemonproxy after
--failsafe seconds; with one, the signal is only an event, as it always
was."""

import os
import re
import signal
import subprocess

import dp
from dp import REPO, TIMEOUT, wait_for
from svc_util import SvcTest

# Ignores SIGTERM, and so do its two children (SIG_IGN is inherited); one
# of them leaves the process group (setsid) and is left to be reparented.
STUBBORN = ("trap '' TERM; sleep 1000 & setsid sleep 1001 & "
            "echo $$ $! > %s.tmp; mv %s.tmp %s; wait")


def gone(pid):
    """True once pid is no process (or a zombie nobody will reap)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def group_of(pgid):
    """Every process of process group pgid."""
    out = []
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                with open('/proc/%s/stat' % p) as f:
                    if int(f.read().rsplit(')', 1)[1].split()[3]) == pgid:
                        out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


def full_log(d):
    """The log of a daemon that exited, once all of it has been read."""
    d.log.wait_eof()
    return d.log.text()


def shutdown_of(d):
    """Every event line until daemonproxy's stdout closes."""
    lines = []
    while True:
        l = d.readline()
        if l is None:
            return lines
        lines.append(l)


class NativeShutdownTest(SvcTest):
    def armed_stubborn(self, d):
        """A service that outlives SIGTERM (its group's SIGTERM ends each
        sleep, not the loop), started and armed: a SIGTERM before its trap
        is set would end it at once.  Returns its pid."""
        armed = self.path('armed')
        self.define(d, 'stubborn', ['sh', '-c', "trap '' TERM; : > \"$0\"; "
                                    "while :; do sleep 0.2; done", armed])
        pid = self.start_svc(d, 'stubborn')
        wait_for(lambda: os.path.exists(armed), msg='the trap set')
        return pid

    def services(self, d):
        pidfile = self.path('stubborn.pids')
        self.define(d, 'plain', ['sleep', '1000'])
        self.define(d, 'stubborn', ['sh', '-c', STUBBORN % (pidfile, pidfile, pidfile)])
        out = self.define(d, 'again', ['sleep', '1000'], auto_up=[1, 'always'])
        if not any(l.startswith('service.state\tagain\tup\t') for l in out):
            self.expect_state(d, 'again', 'up')
        pids = [self.start_svc(d, 'plain'), self.start_svc(d, 'stubborn')]
        sh, escaped = map(int, self.wait_text(pidfile).split())
        for p in escaped, sh:
            self.kill_at_cleanup(p)
        procs = group_of(pids[0]) + group_of(pids[1]) + [escaped]
        self.assertGreaterEqual(len(procs), 4)
        return procs

    def test_sigkill_after_grace_nothing_left_exit_code(self):
        d = self.start()
        procs = self.services(d)
        d.send('shutdown\t7\t1')
        lines = shutdown_of(d)
        self.assertEqual(d.wait(), 7)
        downs = sorted(l.split('\t')[1] for l in lines if l.startswith('service.state\t') and
                       l.split('\t')[2] == 'down')
        self.assertEqual(downs, ['again', 'plain', 'stubborn'])
        self.assertEqual([l for l in lines if re.match(r'service\.state\t\w+\t(start|up)\t', l)],
                         [], 'nothing starts again')
        log = full_log(d)
        self.assertIn('shutdown: stopping 3 running services (SIGTERM, SIGKILL after 1 s), '
                      'as asked by stdin', log)
        self.assertIn('shutdown: SIGKILL to what is left (1 services running)', log)
        self.assertIn('exiting with code 7, as asked by stdin', log)
        self.assertNotIn('running as pid', log)
        self.assertEqual([p for p in procs if not gone(p)], [])

    def test_stdin_eof_does_not_cut_it_short(self):
        d = self.start()
        pid = self.armed_stubborn(d)
        # a grace longer than any wait here: the EOF comes while the
        # shutdown still waits for stubborn, which the test then kills
        d.send('shutdown\t6\t600')
        d.log.expect(re.compile('shutdown: stopping 1 running'))
        d.close_stdin()
        d.log.expect(re.compile('end of interactive input; the shutdown carries on'))
        self.assertTrue(d.alive())
        os.kill(pid, signal.SIGKILL)
        self.assertEqual(d.wait(), 6)
        self.assertTrue(gone(pid))

    def test_quick_when_everything_obeys(self):
        d = self.start()
        self.define(d, 'a', ['sleep', '1000'])
        pid = self.start_svc(d, 'a')
        d.send('shutdown\t0')
        self.expect_state(d, 'a', 'down')
        self.assertEqual(d.wait(), 0)
        self.assertTrue(gone(pid))
        self.assertNotIn('SIGKILL to', full_log(d))

    def test_second_shutdown_only_shortens(self):
        d = self.start()
        procs = self.services(d)
        d.send('service.args\tidle\ttrue', 'shutdown\t3\t3600', 'service.start\tidle',
               'shutdown\t9\t0')
        lines = shutdown_of(d)
        self.assertEqual(d.wait(), 3)
        self.assertIn('error\tservice idle: daemonproxy is shutting down, for command '
                      '"service.start\tidle"', lines)
        self.assertIn('shutdown: SIGKILL after 0 s now, as asked by stdin', full_log(d))
        self.assertEqual([p for p in procs if not gone(p)], [])

    def test_errors_change_nothing(self):
        d = self.start('--exit-guard', '42')
        self.define(d, 'a', ['sleep', '1000'])
        self.start_svc(d, 'a')
        for line, msg in (('shutdown\tx', "invalid exit code 'x'"),
                          ('shutdown\t256', "invalid exit code '256'"),
                          ('shutdown\t0\t-1', "invalid grace '-1'"),
                          ('shutdown\t0\t1s', "invalid grace '1s'"),
                          ('shutdown\t0', 'guard code required'),
                          ('shutdown\t0\t\t41', 'incorrect guard code'),
                          ('shutdown\t0\t\t42', 'no exec-on-exit args'),
                          ('shutdown', 'expected at least 1 argument'),
                          ('shutdown\t0\t1\t42\tx', 'expected at most 3 arguments')):
            with self.subTest(line=line):
                self.assertCmdError(d, line, msg)
        self.assertEqual(self.dump_state(d, 'a')[2], 'up')
        d.send('service.signal\ta\tSIGTERM')
        self.expect_state(d, 'a', 'down')
        self.start_svc(d, 'a')

    def test_guard_with_exec_args(self):
        out = self.path('exit.rec')
        d = self.start('--exit-guard', '42', '-E',
                       '\t'.join(['/bin/sh', '-c', 'echo "$DAEMONPROXY_EXITCODE" > %s' % out]))
        self.define(d, 'a', ['sleep', '1000'])
        self.start_svc(d, 'a')
        d.send('shutdown\t5\t\t42')
        self.expect_state(d, 'a', 'down')
        self.assertEqual(self.wait_text(out).strip(), '5')

    def test_reexec_refused_while_shutting_down(self):
        d = self.start()
        self.armed_stubborn(d)
        d.send('shutdown\t0\t3600')
        self.assertCmdError(d, 'reexec', 'daemonproxy is shutting down')
        d.send('shutdown\t0\t0')
        self.assertEqual(d.wait(), 0)


class FailsafeTest(SvcTest):
    def test_sigterm_without_controller_ends_everything(self):
        sock = self.path('s')
        conf = self.write_file('c.conf', 'service.args\ta\tsh\t-c\tsleep 1000 & wait\n'
                               'service.auto_up\ta\t1\talways\n')
        d = self.start('-c', conf, '-S', sock, '--failsafe', '1', interactive=False,
                       stdin=subprocess.DEVNULL)
        c = self.connect(sock)
        line = next(l for l in c.cmd('statedump') if l.startswith('service.state\ta\t'))
        if '\tup\t' not in line:
            line = self.expect_state(c, 'a', 'up')
        else:
            line = line.split('\t')
        pid = int(line[4])
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            procs = [pid] + [int(x) for x in f.read().split()]
        os.kill(d.pid, signal.SIGTERM)
        # a socket client is no controller, but it still hears the signal
        c.expect(lambda l: l.startswith('signal\tSIGTERM\t'))
        self.expect_state(c, 'a', 'down')
        self.assertEqual(d.wait(), 0)
        log = full_log(d)
        self.assertIn('SIGTERM and no live controller: shutting down in 1 s unless one appears',
                      log)
        self.assertIn('as asked by the SIGTERM fail-safe (no live controller)', log)
        self.assertEqual([p for p in procs if not gone(p)], [])

    def test_sigint_too_and_failsafe_zero(self):
        d = self.start('-S', self.path('s'), '--failsafe', '0', interactive=False,
                       stdin=subprocess.DEVNULL)
        c = self.connect(self.path('s'))
        c.ping()
        os.kill(d.pid, signal.SIGINT)
        self.assertEqual(d.wait(), 0)
        self.assertIn('SIGINT and no live controller', full_log(d))

    def test_failsafe_off(self):
        d = self.start('-S', self.path('s'), '--failsafe', 'off', interactive=False,
                       stdin=subprocess.DEVNULL)
        c = self.connect(self.path('s'))
        c.ping()
        os.kill(d.pid, signal.SIGTERM)
        c.expect(lambda l: l.startswith('signal\tSIGTERM\t'))
        c.ping()
        self.assertTrue(d.alive())
        self.assertNotIn('live controller', d.log.text())

    def assertOnlyAnEvent(self, d, c, sig=signal.SIGTERM):
        os.kill(d.pid, sig)
        c.expect(lambda l: l.startswith('signal\t%s\t1\t' % signal.Signals(sig).name) or
                 l.startswith('signal\t%s\t' % signal.Signals(sig).name))
        c.ping()
        self.assertTrue(d.alive())
        self.assertNotIn('live controller', d.log.text())
        self.assertEqual([l.split('\t')[:2] for l in c.cmd('statedump')
                          if l.startswith('signal\t')], [['signal', signal.Signals(sig).name]])

    def test_original_controller_service_keeps_the_seed_behaviour(self):
        """examples/controller.conf (controller.sh as a config-file
        controller service): SIGTERM is an event, counted, in statedump."""
        sock = self.path('s')
        d = self.start('-c', os.path.join(REPO, 'examples', 'controller.conf'), '-S', sock,
                       '--failsafe', '0', interactive=False, stdin=subprocess.DEVNULL,
                       cwd=REPO)
        c = self.connect(sock)
        if not any(l.startswith('service.state\tcontroller\tup\t') for l in c.cmd('statedump')):
            self.expect_state(c, 'controller', 'up')
        self.assertOnlyAnEvent(d, c)

    def test_interactive_and_serving_clients_are_live(self):
        d = self.start('-S', self.path('s'), '--failsafe', '0')
        c = self.connect(self.path('s'))
        c.ping()
        self.assertOnlyAnEvent(d, c, signal.SIGINT)
        # a client that serves a verb is live too
        d2 = self.start('-S', self.path('s2'), '--failsafe', '0', interactive=False,
                        stdin=subprocess.DEVNULL)
        srv = self.connect(self.path('s2'))
        srv.cmd('ctl.serve\tshutdown')
        self.assertOnlyAnEvent(d2, srv)
        # and once it goes, the next SIGTERM finds none
        srv.close()
        c2 = self.connect(self.path('s2'))
        c2.ping()
        os.kill(d2.pid, signal.SIGTERM)
        self.assertEqual(d2.wait(), 0)

    def test_a_controller_appearing_in_time_takes_over(self):
        sock = self.path('s')
        d = self.start('-S', sock, '--failsafe', '3', interactive=False,
                       stdin=subprocess.DEVNULL)
        c = self.connect(sock)
        c.ping()
        os.kill(d.pid, signal.SIGTERM)
        d.log.expect(re.compile('SIGTERM and no live controller'))
        c.cmd('ctl.serve\tshutdown')
        d.log.expect(re.compile('SIGTERM fail-safe: a controller is live now'), TIMEOUT + 3)
        c.ping()
        self.assertTrue(d.alive())


DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(dp.binary()), 'dpctl')


def dpctl_bg(sock, *args):
    return subprocess.Popen([DPCTL, '-S', sock] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def finish(p, timeout=TIMEOUT):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out.decode(), err.decode()


class DpctlShutdownTest(SvcTest):
    def daemon(self, *args):
        sock = self.path('s')
        d = self.start('-S', sock, *args)
        self.define(d, 'stubborn', ['sh', '-c', "trap '' TERM; sleep 1000 & wait"])
        pid = self.start_svc(d, 'stubborn')
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            procs = [pid] + [int(x) for x in f.read().split()]
        return d, sock, procs

    def test_no_controller_serving(self):
        d, sock, procs = self.daemon()
        rc, out, err = finish(dpctl_bg(sock, '-t', '1', 'shutdown', '4'), TIMEOUT + 15)
        self.assertEqual((rc, err), (0, ''))
        self.assertEqual(out, 'daemonproxy has shut down (no controller serves shutdown: '
                              'SIGTERM to every service, SIGKILL after 1s)\n')
        self.assertEqual(d.wait(), 4)
        self.assertEqual([p for p in procs if not gone(p)], [])

    def test_controller_does_it(self):
        d, sock, procs = self.daemon()
        srv = self.connect(sock)
        srv.cmd('ctl.serve\tshutdown')
        p = dpctl_bg(sock, 'shutdown', '5')
        f = srv.expect(lambda l: l.startswith('ctl.request\t')).split('\t')
        self.assertEqual(f[2:], ['uid=%d' % os.getuid(), 'shutdown', '5'])
        # a fake controller's ordered stop: its service, then terminate
        srv.send('ctl.reply\t%s\tok\tshutting down' % f[1], 'service.signal\tstubborn\tKILL',
                 'terminate\t5')
        rc, out, err = finish(p)
        self.assertEqual((rc, out, err), (0, 'shutting down\ndaemonproxy has shut down (by '
                                             'its controller)\n', ''))
        self.assertEqual(d.wait(), 5)

    def test_controller_silent_then_native(self):
        d, sock, procs = self.daemon()
        srv = self.connect(sock)
        srv.cmd('ctl.serve\tshutdown')
        p = dpctl_bg(sock, '-t', '1', 'shutdown')
        # no CODE given: the request has none (the controller's exit_code)
        f = srv.expect(lambda l: l.startswith('ctl.request\t')).split('\t')
        self.assertEqual(f[2:], ['uid=%d' % os.getuid(), 'shutdown'])
        rc, out, err = finish(p, TIMEOUT + 15)
        self.assertEqual(rc, 0, err)
        self.assertIn('the controller did not answer in time', out)
        self.assertEqual(d.wait(), 0)
        self.assertEqual([p for p in procs if not gone(p)], [])

    def test_force_and_guard(self):
        d, sock, procs = self.daemon('--exit-guard', '9')
        srv = self.connect(sock)
        srv.cmd('ctl.serve\tshutdown')
        rc, out, err = finish(dpctl_bg(sock, 'shutdown', '--force'))
        self.assertEqual((rc, out), (1, ''))
        self.assertEqual(err, 'dpctl: exit guard is set: guard code required\n')
        self.assertEqual([l for l in srv.cmd() if l.startswith('ctl.request')], [])
        self.assertTrue(d.alive())
        d.send('terminate.guard\t-\t9')
        rc, out, err = finish(dpctl_bg(sock, '-t', '0', 'shutdown', '--force', '2'))
        self.assertEqual((rc, err), (0, ''))
        self.assertEqual(d.wait(), 2)
        self.assertEqual([p for p in procs if not gone(p)], [])

    def test_usage(self):
        d, sock, procs = self.daemon()
        for args in (['shutdown', '256'], ['shutdown', 'x'], ['shutdown', '1', '2'],
                     ['shutdown', '-1'], ['reload', '--force']):
            with self.subTest(args=args):
                self.assertEqual(finish(dpctl_bg(sock, *args))[0], 2)
        self.assertTrue(d.alive())
        rc, out, err = finish(dpctl_bg(sock, 'help', 'shutdown'))
        self.assertEqual(rc, 0)
        self.assertIn('--force   daemonproxy\'s own shutdown at once', out)


class ControllerBackoffTest(SvcTest):
    STEP = re.compile(r'controller ctl exited after 0s; next start in (\d+)s')

    def steps(self, d, n):
        """The back-off's log lines' delays, once there are n of them."""
        wait_for(lambda: len(self.STEP.findall(d.log.text())) >= n, TIMEOUT, 'log lines')
        return self.STEP.findall(d.log.text())

    def test_a_controller_that_exits_at_once_backs_off(self):
        """A controller service exiting at once restarts after 1, 2 s, ...
        (logged once per step); a plain service with the same rule keeps
        restarting every second; `service.want up` starts the count over."""
        d = self.start()
        ups = {'ctl': [], 'plain': []}
        order = []      # ('ctl' | 'plain') per up, in the order they came

        def up(l, n=3):
            f = l.split('\t')
            if l.startswith('service.state\t') and f[2] == 'up':
                ups[f[1]].append(int(f[3]))
                order.append(f[1])
            return len(ups['ctl']) == n
        for l in self.define(d, 'plain', ['sh', '-c', 'exit 1'], auto_up=[1, 'always']) + \
                self.define(d, 'ctl', ['sh', '-c', 'exit 1'],
                            fds=['control.event', 'control.cmd', 'stderr'], auto_up=[1, 'always']):
            up(l)
        d.expect(up, TIMEOUT + 10)
        self.assertEqual(self.steps(d, 2), ['2', '4'])
        self.assertNotIn('controller plain', d.log.text())
        t = ups['ctl']
        gaps = [b - a for a, b in zip(t, t[1:])]
        # the daemon's own clock (whole seconds): 1, then 2
        self.assertTrue(gaps[0] <= 2 and 1 <= gaps[1] <= 3, gaps)
        # while ctl backed off, plain went on at its MIN_INTERVAL: by ctl's
        # third start (a count, not a time: both wait on the same clock)
        last = len(order) - 1 - order[::-1].index('ctl')
        self.assertGreaterEqual(order[:last].count('plain'), 3, order)
        # an operator's up (the pending start cancelled first, so that it
        # starts now): the count starts over, 1 s and then 2 s
        n = len(ups['ctl'])
        d.send('service.start\tctl\t-', 'service.want\tctl\tup')
        d.expect(lambda l: up(l, n + 2))
        self.assertEqual(self.steps(d, 3), ['2', '4', '2'])
