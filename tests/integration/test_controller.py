"""The reference controller (python/daemonproxy/controller, dpcontroller)
against the real daemon: dependency order and readiness, back-off,
restart policies, logger pairing, reload, crash safety, shutdown.

Each test runs daemonproxy with a config that starts the controller as
its controller service and creates a control socket; an observer Client
on that socket records every event.  Orders and gaps are read from the
events (their TS fields), never from wall-clock sleeps."""

import os
import re
import signal
import subprocess
import sys
import unittest

from dp import DPTest, REPO, TIMEOUT
from svc_util import PID1_FINISH

PYDIR = os.path.join(REPO, 'python')
if PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)
import daemonproxy as dpl                                      # noqa: E402
from daemonproxy import ServiceNotify, ServiceState            # noqa: E402

HAVE_311 = sys.version_info >= (3, 11)

NOTIFY_LATE = ('import os, socket, time; time.sleep(%s); '
               's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); '
               'a = os.environ["NOTIFY_SOCKET"]; '
               's.sendto(b"READY=1", "\\0" + a[1:] if a[0] == "@" else a); '
               'time.sleep(1000)')


def conf_for(sock, toml):
    return ('socket.create\t-\t%s\n'
            'service.args\tcontroller\t%s\t-m\tdaemonproxy.controller\t%s\n'
            'service.fds\tcontroller\tcontrol.event\tcontrol.cmd\tstderr\n'
            'service.auto_up\tcontroller\t1\talways\n' % (sock, sys.executable, toml))


@unittest.skipUnless(HAVE_311, 'the controller needs Python 3.11 (tomllib)')
class ControllerTest(DPTest):
    def boot(self, toml, *args):
        self.toml = self.write_file('services.toml', toml)
        sock = self.path('dp.sock')
        conf = self.write_file('ctl.conf', conf_for(sock, self.toml))
        env = dict(os.environ, PYTHONPATH=PYDIR)
        self.d = self.start(*(args + ('-c', conf)), interactive=False,
                            stdin=subprocess.DEVNULL, env=env)
        self.c = dpl.Client.connect(sock, connect_timeout=TIMEOUT)
        self.on_cleanup(self.end_services)
        self.events = []
        return self.d, self.c

    def end_services(self):
        """Kill daemonproxy, then the process group of every service it
        ran in this test (they outlive a killed daemonproxy)."""
        try:
            self.c.resync(timeout=2)
        except dpl.DaemonProxyError:
            pass
        pids = {ev.pid for ev in self.events if isinstance(ev, ServiceState) and ev.pid}
        pids.update(s.pid for s in self.c.mirror.services.values() if s.pid)
        self.c.close()
        self.d.kill(signal.SIGKILL)
        for pid in pids - {os.getpid(), self.d.pid}:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def expect_log(self, text, timeout=TIMEOUT * 2):
        """Wait for a log line containing text."""
        return self.d.log.expect(lambda line: line is not None and text in line, timeout)

    def until(self, pred, timeout=TIMEOUT * 2):
        """Read events (recording them) until pred(ev); return ev."""
        def rec(ev):
            self.events.append(ev)
            return pred(ev)
        return self.c.wait_for(rec, timeout=timeout)

    def until_state(self, name, state, timeout=TIMEOUT * 2):
        return self.until(lambda ev: isinstance(ev, ServiceState) and ev.name == name
                          and ev.state == state, timeout)

    def states(self, name, state=None):
        return [ev for ev in self.events if isinstance(ev, ServiceState) and ev.name == name
                and (state is None or ev.state == state)]

    def index(self, pred):
        for i, ev in enumerate(self.events):
            if pred(ev):
                return i
        self.fail('no such event')

    def up_index(self, name):
        return self.index(lambda ev: isinstance(ev, ServiceState) and ev.name == name
                          and ev.state == 'up')

    def wait_up(self, name):
        self.c.wait_until(lambda m: m.service(name) is not None and m.service(name).running,
                          timeout=TIMEOUT * 2)
        return self.c.mirror.service(name).pid

    def kill_controller(self):
        pid = self.wait_up('controller')
        os.kill(pid, signal.SIGKILL)
        self.until(lambda ev: isinstance(ev, ServiceState) and ev.name == 'controller'
                   and ev.state == 'up' and ev.pid != pid)


