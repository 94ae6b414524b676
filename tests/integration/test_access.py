"""Access control on the control socket (an extension, see docs/protocol.md):
the socket file is 0600; each connection's SO_PEERCRED is checked, and only
daemonproxy's own uid and root may command it, plus the members of a group
given with --socket-group.  Tested with a second uid via setpriv."""

import grp
import os
import re
import shutil
import stat
import subprocess
import sys
import unittest

from dp import DPTest, TIMEOUT, wait_for

SETPRIV = shutil.which('setpriv')
NOBODY = 65534
NOGROUP = 65534

CLIENT = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print('connect-failed', e.errno)
    sys.exit(0)
s.settimeout(%(timeout)s)
try:
    s.sendall(b'echo\tfrom-other-uid\n')
except OSError:
    pass
data = b''
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
        if b'from-other-uid' in data:
            break
except OSError:
    pass
print('got', repr(data))
''' % {'timeout': TIMEOUT}


FLOOD = r'''
import socket, sys
n = 0
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
        n += 1
    except OSError:
        pass
    s.close()
print('connected', n)
'''


@unittest.skipUnless(SETPRIV and os.geteuid() == 0, 'needs root and setpriv for a second uid')
class Access(DPTest):

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)       # let the other uid reach the socket
        self.client = self.write_file('client.py', CLIENT)
        os.chmod(self.client, 0o644)

    def as_user(self, uid, gid, sock, groups=()):
        args = [SETPRIV, '--reuid=%d' % uid, '--regid=%d' % gid]
        args += ['--groups=' + ','.join(str(g) for g in groups)] if groups else ['--clear-groups']
        out = subprocess.run(args + [sys.executable, self.client, sock], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=TIMEOUT * 2, text=True).stdout
        return out.strip()

    def test_socket_mode_0600_and_other_uid_cannot_connect(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        d.ping()        # listening (the file exists from bind() on)
        self.assertEqual(stat.S_IMODE(os.stat(sock).st_mode), 0o600)
        out = self.as_user(NOBODY, NOGROUP, sock)
        self.assertTrue(out.startswith('connect-failed'), out)
        d.ping()

    def test_peercred_refuses_other_uid_even_if_file_is_opened_up(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        d.ping()        # listening (the file exists from bind() on)
        os.chmod(sock, 0o666)           # the file no longer protects it
        out = self.as_user(NOBODY, NOGROUP, sock)
        self.assertNotIn('from-other-uid', out)
        d.log.expect(re.compile('refused connection from uid %d ' % NOBODY))
        # no command ran: the daemon is alive and answers its owner
        self.assertTrue(d.alive())
        d.ping()

    def test_socket_group_allows_members_only(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock, '--socket-group', grp.getgrgid(NOGROUP).gr_name)
        # set up once it answers (the file exists at bind(), 0600, before
        # its group and mode are set: seen under valgrind)
        d.ping()
        st = os.stat(sock)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, NOGROUP)
        # a member (primary group) is served
        out = self.as_user(NOBODY, NOGROUP, sock)
        self.assertIn('from-other-uid', out)
        # a member through a supplementary group is served
        out = self.as_user(NOBODY - 1, NOBODY - 1, sock, groups=[NOGROUP])
        self.assertIn('from-other-uid', out)
        # the socket file keeps non-members out; with it opened up, the
        # peer check still refuses them
        os.chmod(sock, 0o666)
        out = self.as_user(NOBODY - 1, NOBODY - 1, sock)
        self.assertNotIn('from-other-uid', out)
        d.log.expect(re.compile('refused connection from uid %d ' % (NOBODY - 1)))
        d.ping()

    def test_refusals_summed_up(self):
        """A local user who can reach the socket file cannot flood the log:
        5 refusals in 5 seconds are logged, the rest counted in one line
        per interval; every connection is accounted for, and the owner is
        still served."""
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        d.ping()
        os.chmod(sock, 0o666)
        flood = self.write_file('flood.py', FLOOD)
        os.chmod(flood, 0o644)
        n = 300
        out = subprocess.run([SETPRIV, '--reuid=%d' % NOBODY, '--regid=%d' % NOGROUP,
                              '--clear-groups', sys.executable, flood, sock, str(n)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=TIMEOUT * 2, text=True).stdout
        self.assertEqual(out.strip(), 'connected %d' % n)
        full = re.compile('^warning: control socket: refused connection from uid %d ' % NOBODY)
        summary = re.compile(r'^warning: control socket: (\d+) more connections refused '
                             r'in the last 5 s$')

        def counted():
            lines = d.log.snapshot()
            logged = len([l for l in lines if full.match(l)])
            more = sum(int(m.group(1)) for m in map(summary.match, lines) if m)
            return logged, more
        wait_for(lambda: sum(counted()) == n, TIMEOUT * 2, 'every refusal logged or counted')
        logged, more = counted()
        self.assertEqual(logged, 5)
        self.assertEqual(more, n - 5)
        d.ping()

    def test_socket_group_member_with_many_groups(self):
        """A member with more supplementary groups than fit 256 entries (the
        kernel answers SO_PEERGROUPS with ERANGE and the size it needs) is
        served: the group is the last of 300.  Without it among the 300:
        refused."""
        sock = self.path('s.sock')
        d = self.start('-S', sock, '--socket-group', '5000')
        d.ping()
        many = list(range(4001, 4300))
        out = self.as_user(NOBODY - 1, NOBODY - 1, sock, groups=many + [5000])
        self.assertIn('from-other-uid', out)
        os.chmod(sock, 0o666)           # only the peer check decides now
        out = self.as_user(NOBODY - 1, NOBODY - 1, sock, groups=many + [4300])
        self.assertNotIn('from-other-uid', out)
        d.log.expect(re.compile('refused connection from uid %d ' % (NOBODY - 1)))
        d.ping()

    def test_unknown_socket_group_is_a_bad_option(self):
        code, out, err = self.run_dp(['-S', self.path('s.sock'), '--socket-group',
                                      'no-such-group-xyz'])
        self.assertEqual(code, 2)
        self.assertIn('no-such-group-xyz', err)
