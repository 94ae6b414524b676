"""docs/protocol.md, Controllers: controllers (-c FILE, -c -, -i, -S), socket.create /
socket.delete, many clients at once."""

import os
import selectors
import socket
import stat
import subprocess
import time

from dp import DPTest, Client, try_connect


class ConfigFile(DPTest):
    def test_config_runs_no_events_errors_logged(self):
        conf = self.write_file('a.conf', 'echo\thello\nbogus_in_config\nstatedump\n'
                               'chdir\t/nonexistent-dp-cfg\nterminate\t0\n')
        d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL)
        self.assertEqual(d.wait(), 0)
        self.assertEqual(d.read_eof(), [], 'a config file produces no events on stdout')
        log = d.log.wait_eof()
        self.assertTrue([l for l in log if l.startswith('error:') and 'unknown command bogus_in_config' in l], log)
        self.assertTrue([l for l in log if l.startswith('error:') and 'chdir failed' in l], log)

    def test_config_final_line_without_newline_executed(self):
        conf = self.write_file('b.conf', 'echo\tx\nterminate\t5')
        d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL)
        self.assertEqual(d.wait(), 5)

    def test_config_comments_and_long_lines(self):
        conf = self.write_file('c.conf', '# comment\n\n   \n' + 'echo\t' + 'x' * 5000 + '\n'
                               '#' + 'y' * 5000 + '\nterminate\t6\n')
        d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL)
        self.assertEqual(d.wait(), 6)
        self.assertEqual(d.read_eof(), [])
        log = d.log.wait_eof()
        self.assertEqual(len([l for l in log if 'command exceeds buffer size' in l]), 2, log)

    def test_config_keeps_running_after_end(self):
        sock = self.path('k.sock')
        conf = self.write_file('k.conf', 'socket.create\t-\t%s\n' % sock)
        d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL)
        c = self.connect(sock)
        self.assertEqual(c.cmd1('echo\tup'), 'up')
        self.assertTrue(d.alive())
        c.send('terminate\t0')
        self.assertEqual(d.wait(), 0)

    def test_config_from_stdin(self):
        sock = self.path('stdin.sock')
        d = self.start('-c', '-', interactive=False)
        d.send('socket.create\t-\t' + sock, 'bogus_from_stdin_config', 'echo\tnot-on-stdout')
        d.close_stdin()
        c = self.connect(sock)
        self.assertEqual(c.cmd1('echo\tok'), 'ok')
        d.log.expect(lambda l: 'unknown command bogus_from_stdin_config' in l)
        self.assertTrue(d.alive(), 'EOF of a -c - config does not end daemonproxy')
        c.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        self.assertEqual(d.read_eof(), [])

    def test_config_from_stdin_final_partial_line(self):
        d = self.start('-c', '-', interactive=False)
        d.send_raw('echo\tx\nterminate\t9')
        d.close_stdin()
        self.assertEqual(d.wait(), 9)