class Start(ControllerTest):
    def test_dependency_order_and_late_readiness(self):
        self.boot('''
[service.db]
run = ["%s", "-c", '%s']
ready = "notify"
[service.cache]
run = ["sh", "-c", "sleep 1; echo >&3; exec sleep 1000"]
ready = "fd"
[service.web]
run = ["sleep", "1000"]
requires = ["db"]
after = ["cache"]
[service.late]
run = ["sleep", "1000"]
after = ["web"]
''' % (sys.executable, NOTIFY_LATE % 1.5))
        self.until_state('late', 'up')
        ready_db = self.index(lambda ev: isinstance(ev, ServiceNotify) and ev.name == 'db'
                              and 'READY=1' in ev.assignments)
        ready_cache = self.index(lambda ev: isinstance(ev, ServiceNotify)
                                 and ev.name == 'cache')
        self.assertLess(ready_db, self.up_index('web'))
        self.assertLess(ready_cache, self.up_index('web'))
        self.assertLess(self.up_index('web'), self.up_index('late'))
        self.expect_log('web: starting')

    def test_requires_given_up_is_not_started(self):
        self.boot('''
[service.bad]
run = ["sh", "-c", "exit 3"]
restart = "never"
ready = "notify"
[service.dep]
run = ["sleep", "1000"]
requires = ["bad"]
''')
        self.until_state('bad', 'down')
        self.expect_log('dep: not started: requires bad, which was given up')
        self.assertEqual(self.c.mirror.service('dep').state.state, 'down')
        self.assertIsNone(self.c.mirror.service('dep').state.pid)


class Restart(ControllerTest):
    def test_backoff_gaps_from_events(self):
        self.boot('''
[service.crash]
run = ["sh", "-c", "exit 1"]
backoff_base = 1
backoff_max = 4
''')
        for _ in range(5):
            self.until_state('crash', 'up')
        downs = self.states('crash', 'down')
        ups = self.states('crash', 'up')
        expected = [1, 2, 4, 4]
        for i, want in enumerate(expected):
            gap = ups[i + 1].ts - downs[i].ts
            self.assertGreaterEqual(gap, want, (i, ups, downs))
            self.assertLessEqual(gap, want + 2, (i, ups, downs))
        self.expect_log('crash: exited (exit 1) after 0s; failure 3; next start in 4s')
        tags = self.c.mirror.service('crash').tags
        self.assertIn('dpc', tags)

    def test_policies(self):
        self.boot('''
[service.never]
run = ["sh", "-c", "exit 2"]
restart = "never"
[service.onfail_ok]
run = ["true"]
restart = "on-failure"
[service.onfail_bad]
run = ["sh", "-c", "exit 5"]
restart = "on-failure"
''')
        self.until_state('onfail_bad', 'up')
        self.until_state('onfail_bad', 'up')     # restarted after a failure
        self.expect_log('never: exited (exit 2) after')
        self.expect_log('restart=never: giving up')
        self.expect_log('onfail_ok: exited (exit 0) after 0s; restart=on-failure: finished')
        self.assertEqual(len(self.states('never', 'up')), 1)
        self.assertEqual(len(self.states('onfail_ok', 'up')), 1)


class Logger(ControllerTest):
    def test_lines_reach_logger_across_restarts(self):
        out = self.path('log.txt')
        self.boot('''
[service.talk]
run = ["sh", "-c", "echo line-$$; exec sleep 1000"]
log = ["sh", "-c", "exec cat >> %s"]
''' % out)
        p1 = self.wait_up('talk')
        self.wait_up('talk.log')
        self.assertTrue(self.wait_file_has(out, 'line-%d' % p1))
        lp = self.c.mirror.service('talk.log').pid
        os.kill(lp, signal.SIGKILL)                  # the logger restarts
        self.until(lambda ev: isinstance(ev, ServiceState) and ev.name == 'talk.log'
                   and ev.state == 'up' and ev.pid != lp)
        os.kill(p1, signal.SIGKILL)                  # and the service
        ev = self.until(lambda ev: isinstance(ev, ServiceState) and ev.name == 'talk'
                        and ev.state == 'up' and ev.pid != p1)
        self.assertTrue(self.wait_file_has(out, 'line-%d' % ev.pid))

    def wait_file_has(self, path, text):
        from dp import wait_for
        def has():
            try:
                with open(path) as f:
                    return text in f.read()
            except OSError:
                return False
        wait_for(has, msg='%r in %s' % (text, path))
        return True


