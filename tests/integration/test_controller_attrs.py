"""dpcontroller's execution attributes against the real daemon and dpctl:

- ``user``/``group``/``groups``/``umask``/``nice``/``limits``/
  ``no_new_privs``/``capabilities``/``cwd`` of a service are those of its
  real child (/proc/PID/status, limits, stat, cwd), its argv is its
  ``run`` alone (no chain-loader), and its logger runs as daemonproxy;
- an unknown user: ``--check`` refuses the file naming the key; the
  running controller warns, daemonproxy refuses the service.opts, and
  that service is marked failed with daemonproxy's reason (``dpctl
  status``) while the others run;
- a limit daemonproxy cannot set (nofile above /proc/sys/fs/nr_open): the
  service fails at each start, and the daemon's ``setrlimit`` error line
  is in the controller's log, until its start limit marks it failed.

Binding port 80 with ``capabilities`` is test_execattr's (Port80, in a
private network namespace): here the capability is read from the
child's ambient set.  Each waits for events with deadlines."""

import grp
import os
import pwd
import resource
import shutil
import subprocess
import sys
import tempfile

import dp
from test_controller import PYDIR, ControllerTest          # puts python/ on the path
from daemonproxy import ServiceWant                       # noqa: E402

DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(dp.binary()), 'dpctl')
NOBODY, NOGROUP = 'nobody', 'nogroup'


def execed(pid, prog):
    """Wait until pid runs prog (up is reported at the fork, before the
    attributes are set and the exec)."""
    def runs():
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')[0] == prog
    dp.wait_for(runs, msg='pid %d runs %r' % (pid, prog))


def proc_status(pid):
    with open('/proc/%d/status' % pid) as f:
        return dict((k, v.strip()) for k, _, v in (line.partition(':') for line in f))


def proc_limits(pid):
    """'Max open files' -> ('4096', '8192')."""
    out = {}
    with open('/proc/%d/limits' % pid) as f:
        for line in f.readlines()[1:]:
            out[line[:26].strip()] = tuple(line[26:].split()[:2])
    return out