class ControlSocket(DPTest):
    def test_socket_create_move_delete(self):
        d = self.start()
        p1, p2, p3 = self.path('one.sock'), self.path('two.sock'), self.path('three.sock')
        self.assertSilent(d, 'socket.create\t\t' + p1)
        self.assertTrue(stat.S_ISSOCK(os.stat(p1).st_mode))
        c1 = self.connect(p1)
        self.assertEqual(c1.cmd1('echo\tone'), 'one')
        self.assertSilent(d, 'socket.create\t-\t' + p2)
        self.assertFalse(os.path.exists(p1), 'old socket must be unlinked')
        self.assertTrue(stat.S_ISSOCK(os.stat(p2).st_mode))
        c2 = self.connect(p2)
        self.assertEqual(c2.cmd1('echo\ttwo'), 'two')
        self.assertCmdError(d, 'socket.create\tbogus\t' + p3)
        self.assertFalse(os.path.exists(p3))
        self.assertTrue(try_connect(p2), 'failed socket.create leaves the socket alone')
        self.assertSilent(d, 'socket.delete')
        self.assertFalse(os.path.exists(p2))
        self.assertSilent(d, 'socket.delete')   # no-op
        self.assertEqual(d.cmd1('echo\tend'), 'end')

    def test_socket_create_mode_0600(self):
        d = self.start()
        p = self.path('mode.sock')
        self.assertSilent(d, 'socket.create\t-\t' + p)
        self.assertEqual(oct(os.stat(p).st_mode & 0o777), oct(0o600))

    def test_socket_delete_without_socket_is_noop(self):
        d = self.start()
        self.assertSilent(d, 'socket.delete')

    def test_socket_create_errors(self):
        d = self.start()
        self.assertCmdError(d, 'socket.create\t-\t' + self.path('nodir/x.sock'))
        self.assertCmdError(d, 'socket.create\t-\t' + self.path('x' * 200 + '.sock'))
        self.assertCmdError(d, 'socket.create\tfoo,bar\t' + self.path('y.sock'))
        self.assertFalse(os.path.exists(self.path('y.sock')))

    def test_stale_socket_file_replaced(self):
        p = self.path('stale.sock')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(p)
        s.close()
        self.assertTrue(os.path.exists(p))
        self.assertFalse(try_connect(p))
        d = self.start('-S', p)
        c = self.connect(p)
        self.assertEqual(c.cmd1('echo\tfresh'), 'fresh')
        p2 = self.path('stale2.sock')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(p2)
        s.close()
        self.assertSilent(d, 'socket.create\t-\t' + p2)
        self.assertEqual(self.connect(p2).cmd1('echo\tfresh2'), 'fresh2')

    def test_socket_delete_from_client(self):
        p = self.path('del.sock')
        d = self.start('-S', p)
        c = self.connect(p)
        self.assertSilent(c, 'socket.delete')
        self.assertFalse(os.path.exists(p))
        # existing connection keeps working
        self.assertEqual(c.cmd1('echo\tstill'), 'still')

    def test_exit_closes_only_that_connection(self):
        p = self.path('x.sock')
        d = self.start('-S', p, interactive=False, stdin=subprocess.DEVNULL)
        a = self.connect(p)
        b = self.connect(p)
        a.ping()
        a.send('exit', 'echo\tafter-exit')
        self.assertEqual(a.read_eof(), [])
        self.assertEqual(b.cmd1('echo\tb-ok'), 'b-ok')
        self.assertTrue(d.alive())
        self.assertEqual(self.connect(p).cmd1('echo\tnew-ok'), 'new-ok')

    def test_half_close_gets_all_replies(self):
        p = self.path('hc.sock')
        d = self.start('-S', p, interactive=False, stdin=subprocess.DEVNULL)
        c = self.connect(p)
        c.send(*['echo\thc-%d' % i for i in range(300)])
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(c.read_eof(), ['hc-%d' % i for i in range(300)])
        self.assertTrue(d.alive())

    def test_client_vanishing_with_pending_output(self):
        p = self.path('v.sock')
        d = self.start('-S', p, interactive=False, stdin=subprocess.DEVNULL)
        b = self.connect(p)
        for _ in range(5):
            a = Client(p)
            a.send(*(['echo\t' + 'v' * 4000] * 40))
            a.sock.shutdown(socket.SHUT_RDWR)
            a.close()
            self.assertEqual(b.cmd1('echo\tb-alive'), 'b-alive')
        # half-written line then disconnect
        a = Client(p)
        a.send_raw('echo\tpartial-no-newline')
        a.close()
        self.assertEqual(b.cmd1('echo\tb-alive2'), 'b-alive2')
        self.assertTrue(d.alive())

    def test_many_clients_round_trips(self):
        p = self.path('many.sock')
        d = self.start('-S', p, interactive=False, stdin=subprocess.DEVNULL)
        nclients, rounds = 60, 20
        clients = [self.connect(p) for _ in range(nclients)]
        sel = selectors.DefaultSelector()
        done = {}
        for i, c in enumerate(clients):
            done[i] = 0
            sel.register(c.sock, selectors.EVENT_READ, i)
            c.send('echo\tc%d\tr0' % i)
        deadline = time.monotonic() + 30
        remaining = nclients
        while remaining:
            self.assertLess(time.monotonic(), deadline, 'round trips did not complete')
            for key, _ in sel.select(1.0):
                i = key.data
                c = clients[i]
                for line in c.reader.available():
                    self.assertEqual(line, 'c%d\tr%d' % (i, done[i]))
                    done[i] += 1
                    if done[i] == rounds:
                        remaining -= 1
                        sel.unregister(c.sock)
                    else:
                        c.send('echo\tc%d\tr%d' % (i, done[i]))
                if c.reader.eof:
                    self.fail('client %d got EOF' % i)
        sel.close()

    def test_256_concurrent_clients(self):
        p = self.path('c256.sock')
        d = self.start('-S', p, interactive=False, stdin=subprocess.DEVNULL)
        clients = [self.connect(p) for _ in range(256)]
        for i, c in enumerate(clients):
            c.send('echo\tclient-%d' % i)
        for i, c in enumerate(clients):
            self.assertEqual(c.readline(), 'client-%d' % i)
        # and again, all still connected
        for i, c in enumerate(clients):
            c.send('echo\tagain-%d' % i)
        for i, c in enumerate(clients):
            self.assertEqual(c.readline(), 'again-%d' % i)
        self.assertTrue(d.alive())
