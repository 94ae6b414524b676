"""docs/protocol.md, Handles and Handle commands: named handles — fd.pipe, fd.open, fd.socket, fd.take,
fd.delete, constants, inherited fd_N, name rules, log.dest."""

import array
import errno
import os
import socket
import stat

from dp import TIMEOUT
from svc_util import SvcTest, PY, free_port, have_ipv6


def fd_state(out, name):
    for l in out:
        if l.startswith('fd.state\t%s\t' % name) or l == 'fd.state\t%s\tdeleted' % name:
            return l
    return None


class Pipes(SvcTest):
    def test_plain_pipe(self):
        d = self.start()
        self.assertEqual(d.cmd('fd.pipe\tr\tw'), ['fd.state\tr\tpipe\tfrom\tw',
                                                  'fd.state\tw\tpipe\tto\tr'])
        dump = self.dump(d)
        self.assertIn('fd.state\tr\tpipe\tfrom\tw', dump)
        self.assertIn('fd.state\tw\tpipe\tto\tr', dump)

    def test_nonblock_pipe(self):
        d = self.start()
        self.assertEqual(d.cmd('fd.pipe\tr\tw\tnonblock'),
                         ['fd.state\tr\tpipe\tnonblock,from\tw', 'fd.state\tw\tpipe\tnonblock,to\tr'])

    def test_socketpairs(self):
        d = self.start()
        for flags, shown in (('unix,stream', 'unix,stream'), ('stream', 'unix,stream'),
                             ('unix', 'unix,stream'), ('unix,dgram', 'unix,dgram'),
                             ('dgram,unix', 'unix,dgram'), ('unix,seqpacket', 'unix,seqpacket'),
                             ('unix,stream,nonblock', 'unix,stream,nonblock'),
                             ('nonblock,seqpacket', 'unix,seqpacket,nonblock')):
            self.assertEqual(d.cmd('fd.pipe\ta\tb\t' + flags),
                             ['fd.state\ta\tpipe\t%s,to\tb' % shown,
                              'fd.state\tb\tpipe\t%s,to\ta' % shown], flags)

    def test_pipe_carries_data_between_services(self):
        d = self.start()
        out = self.path('through.txt')
        d.cmd('fd.pipe\tr\tw', 'fd.open\tout\twrite,create\t' + out)
        self.define(d, 'writer', ['sh', '-c', 'echo through-the-pipe'], fds=['null', 'w', 'null'])
        self.define(d, 'reader', ['head', '-n', '1'], fds=['r', 'out', 'null'])
        d.send('service.start\treader')
        self.expect_state(d, 'reader', 'up')
        d.send('service.start\twriter')
        self.expect_state(d, 'reader', 'down')
        with open(out) as f:
            self.assertEqual(f.read(), 'through-the-pipe\n')

    def test_pipe_errors(self):
        d = self.start()
        self.assertCmdError(d, 'fd.pipe\ta\tb\tbogus')
        self.assertCmdError(d, 'fd.pipe\ta\tb/c')
        self.assertIsNone(fd_state(self.dump(d), 'a'))

    def test_pipe_replaces_existing(self):
        d = self.start()
        d.cmd('fd.pipe\tr\tw')
        self.assertEqual(d.cmd('fd.pipe\tw\tx'), ['fd.state\tw\tpipe\tfrom\tx',
                                                  'fd.state\tx\tpipe\tto\tw'])
        dump = self.dump(d)
        self.assertIn('fd.state\tr\tpipe\tfrom\t?', dump)


