"""dpcontroller's keys of issue 22 against the real daemon and dpctl:

- ``env_file``: a real child's /proc/PID/environ has the file's
  variables (``env`` winning); a missing file fails the start as a
  failure, up to ``start_limit`` (``service.want NAME failed``), and what
  requires it is not started;
- ``start_timeout``: a ``ready = "notify"`` service that never says
  READY=1 is stopped and restarted, each time a failure, until its start
  limit marks it failed with the reason;
- ``autostart = false``: defined, down (not failed) in ``dpctl status``,
  what requires it waits; ``dpctl start`` starts it and its dependent;
- ``type = "oneshot"``: a chain at boot (each requirer up only after its
  oneshot exited 0), a failing one marked failed with its reason and what
  requires it never started, and ``dpctl start`` runs it again.

Each waits for events (service.state, service.want) with deadlines."""

import os
import subprocess

import dp
from test_controller import ControllerTest                 # puts python/ on the path
from daemonproxy import ServiceState, ServiceWant         # noqa: E402

DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(dp.binary()), 'dpctl')


def environ_of(pid, prog):
    """pid's environment once it runs prog (up is reported at the fork:
    before the exec, the child's environment is still daemonproxy's)."""
    def execed():
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')[0] == prog
    dp.wait_for(execed, msg='pid %d runs %r' % (pid, prog))
    with open('/proc/%d/environ' % pid, 'rb') as f:
        return dict(kv.split(b'=', 1) for kv in f.read().split(b'\0') if kv)


