"""Whom a client trusts (issue 18, point 2; the contract shared with
dpctl): the default socket path and its fallback directory's check, the
uids a client accepts at the other end of a socket, and the refusal
(UntrustedSocket) with its facts.  The end-to-end tests, with a second
uid, are tests/integration/test_trust_py.py."""

import os
import pwd
import shutil
import socket
import stat
import tempfile
import unittest

import _path
import daemonproxy
from daemonproxy import ConnectionClosed, InvalidArgument, UntrustedSocket
from daemonproxy.paths import check_socket_dir, default_socket_path, trusted_uids
from daemonproxy.transport import check_peer

_path.check()


class DefaultPath(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.uid = os.geteuid() or 1000         # a user's rule, also when run as root
        self.dir = os.path.join(self.tmp, 'daemonproxy-%d' % self.uid)

    def path(self, env=None, check=True):
        return default_socket_path(env or {}, self.uid, check=check, tmpdir=self.tmp)

    def refused(self, reason_part, owner=None, fix='remove it'):
        with self.assertRaises(UntrustedSocket) as cm:
            self.path()
        e = cm.exception
        self.assertEqual(e.path, self.dir)
        self.assertIn(reason_part, e.reason)
        self.assertTrue(str(e).startswith('refusing %s for the default socket: ' % self.dir), e)
        self.assertTrue(str(e).endswith('%s; %s, or set XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET'
                                        % (reason_part, fix)), e)
        self.assertIsNone(e.pid)
        if owner is not None:
            self.assertEqual(e.uid, owner)
        return e

    def test_order_of_the_rules(self):
        self.assertEqual(default_socket_path({'DAEMONPROXY_SOCKET': '/x.sock'}, 0), '/x.sock')
        self.assertEqual(default_socket_path({'XDG_RUNTIME_DIR': '/run/user/5'}, 0),
                         '/run/daemonproxy.sock')
        self.assertEqual(default_socket_path({'XDG_RUNTIME_DIR': '/run/user/5'}, 5),
                         '/run/user/5/daemonproxy.sock')
        self.assertEqual(default_socket_path({'XDG_RUNTIME_DIR': 'rel'}, 5),
                         '/tmp/daemonproxy-5/daemonproxy.sock')

    def test_missing_directory_passes(self):
        # clients never create it: the connection then fails (no daemon there)
        self.assertEqual(self.path(), self.dir + '/daemonproxy.sock')
        self.assertFalse(os.path.exists(self.dir))

    def test_own_private_directory_passes(self):
        os.mkdir(self.dir, 0o700)
        os.chown(self.dir, self.uid, -1) if os.geteuid() == 0 else None
        self.assertEqual(self.path(), self.dir + '/daemonproxy.sock')

    def test_open_to_group_or_others(self):
        for mode in (0o755, 0o710, 0o701, 0o770, 0o777, 0o1777):
            with self.subTest(mode=oct(mode)):
                os.mkdir(self.dir)
                os.chmod(self.dir, mode)
                os.chown(self.dir, self.uid, -1) if os.geteuid() == 0 else None
                e = self.refused('mode %04o, must not be open to group or others'
                                 % stat.S_IMODE(mode), owner=self.uid,
                                 fix='chmod 700 it or remove it')
                self.assertEqual(e.uid, self.uid)
                os.rmdir(self.dir)

    def test_owned_by_another_uid(self):
        me, other = os.geteuid(), os.geteuid() + 1000
        os.mkdir(os.path.join(self.tmp, 'daemonproxy-%d' % other), 0o700)
        with self.assertRaises(UntrustedSocket) as cm:
            default_socket_path({}, other, check=True, tmpdir=self.tmp)
        self.assertTrue(str(cm.exception).endswith(
            ': owned by uid %d, not %d; ask root to remove it, or set XDG_RUNTIME_DIR or '
            'DAEMONPROXY_SOCKET' % (me, other)), cm.exception)
        self.assertEqual(cm.exception.uid, me)

    def test_not_a_directory_and_symlink(self):
        # the user's own name: theirs to remove; another uid's (root's,
        # when run as root): in the sticky /tmp, only root may
        theirs = 'remove it' if os.geteuid() == self.uid else 'ask root to remove it'
        with open(self.dir, 'w'):
            pass
        self.refused('not a directory', fix=theirs)
        if os.geteuid() == 0:
            os.chown(self.dir, self.uid, -1)
            self.refused('not a directory', fix='remove it')
        os.unlink(self.dir)
        good = os.path.join(self.tmp, 'elsewhere')
        os.mkdir(good, 0o700)
        os.symlink(good, self.dir)
        self.refused('a symlink', fix=theirs)
        if os.geteuid() == 0:
            os.lchown(self.dir, self.uid, -1)
            self.refused('a symlink', fix='remove it')

    def test_checked_only_for_the_fallback_and_only_when_asked(self):
        os.mkdir(self.dir, 0o777)
        self.assertEqual(self.path(check=False), self.dir + '/daemonproxy.sock')
        self.assertEqual(self.path({'XDG_RUNTIME_DIR': '/run/user/5'}), '/run/user/5/daemonproxy.sock')
        self.assertEqual(self.path({'DAEMONPROXY_SOCKET': '/a.sock'}), '/a.sock')

    def test_check_socket_dir_alone(self):
        os.mkdir(self.dir, 0o750)
        with self.assertRaises(UntrustedSocket):
            check_socket_dir(self.dir, os.stat(self.dir).st_uid)
        check_socket_dir(os.path.join(self.tmp, 'nothing-here'), 12345)


class TrustedUids(unittest.TestCase):
    def test_default_root_and_me(self):
        self.assertEqual(trusted_uids(None, {}, 1000), {0, 1000})
        self.assertEqual(trusted_uids(None, {'DAEMONPROXY_TRUST_UID': ''}, 1000), {0, 1000})

    def test_argument_and_environment(self):
        self.assertEqual(trusted_uids(65534, {}, 1000), {0, 1000, 65534})
        self.assertEqual(trusted_uids('65534', {}, 1000), {0, 1000, 65534})
        self.assertEqual(trusted_uids(None, {'DAEMONPROXY_TRUST_UID': '42'}, 1000), {0, 1000, 42})
        # the argument wins over the environment
        self.assertEqual(trusted_uids(7, {'DAEMONPROXY_TRUST_UID': '42'}, 1000), {0, 1000, 7})

    def test_user_names(self):
        me = pwd.getpwuid(os.geteuid())
        self.assertIn(me.pw_uid, trusted_uids(me.pw_name, {}, 1000))
        self.assertIn(me.pw_uid, trusted_uids(None, {'DAEMONPROXY_TRUST_UID': me.pw_name}, 1000))

    def test_bad_values(self):
        for bad in ('no-such-user-xyz', -1, 2 ** 32, True, 1.5, b'0', '١٢'):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument):
                    trusted_uids(bad, {}, 1000)
        with self.assertRaisesRegex(InvalidArgument, 'DAEMONPROXY_TRUST_UID: no user named'):
            trusted_uids(None, {'DAEMONPROXY_TRUST_UID': 'no-such-user-xyz'}, 1000)


class PeerCheck(unittest.TestCase):
    def pair(self):
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a

    def test_our_own_uid_is_trusted(self):
        check_peer(self.pair(), '/x.sock', trusted_uids())

    def test_refused_with_the_facts(self):
        me = os.geteuid()
        with self.assertRaises(UntrustedSocket) as cm:
            check_peer(self.pair(), '/x.sock', frozenset({me + 1}))
        e = cm.exception
        self.assertEqual((e.path, e.uid, e.pid), ('/x.sock', me, os.getpid()))
        with open('/proc/self/comm') as f:
            comm = f.read().strip()
        self.assertEqual(str(e), 'refusing /x.sock: it is served by uid %d (pid %d, "%s"), not by '
                         'root or you; if that daemon is yours to use, say so with trust_uid=%d '
                         'or DAEMONPROXY_TRUST_UID=%d' % (me, os.getpid(), comm, me, me))
        self.assertIsInstance(e, ConnectionClosed)
        self.assertIsInstance(e, ConnectionError)
        self.assertIs(daemonproxy.UntrustedSocket, UntrustedSocket)


if __name__ == '__main__':
    unittest.main()
