"""dpcontroller's keys of issue 22 against the real daemon and dpctl:

- ``env_file``: a real child's /proc/PID/environ has the file's
  variables (``env`` winning); a missing file fails the start as a
  failure, up to ``start_limit`` (``service.want NAME failed``), and what
  requires it is not started;
- ``start_timeout``: a ``ready = "notify"`` service that never says
  READY=1 is stopped and restarted, each time a failure, until its start
  limit marks it failed with the reason;
- ``autostart = false``: defined, down (not failed) in ``dpctl status``,
  what requires it waits; ``dpctl start`` starts it and its dependent.

Each waits for events (service.state, service.want) with deadlines."""

import os
import subprocess

import dp
from test_controller import ControllerTest                 # puts python/ on the path
from daemonproxy import ServiceState, ServiceWant         # noqa: E402

DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(dp.binary()), 'dpctl')


def environ_of(pid):
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
        env = environ_of(self.wait_up('web'))
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
        self.assertEqual(sum(1 for line in self.d.log.snapshot() if line and
                             'slow: not ready within start_timeout 1s: a failure; stopping it'
                             in line), 2)

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
