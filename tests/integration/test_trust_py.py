"""Whom the Python library talks to (issue 18, point 2; the contract it
shares with dpctl):

- every way of connecting to a socket (the blocking and the asyncio
  client's connect(), the default path, reconnect()) checks SO_PEERCRED
  before sending a single byte: a fake daemon listening as uid 65534 is
  refused with UntrustedSocket and receives nothing (it records what came:
  b''); a real daemonproxy run by another uid is refused too;
- trust_uid= (a uid or a user name) and $DAEMONPROXY_TRUST_UID make that
  uid acceptable: the fake then receives the command, the real daemon
  answers a statedump;
- a daemonproxy run by root, or by the same user as the client, is
  accepted;
- the default socket's fallback, /tmp/daemonproxy-UID/daemonproxy.sock, is
  used only in the user's own 0700 directory: a client run as uid 65534
  without XDG_RUNTIME_DIR, in a private mount namespace with its own /tmp,
  is refused for a directory owned by root, open to others, a symlink or a
  file, finds no daemon where there is no directory, and connects to a
  daemonproxy of its own in its own directory.

Needs root, setpriv (and unshare for the last class): skipped otherwise.
"""

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import textwrap
import unittest

from dp import DPTest, LineReader, REPO, TIMEOUT, binary, wait_for

sys.path.insert(0, os.path.join(REPO, 'python'))
import daemonproxy  # noqa: E402
from daemonproxy import AsyncClient, Client, UntrustedSocket  # noqa: E402

SETPRIV = shutil.which('setpriv')
UNSHARE = shutil.which('unshare')
NOBODY = 65534
AS_NOBODY = [SETPRIV, '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups'] \
    if SETPRIV else []
PYDIR = os.path.join(REPO, 'python')

# A daemon impostor: listens, then for each of N connections prints what it
# received until the client closed.
FAKE = textwrap.dedent('''
    import os, socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sys.argv[1])
    s.listen(8)
    print('listening as uid', os.getuid(), flush=True)
    for _ in range(int(sys.argv[2])):
        c, _ = s.accept()
        c.settimeout(%(timeout)s)
        data = b''
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            pass
        print('received', repr(data), flush=True)
        c.close()
''' % {'timeout': TIMEOUT})


def nobody_name():
    try:
        return pwd.getpwuid(NOBODY).pw_name
    except KeyError:
        return None