class Files(SvcTest):
    def test_open_flags_canonical(self):
        d = self.start()
        existing = self.write_file('e.txt', 'data\n')
        cases = [
            ('read', 'read', existing),
            ('write', 'write', existing),
            ('write,read', 'read,write', existing),
            ('read,write', 'read,write', existing),
            ('create,write', 'write,create', self.path('c1.txt')),
            ('trunc,create,write', 'write,create,trunc', self.path('c2.txt')),
            ('append,write', 'write,append', existing),
            ('nonblock,read', 'read,nonblock', existing),
            ('mkdir,nonblock,trunc,create,append,write', 'write,append,create,trunc,nonblock,mkdir',
             self.path('m/n/all.txt')),
            ('read,write,create,mkdir', 'read,write,create,mkdir', self.path('m2/rw.txt')),
        ]
        for i, (given, shown, path) in enumerate(cases):
            self.assertEqual(d.cmd('fd.open\tf%d\t%s\t%s' % (i, given, path)),
                             ['fd.state\tf%d\tfile\t%s\t%s' % (i, shown, path)], given)
        dump = self.dump(d)
        for i, (given, shown, path) in enumerate(cases):
            self.assertIn('fd.state\tf%d\tfile\t%s\t%s' % (i, shown, path), dump)

    def test_open_access_modes_real(self):
        d = self.start()
        p = self.write_file('acc.txt', 'x')
        d.cmd('fd.open\tr\tread\t' + p, 'fd.open\tw\twrite\t' + p, 'fd.open\trw\tread,write\t' + p,
              'fd.open\ta\twrite,append\t' + p)
        modes = {}
        for fd in os.listdir('/proc/%d/fd' % d.pid):
            try:
                if os.readlink('/proc/%d/fd/%s' % (d.pid, fd)) != p:
                    continue
                with open('/proc/%d/fdinfo/%s' % (d.pid, fd)) as f:
                    flags = int([l for l in f if l.startswith('flags:')][0].split()[1], 8)
                modes.setdefault(flags & (os.O_ACCMODE | os.O_APPEND), 0)
                modes[flags & (os.O_ACCMODE | os.O_APPEND)] += 1
            except OSError:
                pass
        self.assertEqual(modes, {os.O_RDONLY: 1, os.O_WRONLY: 1, os.O_RDWR: 1,
                                 os.O_WRONLY | os.O_APPEND: 1})

    def test_create_mode_and_mkdir_mode(self):
        d = self.start()
        p = self.path('a/b/c/new.txt')
        d.cmd('fd.open\tn\twrite,create,mkdir\t' + p)
        self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600)
        for sub in ('a', 'a/b', 'a/b/c'):
            st = os.stat(self.path(sub))
            self.assertTrue(stat.S_ISDIR(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o700, sub)

    def test_relative_path_after_chdir(self):
        d = self.start()
        os.mkdir(self.path('wd'))
        self.assertSilent(d, 'chdir\t' + self.path('wd'))
        self.assertEqual(d.cmd('fd.open\trel\twrite,create\trel.txt'),
                         ['fd.state\trel\tfile\twrite,create\trel.txt'])
        self.assertTrue(os.path.exists(self.path('wd/rel.txt')))

    def test_open_errors(self):
        d = self.start()
        self.assertCmdError(d, 'fd.open\tx\tread\t' + self.path('missing.txt'),
                            'open failed: No such file or directory')
        self.assertCmdError(d, 'fd.open\tx\twrite\t' + self.tmp, 'open failed: Is a directory')
        self.assertCmdError(d, 'fd.open\tx\twrite,create\t' + self.path('nodir/x.txt'),
                            'open failed: No such file or directory')
        self.assertCmdError(d, 'fd.open\tx\tread,bogus\t/dev/null')
        self.assertCmdError(d, 'fd.open\tx/y\tread\t/dev/null')
        self.assertIsNone(fd_state(self.dump(d), 'x'))

    def test_failed_open_keeps_old_handle(self):
        d = self.start()
        p = self.write_file('keep.txt', '')
        d.cmd('fd.open\tk\tread\t' + p)
        self.assertCmdError(d, 'fd.open\tk\tread\t' + self.path('missing'), 'open failed')
        self.assertIn('fd.state\tk\tfile\tread\t' + p, self.dump(d))


class Sockets(SvcTest):
    def test_unix_listen(self):
        d = self.start()
        p = self.path('l.sock')
        self.assertEqual(d.cmd('fd.socket\tls\tunix,listen\t' + p),
                         ['fd.state\tls\tsocket\tunix,stream,bind,listen=32\t' + p])
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(p)
        s.close()
        # ADDR alone implies bind
        p2 = self.path('b.sock')
        self.assertEqual(d.cmd('fd.socket\tbs\tunix\t' + p2),
                         ['fd.state\tbs\tsocket\tunix,stream,bind\t' + p2])
        self.assertTrue(stat.S_ISSOCK(os.stat(p2).st_mode))

    def test_unix_dgram_mkdir_nonblock(self):
        d = self.start()
        p = self.path('x/y/d.sock')
        self.assertEqual(d.cmd('fd.socket\tud\tdgram,mkdir,nonblock\t' + p),
                         ['fd.state\tud\tsocket\tunix,dgram,bind,mkdir,nonblock\t' + p])
        self.assertEqual(stat.S_IMODE(os.stat(self.path('x/y')).st_mode), 0o700)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b'hi', p)
        s.close()
        p2 = self.path('sp.sock')
        self.assertEqual(d.cmd('fd.socket\tsp\tseqpacket,listen=5\t' + p2),
                         ['fd.state\tsp\tsocket\tunix,seqpacket,bind,listen=5\t' + p2])

    def test_tcp(self):
        d = self.start()
        port = free_port()
        self.assertEqual(d.cmd('fd.socket\tt\tinet,stream,listen=11\t*:%d' % port),
                         ['fd.state\tt\tsocket\tinet,stream,bind,listen=11\t*:%d' % port])
        c = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
        c.close()
        port2 = free_port()
        self.assertEqual(d.cmd('fd.socket\tt2\ttcp,listen\t127.0.0.1:%d' % port2),
                         ['fd.state\tt2\tsocket\tinet,stream,bind,listen=32\t127.0.0.1:%d' % port2])
        c = socket.create_connection(('127.0.0.1', port2), timeout=TIMEOUT)
        c.close()

    def test_udp(self):
        d = self.start()
        port = free_port(socket.SOCK_DGRAM)
        self.assertEqual(d.cmd('fd.socket\tu\tudp\t127.0.0.1:%d' % port),
                         ['fd.state\tu\tsocket\tinet,dgram,bind\t127.0.0.1:%d' % port])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with self.assertRaises(OSError) as cm:
                s.bind(('127.0.0.1', port))
            self.assertEqual(cm.exception.errno, errno.EADDRINUSE)
        finally:
            s.close()

    def test_inet6(self):
        if not have_ipv6():
            self.skipTest('no IPv6 loopback')
        d = self.start()
        port = free_port(family=socket.AF_INET6, host='::1')
        self.assertEqual(d.cmd('fd.socket\tv6\tinet6,stream,listen\t[::1]:%d' % port),
                         ['fd.state\tv6\tsocket\tinet6,stream,bind,listen=32\t[::1]:%d' % port])
        c = socket.create_connection(('::1', port), timeout=TIMEOUT)
        c.close()

    def test_bind_conflict(self):
        d = self.start()
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.bind(('127.0.0.1', 0))
        holder.listen(1)
        self.on_cleanup(holder.close)
        port = holder.getsockname()[1]
        self.assertCmdError(d, 'fd.socket\tc\ttcp,listen\t127.0.0.1:%d' % port,
                            'bind: Address already in use')
        self.assertIsNone(fd_state(self.dump(d), 'c'))

    def test_socket_errors(self):
        d = self.start()
        self.assertCmdError(d, 'fd.socket\ts\tunix,bogus\t' + self.path('e.sock'))
        self.assertCmdError(d, 'fd.socket\ts\ttcp,listen\tnot-an-address')
        self.assertCmdError(d, 'fd.socket\ts\tunix,listen\t' + self.path('nodir/e.sock'), 'bind')

    def test_listening_socket_given_to_service(self):
        d = self.start()
        p = self.path('svc.sock')
        d.cmd('fd.socket\tls\tunix,listen\t' + p)
        code = ('import socket\n'
                's = socket.socket(fileno=0)\n'
                'c, _ = s.accept()\n'
                'c.sendall(b"served\\n")\n')
        srv = self.script('srv.py', code)
        self.define(d, 'srv', [PY, srv], fds=['ls', 'null', 'stderr'])
        self.start_svc(d, 'srv')
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(TIMEOUT)
        c.connect(p)
        self.assertEqual(c.recv(100), b'served\n')
        c.close()
        self.assertEqual(self.expect_state(d, 'srv', 'down')[5:7], ['exit', '0'])