class Reload(ControllerTest):
    BASE = '''
[service.keep]
run = ["sleep", "1000"]
[service.gone]
run = ["sleep", "1001"]
[service.change]
run = ["sleep", "1002"]
'''

    def test_reload_added_removed_changed(self):
        self.boot(self.BASE)
        keep = self.wait_up('keep')
        self.wait_up('gone')
        change = self.wait_up('change')
        self.write_file('services.toml', '''
[service.keep]
run = ["sleep", "1000"]
[service.change]
run = ["sleep", "1003"]
[service.new]
run = ["sleep", "1004"]
''')
        self.events.clear()
        os.kill(self.d.pid, signal.SIGHUP)
        self.until(lambda ev: self.states('gone', 'deleted') and self.states('new', 'up')
                   and [e for e in self.states('change', 'up') if e.pid != change])
        ev = self.states('change', 'up')[-1]
        self.assertEqual(self.c.mirror.service('change').args[-1], '1003')
        self.assertEqual(self.c.mirror.service('keep').pid, keep)
        self.assertNotEqual(ev.pid, change)
        self.assertEqual(self.states('keep', 'down'), [])
        self.assertEqual({ev.pid for ev in self.states('keep', 'up')}, {keep})

    def test_reload_removes_service_with_its_logger_and_pipe(self):
        self.boot(self.BASE + '[service.talk]\nrun = ["sleep", "1005"]\n'
                  'log = ["sh", "-c", "exec cat >/dev/null"]\n')
        keep = self.wait_up('keep')
        self.wait_up('talk')
        self.wait_up('talk.log')
        self.c.echo('sync')
        pipe = sorted(h for h in self.c.mirror.handles if h.startswith('talk.log.'))
        self.assertEqual(len(pipe), 2, self.c.mirror.handles)
        self.write_file('services.toml', self.BASE)
        self.events.clear()
        os.kill(self.d.pid, signal.SIGHUP)
        self.until(lambda ev: self.states('talk', 'deleted') and self.states('talk.log', 'deleted'))
        self.c.wait_until(lambda m: not any(h in m.handles for h in pipe), timeout=TIMEOUT * 2)
        self.c.echo('sync')
        dump = self.c.request('statedump')
        self.assertFalse([l for l in dump if '\ttalk' in l], dump)
        self.assertEqual(self.c.mirror.service('keep').pid, keep)

    def test_bad_file_on_reload_changes_nothing(self):
        self.boot(self.BASE)
        pids = {n: self.wait_up(n) for n in ('keep', 'gone', 'change')}
        self.write_file('services.toml', self.BASE + '[service.x]\nrun = 3\n')
        os.kill(self.d.pid, signal.SIGHUP)
        self.expect_log('bad file, keeping the running configuration')
        self.expect_log('service.x.run: must be a list of strings')
        self.c.echo('sync')
        self.assertEqual({n: self.c.mirror.service(n).pid for n in pids}, pids)
        self.assertIsNone(self.c.mirror.service('x'))


class CrashSafety(ControllerTest):
    def test_killed_mid_start_keeps_healthy_and_backoff(self):
        self.boot('''
[service.healthy]
run = ["sleep", "1000"]
[service.crash]
run = ["sh", "-c", "exit 1"]
backoff_base = 8
backoff_max = 8
''')
        healthy = self.wait_up('healthy')
        pending = self.until(lambda ev: isinstance(ev, ServiceState) and ev.name == 'crash'
                             and ev.state == 'start' and ev.ts is not None
                             and len(self.states('crash', 'down')) >= 1)
        self.kill_controller()
        self.expect_log('crash: pending start at %d kept' % pending.ts)
        self.c.echo('sync')
        self.assertEqual(self.c.mirror.service('healthy').pid, healthy)
        self.assertEqual(self.c.mirror.service('crash').state.ts, pending.ts)
        self.assertEqual(self.states('healthy', 'down'), [])

    def test_killed_mid_shutdown_finishes_it(self):
        self.boot('''
[service.stubborn]
run = ["sh", "-c", "trap '' TERM; echo >&3; exec sleep 1000"]
ready = "fd"
stop_timeout = 3
[service.front]
run = ["sleep", "1000"]
requires = ["stubborn"]
''')
        self.wait_up('front')
        os.kill(self.d.pid, signal.SIGTERM)
        self.expect_log('stubborn: stopping (shutdown)')
        self.kill_controller()
        self.expect_log('continuing the shutdown in progress')
        self.assertEqual(self.d.wait(TIMEOUT * 2), 0)


