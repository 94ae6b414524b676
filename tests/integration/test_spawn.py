"""docs/protocol.md, Services (the child) and service.fds: what a child gets — exactly its configured
fds at 0..N-1, default signal dispositions, an empty mask, daemonproxy's
environment, argv from service.args (PATH search) — and how exec failures
and undefined handles are reported."""

import json
import os
import shutil
import stat

from svc_util import SvcTest, PY, children, wait_cmdline

# Lists its open fds FIRST (fstat probing opens nothing; os.listdir would
# open a directory fd), then records details and writes them with os.open.
PROBE = r'''
import os
fds = []
for fd in range(0, 65536):
    try:
        os.fstat(fd)
    except OSError:
        continue
    fds.append(fd)
import fcntl, json, stat, sys
info = {}
for fd in fds:
    st = os.fstat(fd)
    try:
        link = os.readlink('/proc/self/fd/%d' % fd)
    except OSError:
        link = None
    info[str(fd)] = {'mode': st.st_mode, 'dev': st.st_dev, 'ino': st.st_ino, 'link': link,
                     'acc': fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE}
with open('/proc/self/cmdline', 'rb') as f:
    argv = [a.decode() for a in f.read().split(b'\0')[:-1]]
out = {'fds': fds, 'info': info, 'env': dict(os.environ), 'argv': argv,
       'ppid': os.getppid(), 'pgid': os.getpgid(0), 'sid': os.getsid(0), 'pid': os.getpid()}
path = sys.argv[1]
fd = os.open(path + '.tmp', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(out).encode())
os.close(fd)
os.rename(path + '.tmp', path)
'''


