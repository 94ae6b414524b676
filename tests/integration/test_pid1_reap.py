"""docs/daemonproxy.1, RUNNING AS PID 1: daemonproxy as init of a PID namespace reaps the
orphans reparented to it, without disturbing its services.  Uses
`unshare --pid --fork --mount-proc`; skipped when that is not possible."""

import os
import shutil
import subprocess

from dp import TIMEOUT, wait_for, proc_stat_fields
from svc_util import SvcTest, children, cmdline

UNSHARE = shutil.which('unshare')
_ok = []


def can_unshare():
    if not _ok:
        ok = False
        if UNSHARE:
            try:
                ok = subprocess.run([UNSHARE, '--pid', '--fork', '--mount-proc', '--kill-child', 'true'],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=TIMEOUT).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _ok.append(ok)
    return _ok[0]


def state(pid):
    try:
        return proc_stat_fields(pid)[0]
    except (OSError, IndexError):
        return None


class Pid1Reap(SvcTest):
    def setUp(self):
        super().setUp()
        if not can_unshare():
            self.skipTest('unshare --pid --fork --mount-proc not available')

    def start_pid1(self, *args, **kw):
        d = self.start(*args, prefix=[UNSHARE, '--pid', '--fork', '--mount-proc', '--kill-child'], **kw)
        def find():
            for c in children(d.pid):
                if b'daemonproxy' in b' '.join(cmdline(c) or []) and b'unshare' not in (cmdline(c) or [b''])[0]:
                    return c
        host = wait_for(find, msg='daemonproxy under unshare')
        return d, host

    def test_is_pid1_and_reaps_orphans(self):
        d, host = self.start_pid1()
        d.ping()
        out = self.path('ppid.txt')
        d.cmd('service.args\tppid\tsh\t-c\techo $PPID > ' + out)
        d.send('service.start\tppid')
        self.expect_state(d, 'ppid', 'down')
        with open(out) as f:
            self.assertEqual(f.read().strip(), '1', 'daemonproxy is PID 1 in the namespace')

        # a service that stays up while orphans come and go
        d.cmd('service.args\tkeeper\tsleep\t30')
        keeper_ns = self.start_svc(d, 'keeper')

        # one orphan: reparented to daemonproxy, then reaped
        d.cmd('service.args\torphan\tsh\t-c\tsleep 2 & exit 0')
        d.send('service.start\torphan')
        self.assertEqual(self.expect_state(d, 'orphan', 'down')[5:7], ['exit', '0'])

        def orphan():
            k = [c for c in children(host) if cmdline(c) == [b'sleep', b'2']]
            return k[0] if k else None
        orph = wait_for(orphan, msg='orphaned sleep reparented to daemonproxy')
        wait_for(lambda: not os.path.exists('/proc/%d' % orph), TIMEOUT + 3,
                 'orphan %d exited and reaped (not left a zombie)' % orph)

        # many orphans exiting at once
        d.cmd('service.args\tmany\tsh\t-c\tfor i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.5 & done; exit 0')
        d.send('service.start\tmany')
        self.expect_state(d, 'many', 'down')
        # Until each orphan has exec'd sleep, it is a forked `sh`: wait until
        # only the keeper is left (nothing else, and no zombie).
        def only_keeper():
            kids = children(host)
            return len(kids) == 1 and cmdline(kids[0]) == [b'sleep', b'30']
        wait_for(only_keeper, TIMEOUT + 2, 'all orphans reaped')
        # the service is untouched
        kids = children(host)
        self.assertEqual(len(kids), 1, [(k, cmdline(k), state(k)) for k in kids])
        self.assertEqual(cmdline(kids[0]), [b'sleep', b'30'])
        st = self.dump_state(d, 'keeper')
        self.assertEqual(st[2:5], ['up', st[3], str(keeper_ns)])
        # and it still notices its own service exiting
        d.send('service.signal\tkeeper\tSIGTERM')
        self.assertEqual(self.expect_state(d, 'keeper', 'down')[5:7], ['signal', 'SIGTERM'])
        self.assertEqual(children(host), [])

    def test_default_config_file_when_present(self):
        if not os.path.exists('/etc/daemonproxy.conf'):
            self.skipTest('/etc/daemonproxy.conf does not exist (not created by tests)')
        d = self.start(interactive=False, stdin=subprocess.DEVNULL,
                       prefix=[UNSHARE, '--pid', '--fork', '--mount-proc', '--kill-child'])
        # without -c/-i/-S, as PID 1 it runs the default config instead of
        # refusing to start (exit 2)
        try:
            code = d.wait(2)
        except AssertionError:
            return
        self.assertNotIn(code, (2, 3), d.log.snapshot())