class TakeDelete(SvcTest):
    def test_fd_take(self):
        sock = self.path('take.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        r, w = os.pipe()
        try:
            c.sock.sendmsg([b'fd.take\tgot\n'],
                           [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [w]))])
            line = c.expect(lambda l: l.startswith('fd.state\tgot\t') or l.startswith('error'))
            self.assertTrue(line.startswith('fd.state\tgot\t'), line)
            os.close(w)
            w = -1
            self.assertTrue(fd_state(self.dump(d), 'got'))
            # the taken fd works: a service writes into it
            self.define(d, 'w', ['sh', '-c', 'echo taken-ok'], fds=['null', 'got', 'null'])
            d.send('service.start\tw')
            self.expect_state(d, 'w', 'down')
            d.cmd('fd.delete\tgot')
            data = b''
            while True:
                chunk = os.read(r, 100)
                if not chunk:
                    break
                data += chunk
            self.assertEqual(data, b'taken-ok\n')
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        # without an fd: error
        c.cmd()     # drain the broadcasts of the above
        self.assertError(c.cmd1('fd.take\tnothing'))
        self.assertIsNone(fd_state(self.dump(d), 'nothing'))

    def test_fd_take_on_interactive_is_error(self):
        d = self.start()
        self.assertError(d.cmd1('fd.take\tx'))

    def test_delete_and_peer(self):
        d = self.start()
        d.cmd('fd.pipe\tr\tw')
        self.assertEqual(d.cmd('fd.delete\tr'), ['fd.state\tr\tdeleted'])
        dump = self.dump(d)
        self.assertIn('fd.state\tw\tpipe\tto\t?', dump)
        self.assertIsNone(fd_state(dump, 'r'))
        self.assertCmdError(d, 'fd.delete\tr')
        self.assertEqual(d.cmd('fd.delete\tw'), ['fd.state\tw\tdeleted'])
        n = d.fd_count()
        d.cmd('fd.pipe\tr\tw')
        self.assertEqual(d.fd_count(), n + 2)
        d.cmd('fd.delete\tr', 'fd.delete\tw')
        self.assertEqual(d.fd_count(), n, 'fd.delete closes the fd')

    def test_constants(self):
        d = self.start()
        before = [l for l in self.dump(d) if l.startswith('fd.state\t')]
        self.assertIn('fd.state\tnull\tspecial\tread,write\t/dev/null', before)
        for name in ('null', 'control.event', 'control.cmd', 'control.socket'):
            self.assertCmdError(d, 'fd.delete\t' + name)
            self.assertCmdError(d, 'fd.open\t%s\tread\t/dev/zero' % name)
            self.assertCmdError(d, 'fd.pipe\t%s\tzz' % name)
            self.assertCmdError(d, 'fd.pipe\tzz\t' + name)
            self.assertCmdError(d, 'fd.socket\t%s\tunix' % name)
        after = [l for l in self.dump(d) if l.startswith('fd.state\t')]
        self.assertEqual(before, after)

    def test_std_handles_replaceable(self):
        d = self.start()
        dump = self.dump(d)
        for name in ('stdin', 'stdout', 'stderr'):
            self.assertTrue(fd_state(dump, name), name)
        out = self.path('o.txt')
        self.assertEqual(d.cmd('fd.open\tstdout\twrite,create\t' + out),
                         ['fd.state\tstdout\tfile\twrite,create\t' + out])
        self.assertEqual(d.cmd('fd.pipe\tstdin\tfeed'),
                         ['fd.state\tstdin\tpipe\tfrom\tfeed', 'fd.state\tfeed\tpipe\tto\tstdin'])
        self.assertEqual(d.cmd('fd.delete\tstderr'), ['fd.state\tstderr\tdeleted'])
        self.define(d, 'e', ['sh', '-c', 'echo to-new-stdout'], fds=['stdin', 'stdout', 'null'])
        d.send('service.start\te')
        self.expect_state(d, 'e', 'down')
        with open(out) as f:
            self.assertEqual(f.read(), 'to-new-stdout\n')

    def test_inherited_fd_n(self):
        r, w = os.pipe()
        self.on_cleanup(lambda: os.close(r))
        try:
            d = self.start(pass_fds=(w,))
        finally:
            os.close(w)
        line = fd_state(self.dump(d), 'fd_%d' % w)
        self.assertTrue(line, 'inherited fd %d registered as fd_%d' % (w, w))
        self.assertEqual(line.split('\t')[3], 'write')
        self.define(d, 'inh', ['sh', '-c', 'echo via-inherited'], fds=['null', 'fd_%d' % w, 'null'])
        d.send('service.start\tinh')
        self.expect_state(d, 'inh', 'down')
        d.cmd('fd.delete\tfd_%d' % w)
        self.assertEqual(os.read(r, 100), b'via-inherited\n')
        self.assertEqual(os.read(r, 100), b'', 'daemonproxy closed its copy')

    def test_handle_names(self):
        d = self.start()
        ok31 = 'n' * 31
        self.assertEqual(d.cmd('fd.open\t%s\tread\t/dev/null' % ok31),
                         ['fd.state\t%s\tfile\tread\t/dev/null' % ok31])
        self.assertEqual(d.cmd('fd.open\tA-z_0.9\tread\t/dev/null'),
                         ['fd.state\tA-z_0.9\tfile\tread\t/dev/null'])
        for bad in ('n' * 32, 'n' * 40, 'a/b', 'a b', 'a:b', 'a,b', 'ä', 'a*'):
            self.assertCmdError(d, 'fd.open\t%s\tread\t/dev/null' % bad)
            self.assertCmdError(d, 'fd.pipe\t%s\tok' % bad)
        self.assertIsNone(fd_state(self.dump(d), 'ok'))