@unittest.skipUnless(SETPRIV and os.geteuid() == 0, 'needs root and setpriv for a second uid')
class PeerCheck(DPTest):

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)
        # a directory uid 65534 may create its socket in
        self.dir = self.path('nobody')
        os.mkdir(self.dir, 0o700)
        os.chown(self.dir, NOBODY, NOBODY)
        self.fake_py = self.write_file('fake.py', FAKE)
        os.chmod(self.fake_py, 0o644)

    def fake(self, connections=1, path=None):
        """A fake daemon as uid 65534 on path; returns (path, process, reader)."""
        path = path or os.path.join(self.dir, 'fake.sock')
        p = subprocess.Popen(AS_NOBODY + [sys.executable, self.fake_py, path, str(connections)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self.on_cleanup(lambda: (p.kill(), p.wait()))
        out = LineReader(p.stdout.fileno(), 'fake daemon')
        self.assertEqual(out.readline(), 'listening as uid %d' % NOBODY)
        return path, p, out

    def assert_refused(self, cm, path, proc):
        e = cm.exception
        self.assertEqual((e.path, e.uid, e.pid), (path, NOBODY, proc.pid))
        self.assertIn('refusing %s: it is served by uid %d (pid %d, "' % (path, NOBODY, proc.pid),
                      str(e))
        self.assertIn('not by root or you; if that daemon is yours to use, say so with '
                      'trust_uid=%d or DAEMONPROXY_TRUST_UID=%d' % (NOBODY, NOBODY), str(e))

    def with_env(self, **env):
        old = {k: os.environ.get(k) for k in env}

        def restore():
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(restore)
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    # --- refused, nothing sent ---------------------------------------------------------

    def test_blocking_connect_refuses_other_uid(self):
        self.with_env(DAEMONPROXY_TRUST_UID=None)
        path, p, out = self.fake()
        with self.assertRaises(UntrustedSocket) as cm:
            Client.connect(path, timeout=TIMEOUT)
        self.assert_refused(cm, path, p)
        self.assertEqual(out.readline(), "received b''")

    def test_asyncio_connect_refuses_other_uid(self):
        self.with_env(DAEMONPROXY_TRUST_UID=None)
        path, p, out = self.fake()

        async def main():
            with self.assertRaises(UntrustedSocket) as cm:
                await AsyncClient.connect(path, timeout=TIMEOUT)
            return cm
        self.assert_refused(asyncio.run(main()), path, p)
        self.assertEqual(out.readline(), "received b''")

    def test_default_path_refuses_other_uid(self):
        path, p, out = self.fake(2)
        self.with_env(DAEMONPROXY_SOCKET=path, DAEMONPROXY_TRUST_UID=None)
        with self.assertRaises(UntrustedSocket) as cm:
            Client.connect(timeout=TIMEOUT)
        self.assert_refused(cm, path, p)
        self.assertEqual(out.readline(), "received b''")

        async def main():
            with self.assertRaises(UntrustedSocket):
                await AsyncClient.connect(timeout=TIMEOUT)
        asyncio.run(main())
        self.assertEqual(out.readline(), "received b''")

    def test_reconnect_refuses_a_squatter(self):
        # the daemon goes away; another uid takes its socket path
        self.with_env(DAEMONPROXY_TRUST_UID=None)
        path = os.path.join(self.dir, 'dp.sock')
        d = self.start('-S', path, interactive=False, stdin=subprocess.DEVNULL)
        c = Client.connect(path, connect_timeout=TIMEOUT, timeout=TIMEOUT)
        self.on_cleanup(c.close)

        async def connect_async():
            return await AsyncClient.connect(path, timeout=TIMEOUT)
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        ac = loop.run_until_complete(connect_async())
        self.assertEqual(c.echo('before'), 'before')
        d.kill()
        d.wait()
        os.unlink(path)
        _, p, out = self.fake(2, path=path)
        with self.assertRaises(UntrustedSocket) as cm:
            c.reconnect(TIMEOUT)
        self.assert_refused(cm, path, p)
        self.assertEqual(out.readline(), "received b''")
        with self.assertRaises(UntrustedSocket) as cm:
            loop.run_until_complete(ac.reconnect(TIMEOUT))
        self.assert_refused(cm, path, p)
        self.assertEqual(out.readline(), "received b''")
        loop.run_until_complete(ac.close())

    def test_real_daemon_of_another_uid(self):
        self.with_env(DAEMONPROXY_TRUST_UID=None)
        path = os.path.join(self.dir, 'dp.sock')
        d = self.start('-S', path, interactive=False, stdin=subprocess.DEVNULL, prefix=AS_NOBODY)
        wait_for(lambda: os.path.exists(path), msg='the socket of the daemon of uid 65534')
        with self.assertRaises(UntrustedSocket) as cm:
            Client.connect(path, connect_timeout=TIMEOUT, timeout=TIMEOUT)
        self.assertEqual((cm.exception.uid, cm.exception.pid), (NOBODY, d.pid))
        with open('/proc/%d/comm' % d.pid) as f:     # valgrind's tool, under make valgrind
            self.assertIn('"%s"' % f.read().strip(), str(cm.exception))
        # told to trust it: a full connection (statedump, commands)
        c = Client.connect(path, timeout=TIMEOUT, trust_uid=NOBODY)
        self.on_cleanup(c.close)
        self.assertTrue(c.mirror.synced)
        self.assertIn('null', c.mirror.handles)
        self.assertEqual(c.echo('trusted'), 'trusted')

    # --- accepted --------------------------------------------------------------------

    def test_trust_uid_and_environment_accept_it(self):
        name = nobody_name()
        blocking = [dict(trust_uid=NOBODY), dict(trust_uid=str(NOBODY)),
                    dict(env=str(NOBODY))]
        if name:
            blocking += [dict(trust_uid=name), dict(env=name)]
        path, p, out = self.fake(len(blocking) + 2)
        for how in blocking:
            with self.subTest(how=how):
                self.with_env(DAEMONPROXY_TRUST_UID=how.get('env'))
                c = Client.connect(path, timeout=TIMEOUT, sync=False, mirror=False,
                                   trust_uid=how.get('trust_uid'))
                c.send('echo', 'x')
                c.close()
                self.assertEqual(out.readline(), r"received b'echo\tx\n'")

        async def main(**kw):
            c = await AsyncClient.connect(path, timeout=TIMEOUT, sync=False, mirror=False, **kw)
            await c.send('echo', 'y')
            await c.close()
        self.with_env(DAEMONPROXY_TRUST_UID=None)
        asyncio.run(main(trust_uid=NOBODY))
        self.assertEqual(out.readline(), r"received b'echo\ty\n'")
        self.with_env(DAEMONPROXY_TRUST_UID=str(NOBODY))
        asyncio.run(main())
        self.assertEqual(out.readline(), r"received b'echo\ty\n'")

    def test_bad_trust_setting_refused_before_connecting(self):
        path, p, out = self.fake()
        self.with_env(DAEMONPROXY_TRUST_UID='no-such-user-xyz')
        with self.assertRaisesRegex(daemonproxy.InvalidArgument,
                                    "DAEMONPROXY_TRUST_UID: no user named 'no-such-user-xyz'"):
            Client.connect(path, timeout=TIMEOUT)
        self.with_env(DAEMONPROXY_TRUST_UID=None)
        with self.assertRaises(UntrustedSocket):
            Client.connect(path, timeout=TIMEOUT)
        self.assertEqual(out.readline(), "received b''")     # the one connection

    def test_root_daemon_accepted(self):
        path = self.path('root.sock')
        self.start('-S', path, interactive=False, stdin=subprocess.DEVNULL)
        c = Client.connect(path, connect_timeout=TIMEOUT, timeout=TIMEOUT)
        self.on_cleanup(c.close)
        self.assertEqual(c.echo('root'), 'root')

        async def main():
            async with await AsyncClient.connect(path, timeout=TIMEOUT) as ac:
                return await ac.echo('root too')
        self.assertEqual(asyncio.run(main()), 'root too')

    def test_same_user_accepted(self):
        path = os.path.join(self.dir, 'dp.sock')
        self.start('-S', path, interactive=False, stdin=subprocess.DEVNULL, prefix=AS_NOBODY)
        script = self.write_file('same.py', textwrap.dedent('''
            import asyncio, sys
            sys.path.insert(0, sys.argv[1])
            import daemonproxy
            c = daemonproxy.Client.connect(sys.argv[2], connect_timeout=%(t)s, timeout=%(t)s)
            print('blocking', c.echo('same user'), c.mirror.synced)
            c.close()
            async def main():
                async with await daemonproxy.AsyncClient.connect(sys.argv[2], timeout=%(t)s) as a:
                    print('asyncio', await a.echo('same user'))
            asyncio.run(main())
        ''' % {'t': TIMEOUT}))
        os.chmod(script, 0o644)
        env = {k: v for k, v in os.environ.items() if k != 'DAEMONPROXY_TRUST_UID'}
        env['PYTHONDONTWRITEBYTECODE'] = '1'
        r = subprocess.run(AS_NOBODY + [sys.executable, script, PYDIR, path], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=4 * TIMEOUT)
        self.assertEqual(r.stdout.splitlines(), ['blocking same user True', 'asyncio same user'],
                         r.stderr)


# The client of DefaultDir, run as uid 65534: what connect() without a path finds.
DEFAULT_CLIENT = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import daemonproxy
    print('path', daemonproxy.default_socket_path())
    try:
        c = daemonproxy.Client.connect(connect_timeout=float(sys.argv[2]), timeout=10)
    except daemonproxy.UntrustedSocket as e:
        print('refused', e)
    except FileNotFoundError as e:
        print('no daemon:', e.strerror)
    else:
        print('connected', c.echo('mine'), c.mirror.synced)
        c.close()
''')


@unittest.skipUnless(SETPRIV and UNSHARE and os.geteuid() == 0,
                     'needs root, setpriv and unshare for a private /tmp and a second uid')
class DefaultDir(DPTest):
    """The fallback of the default path, with /tmp a tmpfs of a private
    mount namespace (the real /tmp is shared with everything else)."""

    DIR = '/tmp/daemonproxy-%d' % NOBODY

    def run_client(self, setup, connect_timeout=0, daemon=False):
        if any(os.path.realpath(p).startswith('/tmp/') for p in (PYDIR, sys.executable, binary())):
            self.skipTest('the library, python or daemonproxy is under /tmp, which this test '
                          'replaces')
        nobody = ' '.join(AS_NOBODY)
        lines = ['set -e', 'mount -t tmpfs -o mode=1777 tmpfs /tmp', setup]
        if daemon:
            lines.append('%s %s -S %s/daemonproxy.sock </dev/null 2>/dev/null &'
                         % (nobody, binary(), self.DIR))
        lines.append('env -u XDG_RUNTIME_DIR -u DAEMONPROXY_SOCKET -u DAEMONPROXY_TRUST_UID '
                     'PYTHONDONTWRITEBYTECODE=1 %s %s -c "$1" %s %s'
                     % (nobody, sys.executable, PYDIR, connect_timeout))
        # a pid namespace of its own: the daemon ends with it, whatever happens;
        # the client's code as an argument (the test's directory is under /tmp)
        r = subprocess.run([UNSHARE, '--mount', '--propagation', 'private', '--pid', '--fork',
                            '--kill-child', '--mount-proc', 'sh', '-c', '\n'.join(lines), 'sh',
                            DEFAULT_CLIENT],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=4 * TIMEOUT)
        if r.returncode != 0 and 'mount' in r.stderr and not r.stdout:
            self.skipTest('no private mount namespace here: %s' % r.stderr.strip())
        out = r.stdout.splitlines()
        self.assertEqual(out[:1], ['path %s/daemonproxy.sock' % self.DIR], r.stderr)
        return out[1] if len(out) > 1 else r.stderr

    def assert_refused(self, setup, reason, fix):
        got = self.run_client(setup)
        self.assertEqual(got, 'refused refusing %s for the default socket: %s; %s, or set '
                         'XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET' % (self.DIR, reason, fix))

    def test_directory_of_another_uid(self):
        self.assert_refused('mkdir -m 700 %s' % self.DIR, 'owned by uid 0, not %d' % NOBODY,
                            'ask root to remove it')

    def test_directory_open_to_others(self):
        self.assert_refused('mkdir -m 755 %s; chown %d %s' % (self.DIR, NOBODY, self.DIR),
                            'mode 0755, must not be open to group or others',
                            'chmod 700 it or remove it')
        self.assert_refused('mkdir -m 730 %s; chown %d %s' % (self.DIR, NOBODY, self.DIR),
                            'mode 0730, must not be open to group or others',
                            'chmod 700 it or remove it')

    def test_symlink_and_file(self):
        # in the sticky /tmp, a name of another uid's is root's to remove
        self.assert_refused('mkdir -m 700 /tmp/real; chown %d /tmp/real; ln -s /tmp/real %s'
                            % (NOBODY, self.DIR), 'a symlink', 'ask root to remove it')
        self.assert_refused('mkdir -m 700 /tmp/real; chown %d /tmp/real; ln -s /tmp/real %s; '
                            'chown -h %d %s' % (NOBODY, self.DIR, NOBODY, self.DIR), 'a symlink',
                            'remove it')
        self.assert_refused('touch %s' % self.DIR, 'not a directory', 'ask root to remove it')
        self.assert_refused('touch %s; chown %d %s' % (self.DIR, NOBODY, self.DIR),
                            'not a directory', 'remove it')

    def test_no_directory_no_daemon(self):
        self.assertEqual(self.run_client('true'), 'no daemon: No such file or directory')

    def test_own_directory_and_daemon(self):
        got = self.run_client('mkdir -m 700 %s; chown %d %s' % (self.DIR, NOBODY, self.DIR),
                              connect_timeout=TIMEOUT, daemon=True)
        self.assertEqual(got, 'connected mine True')


if __name__ == '__main__':
    unittest.main()
