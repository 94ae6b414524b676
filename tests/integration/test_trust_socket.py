"""A control socket is never taken from a live listener (issue 18): a
second daemonproxy, or `socket.create`, at the path where a process still
listens is refused with a clear error naming it, and the first one stays
reachable; only a stale socket file (nobody listens: a connect is refused),
or daemonproxy's own socket, is replaced.  A busy listener (its backlog
full) counts as live."""

import os
import socket
import stat

from dp import DPTest, try_connect, wait_for


def comm(pid):
    """The program name the kernel has for pid (daemonproxy, or valgrind's
    tool under make valgrind)."""
    with open('/proc/%d/comm' % pid) as f:
        return f.read().strip()


def listening(path, backlog=4):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(backlog)
    return s


class LiveSocket(DPTest):

    def inode(self, path):
        return os.stat(path).st_ino

    def test_second_daemon_refused(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        d.ping()
        ino = self.inode(sock)
        code, out, err = self.run_dp(['-S', sock])
        self.assertEqual(code, 3)
        self.assertIn('cannot create control socket %s: a live socket of pid %d (%s) '
                      'is there: Address already in use' % (sock, d.pid, comm(d.pid)), err)
        # the first keeps its socket, and answers on it
        self.assertEqual(self.inode(sock), ino)
        self.assertEqual(self.connect(sock).cmd1('echo\tstill-mine'), 'still-mine')

    def test_socket_create_refused_on_a_live_socket(self):
        other = self.path('other.sock')
        first = self.start('-S', other)
        first.ping()
        d = self.start()
        self.assertCmdError(d, 'socket.create\t-\t' + other, 'a live socket of pid %d' % first.pid,
                            'Address already in use')
        self.assertEqual(self.connect(other).cmd1('echo\tfirst'), 'first')
        # d has no socket now; it still answers and can create one elsewhere
        mine = self.path('mine.sock')
        self.assertSilent(d, 'socket.create\t-\t' + mine)
        self.assertEqual(self.connect(mine).cmd1('echo\tmine'), 'mine')

    def test_any_live_listener_is_refused(self):
        """Not only daemonproxy: a socket any process of ours listens on."""
        sock = self.path('py.sock')
        s = listening(sock)
        self.on_cleanup(s.close)
        code, out, err = self.run_dp(['-S', sock])
        self.assertEqual(code, 3)
        self.assertIn('a live socket of pid %d' % os.getpid(), err)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)         # still ours
        c.close()

    def test_busy_listener_is_live(self):
        """A listener whose backlog is full cannot be told apart from a
        stale file by a connect that succeeds: EAGAIN says it is alive."""
        sock = self.path('busy.sock')
        s = listening(sock, backlog=0)
        self.on_cleanup(s.close)
        pending = []
        while True:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(sock)
                pending.append(c)
            except BlockingIOError:
                c.close()
                break
        self.on_cleanup(lambda: [c.close() for c in pending])
        code, out, err = self.run_dp(['-S', sock])
        self.assertEqual(code, 3)
        self.assertIn('a live socket is there (its backlog is full)', err)
        self.assertTrue(stat.S_ISSOCK(os.stat(sock).st_mode))

    def test_stale_socket_replaced(self):
        sock = self.path('stale.sock')
        s = listening(sock)
        s.close()
        self.assertFalse(try_connect(sock))
        d = self.start('-S', sock)
        self.assertEqual(self.connect(sock).cmd1('echo\tfresh'), 'fresh')
        self.assertTrue(d.alive())

    def test_socket_file_left_at_exit_is_replaced(self):
        """daemonproxy.1, -S: the socket file stays after a clean exit
        (terminate, end of input), and is harmless: the next daemonproxy on
        the path finds nobody listening there and replaces it."""
        sock = self.path('again.sock')
        for how in ('terminate', 'end of input', None):
            with self.subTest(how=how):
                d = self.start('-S', sock)
                self.assertEqual(self.connect(sock).cmd1('echo\tup'), 'up')
                if how is None:
                    break
                if how == 'terminate':
                    self.connect(sock).send('terminate\t0')
                else:
                    d.close_stdin()
                self.assertEqual(d.wait(), 0)
                self.assertTrue(stat.S_ISSOCK(os.lstat(sock).st_mode), 'left in place')
                self.assertFalse(try_connect(sock), 'nobody listens')

    def test_own_socket_recreated_under_another_spelling(self):
        """socket.create at the path of daemonproxy's own socket, spelled
        differently (relative, through a symlinked directory): its own
        listener is no obstacle, the socket is replaced and answers."""
        sock = self.path('own.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        os.symlink(self.tmp, self.path('link'))
        self.assertSilent(d, 'socket.create\t-\t' + os.path.join(self.path('link'), 'own.sock'))
        self.assertEqual(self.connect(sock).cmd1('echo\tagain'), 'again')
        self.assertSilent(d, 'chdir\t' + self.tmp)
        self.assertSilent(d, 'socket.create\t-\town.sock')
        self.assertEqual(self.connect(sock).cmd1('echo\tthrice'), 'thrice')
        self.assertEqual(c.cmd1('echo\tfirst-client'), 'first-client')

    def test_relative_socket_deleted_after_chdir(self):
        """A socket created by a relative path is the file it named then:
        socket.delete after a chdir removes that file, not one of the same
        name in the new directory."""
        d = self.start()
        os.mkdir(self.path('other'))
        decoy = self.path('other/rel.sock')
        open(decoy, 'w').close()
        self.assertSilent(d, 'chdir\t' + self.tmp)
        self.assertSilent(d, 'socket.create\t-\trel.sock')
        self.assertSilent(d, 'chdir\t' + self.path('other'))
        self.assertSilent(d, 'socket.delete')
        self.assertFalse(os.path.exists(self.path('rel.sock')))
        self.assertTrue(os.path.exists(decoy))