class Shutdown(ControllerTest):
    def test_ordered_shutdown_then_terminate(self):
        self.boot('''
[controller]
exit_code = 7
[service.db]
run = ["sleep", "1000"]
[service.app]
run = ["sleep", "1000"]
requires = ["db"]
[service.proxy]
run = ["sleep", "1000"]
after = ["app"]
''')
        self.wait_up('proxy')
        self.c.wait_until(lambda m: m.service('app').running)
        os.kill(self.d.pid, signal.SIGTERM)
        order = []
        try:
            while len(order) < 3:
                ev = self.until(lambda ev: isinstance(ev, ServiceState) and ev.state == 'down')
                order.append(ev.name)
        except dpl.ConnectionClosed:
            pass
        self.assertEqual(order, ['proxy', 'app', 'db'])
        self.assertEqual(self.d.wait(TIMEOUT), 7)

    def test_shutdown_order_of_the_guide(self):
        """docs/guide.md's services: db, and web that requires db and has a
        logger (web.log, which web waits for).  On SIGTERM web stops first;
        once it is down, db and web.log stop together (both asked before
        either is down)."""
        self.boot('''
[service.db]
run = ["sleep", "1000"]
[service.web]
run = ["sleep", "1000"]
requires = ["db"]
log = ["cat"]
''')
        self.wait_up('web')
        self.c.wait_until(lambda m: m.service('web.log').running and m.service('db').running)
        os.kill(self.d.pid, signal.SIGTERM)
        end = self.expect_log('everything stopped: terminate 0')
        steps = [m.groups() for m in (re.search(r' (\S+): (stopping|stopped)\b', l)
                                      for l in self.d.log.snapshot()[:end]) if m]
        self.assertEqual(steps[:2], [('web', 'stopping'), ('web', 'stopped')], steps)
        self.assertEqual(sorted(steps[2:4]), [('db', 'stopping'), ('web.log', 'stopping')], steps)
        self.assertEqual(sorted(steps[4:]), [('db', 'stopped'), ('web.log', 'stopped')], steps)
        self.assertEqual(self.d.wait(TIMEOUT), 0)

    def test_container_mode_main_exit_code(self):
        self.boot('''
[controller]
main = "job"
[service.job]
run = ["sh", "-c", "sleep 1; exit 42"]
restart = "never"
requires = ["side"]
[service.side]
run = ["sleep", "1000"]
''')
        self.assertEqual(self.d.wait(TIMEOUT * 2), 42)
        self.expect_log('terminate 42')

    def test_bad_file_refuses_to_start(self):
        self.boot('[service.a]\nrun = ["true"]\nrequires = ["nope"]\n')
        self.expect_log("services.toml: service.a.requires: no service named 'nope'")
        self.expect_log('refusing to start with a bad file')


# the main service: a child (exec'd for sure: Popen waits for the exec),
# exit 3 on SIGTERM, ready once all that is in place
APP = ('import os, signal, subprocess, time; child = subprocess.Popen([\\"sleep\\", \\"1000\\"]); '
       'signal.signal(signal.SIGTERM, lambda *a: os._exit(3)); os.write(3, b\\"\\\\n\\"); '
       'time.sleep(1000)')


def can_unshare():
    try:
        return subprocess.run(['unshare', '--pid', '--fork', '--mount-proc', 'true'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def child_pids(pid):
    out = []
    try:
        for t in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, t)) as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