class Keys(ControllerTest):
    def failed_want(self, name):
        return self.until(lambda ev: isinstance(ev, ServiceWant) and ev.name == name
                          and ev.want == 'failed', timeout=dp.TIMEOUT * 4)

    def test_env_file_at_start_and_a_missing_one_fails(self):
        envf = self.write_file('web.env', '# web\nA=from-file\nB="quoted value"\n'
                               "C='$literal'\nPORT=1\n")
        self.boot('''
[service.web]
run = ["sleep", "1000"]
env_file = ["%s", "-%s"]
env = { PORT = "8080" }
[service.broken]
run = ["sleep", "1001"]
env_file = "%s"
start_limit = "2/1h"
backoff_base = 1
[service.dep]
run = ["sleep", "1002"]
requires = ["broken"]
''' % (envf, self.path('none.env'), self.path('missing.env')))
        env = environ_of(self.wait_up('web'), b'sleep')
        self.assertEqual((env[b'A'], env[b'B'], env[b'C'], env[b'PORT']),
                         (b'from-file', b'quoted value', b'$literal', b'8080'))
        ev = self.failed_want('broken')
        self.assertIn('%s: No such file or directory' % self.path('missing.env'), ev.why)
        self.expect_log('broken: start failed (env_file %s: No such file or directory); '
                        'failure 1; next try in 1s' % self.path('missing.env'))
        self.expect_log('dep: not started: requires broken, which was given up')
        self.c.echo('sync')
        self.assertEqual([e for e in self.events if isinstance(e, ServiceState)
                          and e.name in ('broken', 'dep') and e.state == 'up'], [])

    def test_start_timeout_is_a_failure_up_to_the_limit(self):
        self.boot('''
[service.slow]
run = ["sleep", "1000"]
ready = "notify"
start_timeout = 1
start_limit = "2/1h"
backoff_base = 1
restart = "on-failure"
''')
        ev = self.failed_want('slow')
        self.assertIn('2 failures within 3600s (start_limit 2/3600s); the last: not ready '
                      'within start_timeout 1s', ev.why)
        ups = [e for e in self.events if isinstance(e, ServiceState) and e.name == 'slow'
               and e.state == 'up']
        downs = [e for e in self.events if isinstance(e, ServiceState) and e.name == 'slow'
                 and e.state == 'down' and e.pid is not None]
        self.assertEqual(len(ups), 2)
        self.assertEqual([(d.reason, d.value) for d in downs], [('signal', 'SIGTERM')] * 2,
                         'stopped by its stop procedure')
        # the controller's log reaches daemonproxy's stderr by another path
        # than the want event: wait for its lines, then count them
        def logged():
            return sum(1 for line in self.d.log.snapshot() if line and
                       'slow: not ready within start_timeout 1s: a failure; stopping it'
                       in line)
        dp.wait_for(lambda: logged() >= 2, msg='two start_timeout lines')
        self.c.echo('sync')
        self.assertEqual(logged(), 2)

    def test_autostart_false_waits_for_dpctl_start(self):
        self.boot('''
[service.tool]
run = ["sleep", "1000"]
autostart = false
[service.dep]
run = ["sleep", "1001"]
requires = ["tool"]
[service.other]
run = ["sleep", "1002"]
''')
        self.wait_up('other')
        self.expect_log('tool: defined, not started: autostart = false (dpctl start tool '
                        'starts it)')
        self.c.echo('sync')
        tool = self.c.mirror.service('tool')
        self.assertEqual((tool.state.state, tool.pid, tool.want), ('down', None, None))
        self.assertEqual(self.c.mirror.service('dep').state.state, 'down')
        st = subprocess.run([DPCTL, '-S', self.path('dp.sock'), 'status', 'tool'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=dp.TIMEOUT * 2)
        self.assertIn('down', st.stdout)
        self.assertNotIn('failed', st.stdout + st.stderr)
        r = subprocess.run([DPCTL, '-S', self.path('dp.sock'), 'start', 'tool'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=dp.TIMEOUT * 2)
        self.assertEqual(r.returncode, 0, r)
        tool_pid, dep_pid = self.wait_up('tool'), self.wait_up('dep')
        self.assertIsNotNone(dep_pid)
        # from then on the restart policy applies
        os.kill(tool_pid, 9)
        self.until(lambda ev: isinstance(ev, ServiceState) and ev.name == 'tool'
                   and ev.state == 'up' and ev.pid != tool_pid, timeout=dp.TIMEOUT * 4)
        self.expect_log('tool: exited (signal SIGKILL)')

    def test_oneshot_chain_at_boot(self):
        mark = self.path('setup.count')
        self.boot('''
[service.setup]
type = "oneshot"
run = ["sh", "-c", "echo x >> %s; sleep 1"]
[service.migrate]
type = "oneshot"
run = ["true"]
requires = ["setup"]
[service.web]
run = ["sleep", "1000"]
requires = ["migrate"]
[service.bad]
type = "oneshot"
run = ["sh", "-c", "exit 3"]
[service.blocked]
run = ["sleep", "1001"]
requires = ["bad"]
''' % mark)
        ev = self.failed_want('bad')
        self.assertEqual(ev.why, 'oneshot exited (exit 3); restart=never')
        self.until_state('web', 'up')
        order = [(e.name, e.state) for e in self.events if isinstance(e, ServiceState)
                 and e.name in ('setup', 'migrate', 'web') and e.state in ('up', 'down')
                 and e.pid is not None]
        self.assertEqual(order, [('setup', 'up'), ('setup', 'down'), ('migrate', 'up'),
                                 ('migrate', 'down'), ('web', 'up')])
        self.expect_log('blocked: not started: requires bad, which was given up')
        r = subprocess.run([DPCTL, '-S', self.path('dp.sock'), 'status', 'bad'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=dp.TIMEOUT * 2)
        self.assertIn('failed', r.stdout)
        # dpctl start runs it again; exit 0 is no restart
        r = subprocess.run([DPCTL, '-S', self.path('dp.sock'), 'start', 'setup'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=dp.TIMEOUT * 2)
        self.assertEqual(r.returncode, 0, r)
        n = len(self.events)
        self.until(lambda e: isinstance(e, ServiceState) and e.name == 'setup'
                   and e.state == 'down' and e.pid is not None, timeout=dp.TIMEOUT * 4)
        self.expect_log('setup: exited (exit 0)')
        with open(mark) as f:
            self.assertEqual(f.read(), 'x\nx\n')
        self.c.echo('sync')
        self.assertEqual(self.c.mirror.service('setup').state.state, 'down',
                         'not restarted after exit 0')
        self.assertEqual(len([e for e in self.events[n:] if isinstance(e, ServiceState)
                              and e.name == 'setup' and e.state == 'up']), 1)