class Spawn(SvcTest):
    def setUp(self):
        super().setUp()
        self.probe = self.script('probe.py', PROBE)

    def run_probe(self, d, name, fds, out='probe.json', args=None):
        """Run the probe as service NAME with the given fds; returns its record."""
        outp = self.path(out)
        self.define(d, name, args or [PY, self.probe, outp], fds=fds)
        d.send('service.start\t' + name)
        up = self.expect_state(d, name, 'up')
        down = self.expect_state(d, name, 'down')
        self.assertEqual(down[5:7], ['exit', '0'], 'probe failed: %r' % (d.log.snapshot()[-10:],))
        with open(outp) as f:
            rec = json.load(f)
        self.assertEqual(rec['pid'], int(up[4]))
        return rec

    def test_fds_mapped_exactly(self):
        d = self.start()
        data = self.write_file('data.txt', 'hello')
        d.cmd('fd.open\tdata\tread\t' + data, 'fd.pipe\tpr\tpw')
        rec = self.run_probe(d, 'p', ['null', 'pw', '-', 'data', 'stderr'])
        self.assertEqual(rec['fds'], [0, 1, 3, 4])
        info = rec['info']
        devnull = os.stat('/dev/null')
        self.assertEqual((info['0']['dev'], info['0']['ino']), (devnull.st_dev, devnull.st_ino))
        self.assertEqual(info['0']['acc'], os.O_RDWR)
        self.assertTrue(stat.S_ISFIFO(info['1']['mode']))
        self.assertEqual(info['1']['acc'], os.O_WRONLY)
        # fd 1 is the daemon's pw pipe, not some other pipe
        dp_links = set()
        for fd in os.listdir('/proc/%d/fd' % d.pid):
            try:
                dp_links.add(os.readlink('/proc/%d/fd/%s' % (d.pid, fd)))
            except OSError:
                pass
        self.assertIn(info['1']['link'], dp_links)
        st = os.stat(data)
        self.assertEqual((info['3']['dev'], info['3']['ino']), (st.st_dev, st.st_ino))
        self.assertEqual(info['3']['acc'], os.O_RDONLY)
        err = os.fstat(d.proc.stderr.fileno())
        self.assertEqual((info['4']['dev'], info['4']['ino']), (err.st_dev, err.st_ino))

    def test_same_handle_twice_and_reordered(self):
        d = self.start()
        a = self.write_file('a.txt', 'a')
        b = self.write_file('b.txt', 'b')
        d.cmd('fd.open\tfa\tread\t' + a, 'fd.open\tfb\tread\t' + b)
        rec = self.run_probe(d, 'p', ['fb', 'fa', 'fb', 'fa'])
        self.assertEqual(rec['fds'], [0, 1, 2, 3])
        ia, ib = os.stat(a).st_ino, os.stat(b).st_ino
        self.assertEqual([rec['info'][str(i)]['ino'] for i in range(4)], [ib, ia, ib, ia])

    def test_many_fds_plain_spawn_path(self):
        # More fds than the fast path's 32 reserved slots: the plain clone
        # path must map them just as exactly (with 300 handles held).
        d = self.start()
        files = []
        for i in range(40):
            files.append(self.write_file('f%02d.txt' % i, str(i)))
        d.cmd(*['fd.open\tf%02d\tread\t%s' % (i, f) for i, f in enumerate(files)])
        d.cmd(*['fd.open\tx%03d\tread\t/dev/null' % i for i in range(300)])
        order = ['f%02d' % i for i in reversed(range(40))]
        rec = self.run_probe(d, 'many', order)
        self.assertEqual(rec['fds'], list(range(40)))
        inos = [os.stat(files[39 - i]).st_ino for i in range(40)]
        self.assertEqual([rec['info'][str(i)]['ino'] for i in range(40)], inos)

    def test_no_handles_no_fds(self):
        d = self.start()
        rec = self.run_probe(d, 'bare', [], args=['/usr/bin/python3', self.probe, self.path('probe.json')])
        self.assertEqual(rec['fds'], [], 'service.fds with no handles: no open fds at all')

    def test_all_closed(self):
        d = self.start()
        rec = self.run_probe(d, 'closed', ['-', '-', '-', 'null'])
        self.assertEqual(rec['fds'], [3])

    def test_default_fds_are_null(self):
        d = self.start()
        outp = self.path('probe.json')
        d.cmd('service.args\tdflt\t%s\t%s\t%s' % (PY, self.probe, outp))
        d.send('service.start\tdflt')
        self.expect_state(d, 'dflt', 'down')
        with open(outp) as f:
            rec = json.load(f)
        self.assertEqual(rec['fds'], [0, 1, 2])
        devnull = os.stat('/dev/null')
        for i in '012':
            self.assertEqual(rec['info'][i]['ino'], devnull.st_ino)

    def test_2000_handles_not_leaked(self):
        d = self.start()
        n = 2000
        out = self.bulk(d, ['fd.open\th%d\tread\t/dev/null' % i for i in range(n)])
        self.assertEqual(len(out), n)
        self.assertFalse([l for l in out if not l.startswith('fd.state\th')], out[:5])
        self.assertGreater(d.fd_count(), n)
        rec = self.run_probe(d, 'p', ['null', 'h1999', 'stderr'])
        self.assertEqual(rec['fds'], [0, 1, 2])
        # and a control socket pair is not leaked into a plain child either
        rec = self.run_probe(d, 'p2', ['h0', 'h1', 'h2', 'h3', 'h4'], out='p2.json')
        self.assertEqual(rec['fds'], [0, 1, 2, 3, 4])

    def test_signal_state_is_default(self):
        # daemonproxy inherits ignored SIGUSR2/SIGHUP/SIGPIPE and a blocked
        # SIGALRM (python's exec keeps them); children must see none of it.
        wrapper = ('import os, signal, sys\n'
                   'signal.signal(signal.SIGUSR2, signal.SIG_IGN)\n'
                   'signal.signal(signal.SIGHUP, signal.SIG_IGN)\n'
                   'signal.signal(signal.SIGPIPE, signal.SIG_IGN)\n'
                   'signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGUSR1})\n'
                   'os.execv(sys.argv[1], sys.argv[1:])\n')
        w = self.script('wrap.py', wrapper)
        d = self.start(prefix=[PY, w])
        d.ping()
        out = self.path('status.txt')
        d.cmd('fd.open\tst\twrite,create,trunc\t' + out)
        self.define(d, 'cat', ['cat', '/proc/self/status'], fds=['null', 'st', 'stderr'])
        d.send('service.start\tcat')
        self.expect_state(d, 'cat', 'down')
        fields = {}
        with open(out) as f:
            for line in f:
                k, _, v = line.partition(':')
                fields[k] = v.strip()
        self.assertEqual(int(fields['SigBlk'], 16), 0, 'signal mask must be empty')
        self.assertEqual(int(fields['SigIgn'], 16), 0, 'no ignored signals')
        self.assertEqual(int(fields['SigCgt'], 16), 0, 'cat catches nothing')
        self.assertEqual(int(fields['SigPnd'], 16), 0)

    def test_environment_argv_path(self):
        env = dict(os.environ, DP_SPAWN_TEST_VAR='value with\ttab')
        d = self.start(env=env)
        rec = self.run_probe(d, 'p', ['null', 'null', 'null'])
        self.assertEqual(rec['env'].get('DP_SPAWN_TEST_VAR'), 'value with\ttab')
        self.assertEqual(rec['argv'], [PY, self.probe, self.path('probe.json')])
        self.assertEqual(rec['ppid'], d.pid)
        # argv[0] is ARG1 as given, found in PATH
        d.cmd('service.args\ts\tsleep\t30')
        pid = self.start_svc(d, 's')
        self.assertEqual(wait_cmdline(pid), [b'sleep', b'30'])
        self.assertEqual(os.path.realpath('/proc/%d/exe' % pid),
                         os.path.realpath(shutil.which('sleep')))

    def test_path_of_daemon_is_used(self):
        bindir = self.path('bin')
        os.mkdir(bindir)
        tool = os.path.join(bindir, 'dp-private-tool')
        with open(tool, 'w') as f:
            f.write('#!/bin/sh\necho private-tool-ran > "$1"\n')
        os.chmod(tool, 0o755)
        env = dict(os.environ, PATH=bindir + ':' + os.environ.get('PATH', '/usr/bin:/bin'))
        d = self.start(env=env)
        out = self.path('tool.out')
        d.cmd('service.args\tt\tdp-private-tool\t' + out)
        d.send('service.start\tt')
        self.assertEqual(self.expect_state(d, 't', 'down')[5:7], ['exit', '0'])
        with open(out) as f:
            self.assertEqual(f.read(), 'private-tool-ran\n')

    def test_exec_failure_reported(self):
        d = self.start()
        for name, prog in (('abs', '/nonexistent/dp-no-such-prog'), ('rel', 'dp-no-such-prog-xyz')):
            d.cmd('service.args\t%s\t%s\targ' % (name, prog))
            d.send('service.start\t' + name)
            f = self.expect_state(d, name, 'down')
            lines = d.skipped + d.cmd()
            errs = [l for l in lines if l.startswith('error\t')]
            self.assertEqual(len(errs), 1, lines)
            self.assertIn(name, errs[0])
            self.assertIn('No such file or directory', errs[0])
            self.assertNotEqual(f[3], '-', 'down after a start attempt: %r' % f)
            self.assertEqual(self.dump_state(d, name)[2], 'down')
        self.assertTrue(d.alive())

    def test_exec_failure_broadcast_on_auto_up(self):
        sock = self.path('x.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        d.cmd('service.args\tauto\t/nonexistent/dp-prog')
        d.send('service.auto_up\tauto\t1\talways')
        self.expect_state(d, 'auto', 'down')
        d.send('service.auto_up\tauto\t-')
        e = c.expect(lambda l: l.startswith('error\t'))
        self.assertIn('auto', e)
        self.assertIn('No such file or directory', e)
        c.expect(lambda l: l.startswith('service.state\tauto\tdown\t'))

    def test_exec_permission_denied(self):
        d = self.start()
        noexec = self.write_file('noexec.sh', '#!/bin/sh\nexit 0\n')
        os.chmod(noexec, 0o644)
        d.cmd('service.args\tpd\t' + noexec)
        d.send('service.start\tpd')
        self.expect_state(d, 'pd', 'down')
        errs = [l for l in d.skipped + d.cmd() if l.startswith('error\t')]
        self.assertTrue(errs and 'pd' in errs[0] and 'Permission denied' in errs[0], errs)

    def test_undefined_handle_at_start(self):
        d = self.start()
        d.cmd('service.args\tu\tsleep\t30')
        out = d.cmd('service.fds\tu\tnull\tno-such-handle\tnull')
        self.assertTrue([l for l in out if l.startswith('warning\t')])
        out = d.cmd('service.start\tu')
        self.assertTrue([l for l in out if l.startswith('error\t') and 'no-such-handle' in l], out)
        self.assertFalse([l for l in out if l.startswith('service.state\tu\tup')], out)
        self.assertIn('service.state\tu\tdown\t-\t-\t-\t-\t-\t-', self.dump(d))
        self.assertEqual(children(d.pid), [])
        # once the handle exists, the same service starts
        d.cmd('fd.pipe\tno-such-handle\tother-end')
        self.start_svc(d, 'u')

    def test_fd_limit_of_a_child(self):
        # 1,024 fds (0 to 1023) is what a child can be given: exactly that
        # many start; one more is refused with the limit named (not "fork
        # failed: Too many open files"), and nothing is started
        d = self.start()
        rec = self.run_probe(d, 'max', ['-'] * 1023 + ['null'])
        self.assertEqual(rec['fds'], [1023])
        d.cmd('service.args\tover\tsleep\t30', '\t'.join(['service.fds', 'over'] + ['-'] * 1025))
        out = d.cmd('service.start\tover')
        self.assertEqual([l for l in out if l.startswith('error\t')],
                         ['error\tservice over: 1025 fds in service.fds: a child can be given at '
                          'most 1024, for command "service.start\tover"'])
        self.assertIn('service.state\tover\tdown\t-\t-\t-\t-\t-\t-', self.dump(d))
        self.assertEqual(children(d.pid), [])

    def test_no_controller_or_socket_fds_leak(self):
        sock = self.path('leak.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        d.cmd('fd.socket\tls\tunix,listen\t' + self.path('l.sock'), 'fd.pipe\tr\tw\tunix,dgram')
        self.define(d, 'holder', ['sleep', '30'], fds=['control.socket'])
        self.start_svc(d, 'holder')
        rec = self.run_probe(d, 'p', ['null', 'null', 'null'])
        self.assertEqual(rec['fds'], [0, 1, 2])
        # another controller service gets its own socket, nothing else
        rec = self.run_probe(d, 'p2', ['null', 'control.socket', 'null'], out='p2.json')
        self.assertEqual(rec['fds'], [0, 1, 2])
        self.assertTrue(stat.S_ISSOCK(rec['info']['1']['mode']))

    def test_children_run_in_daemon_cwd(self):
        d = self.start()
        wd = self.path('work dir')
        os.mkdir(wd)
        out = self.path('pwd.txt')
        self.assertSilent(d, 'chdir\t' + wd)
        d.cmd('fd.open\tpwd\twrite,create\t' + out)
        self.define(d, 'pwd', ['pwd', '-P'], fds=['null', 'pwd', 'stderr'])
        d.send('service.start\tpwd')
        self.expect_state(d, 'pwd', 'down')
        with open(out) as f:
            self.assertEqual(f.read(), os.path.realpath(wd) + '\n')