@unittest.skipUnless(HAVE_311, 'the controller needs Python 3.11 (tomllib)')
class Pid1(ControllerTest):
    @unittest.skipUnless(can_unshare(), 'unshare --pid --fork --mount-proc is not permitted here')
    def test_pid1_in_namespace_sigterm_stops_all_in_order(self):
        """daemonproxy as PID 1 of a PID namespace, the controller in
        container mode: SIGTERM from outside stops app before db, the main
        service's exit code comes out, and no process is left behind (the
        exit-exec program, still PID 1, lists /proc)."""
        toml = self.write_file('services.toml', '''
[controller]
main = "app"
[service.db]
run = ["sleep", "1000"]
[service.app]
run = ["%s", "-c", "%s"]
ready = "fd"
requires = ["db"]
restart = "never"
stop_timeout = 5
''' % (sys.executable, APP))
        left = self.path('left.txt')
        sock = self.path('dp.sock')
        conf = self.write_file('ctl.conf', conf_for(sock, toml))
        # the exit-exec program, PID 1 after daemonproxy: reaps the
        # controller (which exits when its connection closes), then lists
        # what is left in the namespace
        finish = '\t'.join([sys.executable, self.write_file('finish.py', PID1_FINISH), left])
        env = dict(os.environ, PYTHONPATH=PYDIR)
        self.d = self.start('-E', finish, '-c', conf, interactive=False,
                            stdin=subprocess.DEVNULL, env=env,
                            prefix=['unshare', '--pid', '--fork', '--mount-proc'])
        self.c = dpl.Client.connect(sock, connect_timeout=TIMEOUT)
        self.on_cleanup(self.end_services)
        self.events = []
        self.c.wait_until(lambda m: m.service('app') is not None and m.service('app').ready,
                          timeout=TIMEOUT * 2)
        self.assertEqual(self.c.mirror.service('controller').state.state, 'up')
        from dp import wait_for
        wait_for(lambda: child_pids(self.d.pid), msg='the namespace init')
        os.kill(child_pids(self.d.pid)[0], signal.SIGTERM)
        downs = []
        try:
            while True:
                ev = self.until(lambda ev: isinstance(ev, ServiceState) and ev.state == 'down')
                downs.append(ev)
        except dpl.ConnectionClosed:
            pass
        self.assertEqual([ev.name for ev in downs if ev.name != 'controller'], ['app', 'db'])
        self.assertEqual(self.d.wait(TIMEOUT * 2), 3, self.d.log.text())
        with open(left) as f:
            self.assertEqual(f.read().split(), ['1:python3)'], self.d.log.text())
        self.expect_log('main service exited (exit 3): exit code 3')


@unittest.skipUnless(HAVE_311, 'the controller needs Python 3.11 (tomllib)')
class Cgroup(ControllerTest):
    def setUp(self):
        super().setUp()
        from test_containment import cgroup2_mount, remove_cgroup_tree
        found = cgroup2_mount()
        if not found or not os.access(found[0], os.W_OK):
            self.skipTest('no writable cgroup v2 mount (needs root)')
        cg = os.path.join(found[0], 'dpt-ctl-%d-%s' % (os.getpid(), os.path.basename(self.tmp)))
        try:
            os.mkdir(cg)
        except OSError as e:
            self.skipTest('cannot create a cgroup: %s' % e)
        self.cg = cg
        self.addCleanup(remove_cgroup_tree, cg)     # runs after the daemon is gone
        if not os.path.exists(os.path.join(cg, 'cgroup.kill')):
            self.skipTest('no cgroup.kill (Linux < 5.14)')

    def test_stop_timeout_kills_the_whole_cgroup(self):
        """A service (and its child) ignoring SIGTERM: after stop_timeout
        the controller SIGKILLs its cgroup, waits for it to be empty, and
        the shutdown ends with terminate."""
        self.boot('''
[service.deaf]
run = ["sh", "-c", "trap '' TERM; sleep 1000 & echo >&3; exec sleep 1001"]
ready = "fd"
stop_timeout = 1
''', '--cgroup', self.cg)
        self.c.wait_until(lambda m: m.service('deaf') is not None and m.service('deaf').ready
                          and m.service('deaf').cgroup == 'populated', timeout=TIMEOUT * 2)
        os.kill(self.d.pid, signal.SIGTERM)
        self.expect_log('deaf: stopping (shutdown): SIGTERM to the cgroup, SIGKILL after 1s')
        self.expect_log('deaf: still running after its stop timeout: SIGKILL (cgroup)')
        self.assertEqual(self.d.wait(TIMEOUT * 2), 0)
        with open(os.path.join(self.cg, 'deaf.service', 'cgroup.procs')) as f:
            self.assertEqual(f.read(), '')
