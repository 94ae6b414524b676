"""dpcontroller's day-2 operations against the real daemon (issue 20):
--check finds what cannot run; a bad file at start is reported once and
the controller waits for a reload, leaving what runs alone and still
ending everything on SIGTERM; container mode ends with the main service's
exit code under the default restart rule.

Windows are measured by events, never by sleeps: "only one error line"
is counted when a marker service, started with the controller, has said
its line three seconds later (a controller that exits on a bad file is
restarted every second by its auto-up rule, and says it again each time)."""

import os
import signal
import subprocess
import sys
import unittest

from dp import TIMEOUT, proc_alive, wait_for
from test_controller import HAVE_311, PYDIR, ControllerTest, conf_for

import daemonproxy as dpl                                      # noqa: E402

MARKER = 'ctlops-marker: 3 s after the start'
# a service of daemonproxy's own config (not the controller's): says
# MARKER 3 s after the start, then exits
MARKER_CONF = ('service.args\tmarker\tsh\t-c\tsleep 3; echo "%s" >&2\n'
               'service.fds\tmarker\tnull\tstderr\tstderr\n'
               'service.start\tmarker\n' % MARKER)
BAD_RUN = 'service.a.run: must be a list of strings'


@unittest.skipUnless(HAVE_311, 'the controller needs Python 3.11 (tomllib)')
class Ops(ControllerTest):
    def boot_with_marker(self, toml):
        self.toml = self.write_file('services.toml', toml)
        sock = self.path('dp.sock')
        conf = self.write_file('ctl.conf', conf_for(sock, self.toml) + MARKER_CONF)
        env = dict(os.environ, PYTHONPATH=PYDIR)
        self.d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL, env=env)
        self.c = dpl.Client.connect(sock, connect_timeout=TIMEOUT)
        self.on_cleanup(self.end_services)
        self.events = []

    def count(self, text):
        return sum(1 for line in self.d.log.snapshot() if line and text in line)

    def sigterm_ends_all(self, pids, code=0):
        """SIGTERM to daemonproxy: it exits with code, and none of pids
        (its services, the controller) is left."""
        os.kill(self.d.pid, signal.SIGTERM)
        self.assertEqual(self.d.wait(TIMEOUT * 3), code)
        for pid in pids:
            wait_for(lambda: not proc_alive(pid), timeout=TIMEOUT * 2,
                     msg='pid %d gone' % pid)

    def test_check_reports_what_cannot_run_all_at_once(self):
        path = self.write_file('services.toml', '''
[service.api]
run = ["nosuch-program-ctlops"]
[service.web]
run = ["sleep", "1000"]
cwd = "%s"
[service.talk]
run = ["sleep", "1000"]
log = ["nosuch-logger-ctlops", "/var/log/talk"]
[service.fine]
run = ["sleep", "1000"]
''' % self.path('no-such-dir'))
        env = dict(os.environ, PYTHONPATH=PYDIR, PATH='/usr/bin:/bin')
        r = subprocess.run([sys.executable, '-m', 'daemonproxy.controller', '--check', path],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=TIMEOUT * 4)
        self.assertEqual((r.returncode, r.stdout), (1, ''), r.stderr)
        got = [line.split(' ', 1)[1] for line in r.stderr.splitlines()]
        self.assertEqual(got, [
            "dpcontroller: %s: service.api.run: 'nosuch-program-ctlops': not found in "
            "PATH=/usr/bin:/bin" % path,
            "dpcontroller: %s: service.web.cwd: %r: no such directory"
            % (path, self.path('no-such-dir')),
            "dpcontroller: %s: service.talk.log: 'nosuch-logger-ctlops': not found in "
            "PATH=/usr/bin:/bin" % path])

    def test_bad_file_at_start_said_once_then_reload_runs_it(self):
        self.boot_with_marker('[service.a]\nrun = 3\n')
        self.expect_log(MARKER)
        self.assertEqual(self.count(BAD_RUN), 1, self.d.log.text())
        self.assertEqual(self.count('refusing to start with a bad file'), 1)
        self.c.echo('sync')
        ctl = self.c.mirror.service('controller')
        self.assertEqual(ctl.state.state, 'up')
        # fixed, then SIGHUP (dpctl reload goes the same way: test_reload_*)
        self.write_file('services.toml', '[service.a]\nrun = ["sleep", "1000"]\n')
        os.kill(self.d.pid, signal.SIGHUP)
        a = self.wait_up('a')
        self.expect_log('loaded %s (1 services)' % self.toml)
        self.assertEqual(self.c.mirror.service('controller').pid, ctl.pid)
        self.sigterm_ends_all([a, ctl.pid])

    def test_bad_file_after_a_crash_leaves_services_alone_and_sigterm_ends_all(self):
        self.boot('[service.a]\nrun = ["sleep", "1000"]\n'
                  '[service.b]\nrun = ["sleep", "1001"]\nrequires = ["a"]\n')
        pids = [self.wait_up('a'), self.wait_up('b')]
        self.write_file('services.toml', '[service.a]\nrun = 3\n')
        self.kill_controller()
        ctl = self.wait_up('controller')
        self.expect_log('refusing to start with a bad file')
        self.c.echo('sync')
        self.assertEqual([self.c.mirror.service(n).pid for n in 'ab'], pids)
        self.assertEqual(self.count(BAD_RUN), 1)
        self.sigterm_ends_all(pids + [ctl])
        self.assertEqual(self.count(BAD_RUN), 1)

    def test_container_main_exit_code_with_the_default_restart_rule(self):
        self.boot('''
[controller]
main = "app"
[service.db]
run = ["sleep", "1000"]
[service.app]
run = ["sh", "-c", "sleep 1; exit 7"]
requires = ["db"]
''')
        db = self.wait_up('db')
        ctl = self.wait_up('controller')
        self.assertEqual(self.d.wait(TIMEOUT * 3), 7)
        self.expect_log('terminate 7')
        for pid in (db, ctl):
            wait_for(lambda: not proc_alive(pid), timeout=TIMEOUT * 2,
                     msg='pid %d gone' % pid)
        self.assertEqual(self.count('app: starting'), 1, 'main ran once')

    def ask(self, raw, verb, *args):
        """ctl.request on the raw connection; returns the replies' (STATUS,
        TEXT) pairs up to the final one."""
        answer = []

        def served():
            raw.send('\t'.join(('ctl.request', verb) + args))
            answer[:] = [raw.expect(lambda l: l.startswith(('ctl.request\t', 'error\t')))]
            return answer[0].startswith('ctl.request\t')
        wait_for(served, timeout=TIMEOUT * 2, msg='a controller serves %s' % verb)
        rid = answer[0].split('\t')[1]
        out = []
        while not out or out[-1][0] == 'info':
            f = raw.expect(lambda l: l.startswith('ctl.reply\t%s\t' % rid),
                           TIMEOUT * 2).split('\t')
            out.append((f[2], '\t'.join(f[3:])))
        return out

    def test_shutdown_request_while_waiting_for_a_valid_file(self):
        self.boot('[service.a]\nrun = 3\n')
        ctl = self.wait_up('controller')
        raw = self.connect(self.path('dp.sock'))
        self.assertEqual(self.ask(raw, 'shutdown', '3'), [('ok', 'shutting down')])
        self.assertEqual(self.d.wait(TIMEOUT * 3), 3)
        wait_for(lambda: not proc_alive(ctl), timeout=TIMEOUT * 2, msg='the controller gone')
        self.assertEqual(self.count(BAD_RUN), 1)

    def test_reload_and_shutdown_requests(self):
        self.boot('[service.keep]\nrun = ["sleep", "1000"]\n'
                  '[service.change]\nrun = ["sleep", "1001"]\n')
        keep, change = self.wait_up('keep'), self.wait_up('change')
        ctl = self.wait_up('controller')
        raw = self.connect(self.path('dp.sock'))
        self.write_file('services.toml', '[service.keep]\nrun = ["sleep", "1000"]\n'
                        '[service.change\n')
        (status, text), = self.ask(raw, 'reload')
        self.assertEqual(status, 'error')
        self.assertIn('%s: not valid TOML' % self.toml, text)
        self.assertIn('line 3', text)
        self.write_file('services.toml', '[service.keep]\nrun = ["sleep", "1000"]\n'
                        '[service.change]\nrun = ["sleep", "1002"]\n'
                        '[service.new]\nrun = ["sleep", "1003"]\n')
        self.assertEqual(self.ask(raw, 'reload'),
                         [('ok', 'reloaded %s: 1 changed, 1 added, 0 removed' % self.toml)])
        new = self.wait_up('new')
        self.c.wait_until(lambda m: m.service('change').pid not in (None, change),
                          timeout=TIMEOUT * 2)
        changed = self.c.mirror.service('change').pid
        self.assertEqual(self.c.mirror.service('keep').pid, keep)
        self.expect_log('uid=%d asked: reload' % os.getuid())
        self.assertEqual(self.ask(raw, 'shutdown', '5'), [('ok', 'shutting down')])
        self.assertEqual(self.d.wait(TIMEOUT * 3), 5)
        self.expect_log('uid=%d asked: shutdown 5' % os.getuid())
        for pid in (keep, changed, new, ctl):
            wait_for(lambda: not proc_alive(pid), timeout=TIMEOUT * 2,
                     msg='pid %d gone' % pid)


if __name__ == '__main__':
    unittest.main()