class Attrs(ControllerTest):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest('needs root (a service of another user)')
        try:
            self.uid = pwd.getpwnam(NOBODY).pw_uid
            self.gid = grp.getgrnam(NOGROUP).gr_gid
        except KeyError:
            self.skipTest('needs the nobody user and the nogroup group (Debian)')

    def dpctl(self, *args):
        return subprocess.run([DPCTL, '-S', self.path('dp.sock')] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=dp.TIMEOUT * 2)

    def failed_want(self, name):
        return self.until(lambda ev: isinstance(ev, ServiceWant) and ev.name == name
                          and ev.want == 'failed', timeout=dp.TIMEOUT * 4)

    def test_the_child_has_them(self):
        home = tempfile.mkdtemp(prefix='dpcattr')
        self.addCleanup(shutil.rmtree, home, ignore_errors=True)
        os.chmod(home, 0o755)
        # within the hard limits we have (raising one needs CAP_SYS_RESOURCE,
        # which a container may lack)
        hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.boot('''
[service.web]
run = ["sleep", "1000"]
user = "%s"
group = "%s"
groups = ["%s", "0"]
umask = "0027"
nice = 7
limits = { nofile = "100:%d", core = 0, nproc = 50 }
no_new_privs = true
capabilities = ["cap_net_bind_service"]
cwd = "%s"
log = ["cat"]
[service.plain]
run = ["sleep", "1001"]
umask = 0o002
''' % (NOBODY, NOGROUP, NOGROUP, hard_nofile, home))
        pid = self.wait_up('web')
        execed(pid, b'sleep')
        st = proc_status(pid)
        self.assertEqual(st['Uid'].split(), [str(self.uid)] * 4)
        self.assertEqual(st['Gid'].split(), [str(self.gid)] * 4)
        self.assertEqual(sorted(st['Groups'].split()), sorted(['0', str(self.gid)]))
        self.assertEqual(st['Umask'], '0027')
        self.assertEqual(st['NoNewPrivs'], '1')
        for k in ('CapAmb', 'CapPrm', 'CapEff'):
            self.assertEqual(int(st[k], 16), 1 << 10, k)       # cap_net_bind_service
        with open('/proc/%d/stat' % pid) as f:
            self.assertEqual(f.read().rsplit(')', 1)[1].split()[16], '7', 'nice')
        lim = proc_limits(pid)
        self.assertEqual(lim['Max open files'], ('100', str(hard_nofile)))
        self.assertEqual(lim['Max core file size'], ('0', '0'))
        self.assertEqual(lim['Max processes'], ('50', '50'))
        self.assertEqual(os.readlink('/proc/%d/cwd' % pid), home)
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            self.assertEqual(f.read(), b'sleep\x001000\x00', 'no chain-loader')
        # its logger runs as daemonproxy does
        lpid = self.wait_up('web.log')
        execed(lpid, b'cat')
        lst = proc_status(lpid)
        self.assertEqual((lst['Uid'].split()[0], lst['Umask'], lst['NoNewPrivs']),
                         ('0', proc_status(self.d.pid)['Umask'], '0'))
        ppid = self.wait_up('plain')
        execed(ppid, b'sleep')
        self.assertEqual((proc_status(ppid)['Umask'], proc_status(ppid)['Uid'].split()[0]),
                         ('0002', '0'))
        opts = self.c.mirror.service('web').opts
        self.assertIn('user=%s' % NOBODY, opts)
        # a changed user is a changed definition: reload restarts it as that user
        with open(self.toml) as f:
            text = f.read()
        with open(self.toml, 'w') as f:
            f.write(text.replace('user = "%s"' % NOBODY, 'user = %d' % self.uid, 1)
                    .replace('nice = 7', 'nice = 3'))
        r = self.dpctl('reload')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('1 changed', r.stdout + r.stderr)
        self.c.wait_until(lambda m: m.service('web').running and m.service('web').pid != pid,
                          timeout=dp.TIMEOUT * 4)
        pid2 = self.c.mirror.service('web').pid
        execed(pid2, b'sleep')
        with open('/proc/%d/stat' % pid2) as f:
            self.assertEqual(f.read().rsplit(')', 1)[1].split()[16], '3', 'nice')
        self.assertEqual(self.c.mirror.service('plain').pid, ppid, 'plain: unchanged')

    def test_unknown_user(self):
        toml = '''
[service.web]
run = ["sleep", "1000"]
user = "no-such-user-dpc"
[service.other]
run = ["sleep", "1001"]
'''
        path = self.write_file('check.toml', toml)
        r = subprocess.run([sys.executable, '-m', 'daemonproxy.controller', '--check', path],
                           env=dict(os.environ, PYTHONPATH=PYDIR), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=dp.TIMEOUT * 4)
        self.assertEqual((r.returncode, r.stdout), (1, ''), r.stderr)
        self.assertIn("dpcontroller: %s: service.web.user: 'no-such-user-dpc': no such user"
                      % path, r.stderr)
        # running: a warning, then daemonproxy's refusal marks web failed
        self.boot(toml)
        ev = self.failed_want('web')
        why = "daemonproxy refused its execution attributes: invalid option " \
              "'user=no-such-user-dpc': no such user"
        self.assertIn(why, ev.why)
        self.expect_log("warning: %s: service.web.user: 'no-such-user-dpc': no such user"
                        % self.toml)
        self.expect_log('web: ' + why)
        self.wait_up('other')
        self.c.echo('sync')
        web = self.c.mirror.service('web')
        self.assertEqual((web.state.state, web.pid, web.args), ('down', None, ()),
                         'never started, its argv unset')
        st = self.dpctl('status', 'web')
        self.assertIn('failed', st.stdout)
        self.assertIn('no such user', st.stdout + st.stderr)
        self.assertNotIn('Traceback', '\n'.join(line or '' for line in self.d.log.snapshot()))

    def test_limit_daemonproxy_cannot_set(self):
        with open('/proc/sys/fs/nr_open') as f:
            too_many = int(f.read()) + 1
        self.boot('''
[service.many]
run = ["sleep", "1000"]
limits = { nofile = %d }
start_limit = "2/1h"
backoff_base = 1
''' % too_many)
        ev = self.failed_want('many')
        self.assertIn('2 failures within 3600s', ev.why)
        self.assertIn('exit 127', ev.why)
        # daemonproxy's error line, in its log (the controller's too: its stderr)
        self.expect_log('service many: setrlimit sleep failed: Operation not permitted')
        st = self.dpctl('status', 'many')
        self.assertIn('failed', st.stdout)