class LogDest(SvcTest):
    def test_log_to_pipe(self):
        d = self.start()
        logfile = self.path('piped.log')
        d.cmd('fd.pipe\tlog.r\tlog.w', 'fd.open\tlogfile\twrite,create\t' + logfile)
        self.define(d, 'logcat', ['cat'], fds=['log.r', 'logfile', 'null'])
        self.start_svc(d, 'logcat')
        self.assertSilent(d, 'log.dest\tfd\tlog.w')
        d.cmd('bogus_cmd_for_pipe_log')
        self.wait_text(logfile, lambda t: 'bogus_cmd_for_pipe_log' in t)
        self.assertTrue([l for l in self.read_text(logfile).splitlines()
                         if l.startswith('error: ') and 'unknown command bogus_cmd_for_pipe_log' in l])
        self.assertFalse([l for l in d.log.snapshot() if 'bogus_cmd_for_pipe_log' in l],
                         'no longer logged to stderr')

    def test_log_dest_not_yet_existing(self):
        d = self.start()
        out = d.cmd('log.dest\tfd\tlater.log')
        self.assertEqual(len(out), 1, out)
        self.assertTrue(out[0].startswith('warning\t'), out)
        f = self.path('later.log')
        d.cmd('fd.open\tlater.log\twrite,create\t' + f)
        d.cmd('bogus_cmd_after_appear')
        self.wait_text(f, lambda t: 'unknown command bogus_cmd_after_appear' in t)

    def test_log_follows_replaced_handle(self):
        d = self.start()
        f1, f2 = self.path('one.log'), self.path('two.log')
        d.cmd('fd.open\tlg\twrite,create\t' + f1)
        self.assertSilent(d, 'log.dest\tfd\tlg')
        d.cmd('bogus_cmd_one')
        self.wait_text(f1, lambda t: 'bogus_cmd_one' in t)
        d.cmd('fd.open\tlg\twrite,create\t' + f2)
        d.cmd('bogus_cmd_two')
        self.wait_text(f2, lambda t: 'bogus_cmd_two' in t)
        self.assertNotIn('bogus_cmd_two', self.read_text(f1))
        # deleted, then re-created: logging resumes there
        d.cmd('fd.delete\tlg')
        f3 = self.path('three.log')
        d.cmd('fd.open\tlg\twrite,create\t' + f3)
        d.cmd('bogus_cmd_three')
        self.wait_text(f3, lambda t: 'bogus_cmd_three' in t)

    def test_log_dest_errors(self):
        d = self.start()
        self.assertCmdError(d, 'log.dest\tfile\tx')
        self.assertCmdError(d, 'log.dest\tfd\tbad/name')

    def test_log_dest_fd_made_nonblocking(self):
        d = self.start()
        d.ping()

        def fds():
            out = []
            for fd in os.listdir('/proc/%d/fd' % d.pid):
                try:
                    link = os.readlink('/proc/%d/fd/%s' % (d.pid, fd))
                    with open('/proc/%d/fdinfo/%s' % (d.pid, fd)) as f:
                        flags = int([l for l in f if l.startswith('flags:')][0].split()[1], 8)
                except OSError:
                    continue
                out.append((int(fd), link, flags))
            return out
        old_links = set(link for fd, link, fl in fds())
        d.cmd('fd.pipe\tlr\tlw')
        links = set(link for fd, link, fl in fds()) - old_links
        self.assertEqual(len(links), 1, links)
        self.assertSilent(d, 'log.dest\tfd\tlw')
        d.cmd('bogus_cmd_nonblock')      # something gets logged
        w_ends = [(fd, fl) for fd, link, fl in fds()
                  if link in links and fl & os.O_ACCMODE == os.O_WRONLY]
        self.assertTrue([fd for fd, fl in w_ends if fl & os.O_NONBLOCK],
                        'log.dest writes through a non-blocking fd: %r' % w_ends)


class InteractiveStd(SvcTest):
    def test_stdin_stdout_repointed_with_i(self):
        d = self.start()
        dump = self.dump(d)
        for name in ('stdin', 'stdout'):
            line = fd_state(dump, name)
            self.assertTrue(line and line.endswith('\t/dev/null'), line)
        self.assertFalse(fd_state(dump, 'stderr').endswith('\t/dev/null'))
        d.cmd('service.args\tleak\tsh\t-c\techo LEAKED-INTO-CONTROLLER; cat',
              'service.fds\tleak\tstdin\tstdout\tstdout')
        d.send('service.start\tleak')
        self.expect_state(d, 'leak', 'up')
        self.assertEqual(self.expect_state(d, 'leak', 'down')[5:7], ['exit', '0'],
                         'cat on the stdin handle reads EOF (/dev/null)')
        lines = d.skipped + d.cmd()
        self.assertNotIn('LEAKED-INTO-CONTROLLER', d.reader.seen, lines)
