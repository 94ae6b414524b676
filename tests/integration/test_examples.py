"""The original manual's examples (docs/daemonproxy.1, EXAMPLES), end to end with real processes:
a service with a logger that survives restarts of either side, and a
controller script (from a -c config) that daemonproxy restarts if it dies.
And the README's sessions: the quick start's, replayed line for line, and
the dpctl session with examples/demo.conf."""

import os
import re
import signal
import subprocess

from dp import REPO, TIMEOUT, VALGRIND_DIR, binary, try_connect, wait_for
from svc_util import SvcTest, PY, CTL, comparable

TOTAL = 2000

# The "mysqld": writes numbered lines "SEQ PID" to stdout (the pipe), one
# write per line (atomic: < PIPE_BUF), and after each one appends the same
# line to its own record.  A restarted writer continues after the last
# recorded SEQ.  So a kill between the two writes leaves exactly one line
# that reached the pipe without being recorded: "LAST+1 OLDPID".
WRITER = r'''
import os, sys, time
d, total = sys.argv[1], int(sys.argv[2])
pid = os.getpid()
rec = os.path.join(d, 'written.txt')
last = -1
try:
    with open(rec) as f:
        for line in f:
            if line.endswith('\n'):
                last = max(last, int(line.split()[0]))
except FileNotFoundError:
    pass
rfd = os.open(rec, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
seq = last + 1
while seq < total:
    line = ('%06d %d\n' % (seq, pid)).encode()
    os.write(1, line)
    os.write(rfd, line)
    seq += 1
    time.sleep(0.001)
os.close(os.open(os.path.join(d, 'writer-done'), os.O_WRONLY | os.O_CREAT, 0o600))
time.sleep(60)
'''

# The "sissylog": moves stdin (the pipe's read end) to its file with
# splice(2), so bytes leave the pipe only when they are in the file: a
# SIGKILL at any moment loses nothing that was in the pipe.
LOGGER = r'''
import os, sys
d = sys.argv[1]
out = os.open(os.path.join(d, 'received.txt'), os.O_WRONLY | os.O_CREAT, 0o600)
os.lseek(out, 0, os.SEEK_END)
with open(os.path.join(d, 'loggers.txt'), 'a') as f:
    f.write('%d\n' % os.getpid())
while True:
    if os.splice(0, out, 65536) == 0:
        break
'''


class Examples(SvcTest):
    def lines(self, name):
        t = self.read_text(name) or ''
        return t.split('\n')[:-1]      # complete lines only

    def test_logger_survives_restarts_of_either_side(self):
        d = self.start()
        writer = self.script('writer.py', WRITER)
        logger = self.script('logger.py', LOGGER)
        d.cmd('fd.pipe\tmysql-log.r\tmysql-log.w')
        d.cmd('service.args\tmysql-log\t%s\t%s\t%s' % (PY, logger, self.tmp),
              'service.fds\tmysql-log\tmysql-log.r\tstderr\tstderr')
        out = d.cmd('service.auto_up\tmysql-log\t1\talways')
        self.assertTrue([l for l in out if l.startswith('service.state\tmysql-log\tup\t')], out)
        d.cmd('service.args\tmysql\t%s\t%s\t%s\t%d' % (PY, writer, self.tmp, TOTAL),
              'service.fds\tmysql\tnull\tmysql-log.w\tmysql-log.w')
        out = d.cmd('service.auto_up\tmysql\t1\talways')
        self.assertTrue([l for l in out if l.startswith('service.state\tmysql\tup\t')], out)

        # kill the logger mid-stream
        wait_for(lambda: len(self.lines('received.txt')) >= 200, msg='logger receiving')
        d.send('service.signal\tmysql-log\tSIGKILL')
        down = self.expect_state(d, 'mysql-log', 'down')
        self.assertEqual(down[5:7], ['signal', 'SIGKILL'])
        self.assertLess(len(self.lines('written.txt')), TOTAL, 'logger killed mid-stream')
        self.expect_state(d, 'mysql-log', 'up')

        # then the writer
        target = max(1000, len(self.lines('written.txt')) + 100)
        wait_for(lambda: len(self.lines('written.txt')) >= target, msg='writer progressing')
        d.send('service.signal\tmysql\tSIGKILL')
        down = self.expect_state(d, 'mysql', 'down')
        self.assertEqual(down[5:7], ['signal', 'SIGKILL'])
        self.expect_state(d, 'mysql', 'up')

        wait_for(lambda: os.path.exists(self.path('writer-done')), TIMEOUT + 5, 'writer finished')
        written = self.lines('written.txt')
        wset = set(written)
        wait_for(lambda: wset <= set(self.lines('received.txt')), msg='all written lines received')
        received = self.lines('received.txt')

        self.assertEqual(len(self.lines('loggers.txt')), 2)
        writers = []
        for l in written:
            pid = l.split()[1]
            if pid not in writers:
                writers.append(pid)
        self.assertEqual(len(writers), 2, 'the writer was killed mid-stream and restarted')
        self.assertEqual(len(written), len(wset))
        self.assertEqual(sorted(int(l.split()[0]) for l in written), list(range(TOTAL)))
        # nothing lost, nothing duplicated
        self.assertEqual(len(received), len(set(received)), 'duplicated lines')
        self.assertEqual(sorted(wset - set(received)), [])
        extra = set(received) - wset
        # the only allowed extra: the line the first writer had put in the
        # pipe when it was killed, before it could record it
        first_last = max(int(l.split()[0]) for l in written if l.split()[1] == writers[0])
        self.assertLessEqual(extra, {'%06d %s' % (first_last + 1, writers[0])})
        # and the stream is in order per writer
        for w in writers:
            seqs = [int(l.split()[0]) for l in received if l.split()[1] == w]
            self.assertEqual(seqs, sorted(seqs))

    def test_controller_from_config_restarted(self):
        prog = self.write_file('my-controller.py', '#!%s\n%s' % (PY, CTL))
        os.chmod(prog, 0o755)
        sock = self.path('ctl.sock')
        conf = self.write_file('dp.conf', '\n'.join([
            'socket.create\t-\t' + sock,
            'service.args\tmy_controller\t./my-controller.py\tdump\t' + self.tmp,
            'service.fds\tmy_controller\tcontrol.event\tcontrol.cmd\tstderr',
            'service.auto_up\tmy_controller\t1\talways',
            'service.args\tmysql\tsleep\t30',
            'service.fds\tmysql\tnull\tstdout\tstdout',
            'service.auto_up\tmysql\t2\talways',
        ]) + '\n')
        d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL, cwd=self.tmp)
        c = self.connect(sock)
        # the config file plus a controller service (plus us) at once
        pid1 = int(wait_for(lambda: [l.split('\t')[4] for l in c.cmd('statedump')
                                     if l.startswith('service.state\tmy_controller\tup\t')],
                            msg='controller up')[0])
        dump1 = self.wait_text('dump-%d.txt' % pid1).splitlines()
        self.assertTrue([l for l in dump1 if l.startswith('service.state\tmysql\tup\t')], dump1)
        c.send('service.signal\tmy_controller\tSIGKILL')
        down = self.expect_state(c, 'my_controller', 'down')
        self.assertEqual(down[4:7], [str(pid1), 'signal', 'SIGKILL'])
        pid2 = int(self.expect_state(c, 'my_controller', 'up', timeout=TIMEOUT + 1)[4])
        dump2 = self.wait_text('dump-%d.txt' % pid2).splitlines()
        self.assertEqual(comparable(dump2), comparable(c.cmd('statedump')))
        self.assertTrue(d.alive())


class DemoConf(SvcTest):
    """examples/demo.conf, the README's dpctl session: clock and web come
    up on their own, db is started by dpctl and reports ready through its
    notify.fd, and dpctl stops them all."""

    def test_readme_session(self):
        dpctl = os.environ.get('DPCTL') or os.path.join(os.path.dirname(binary()), 'dpctl')
        sock = self.path('demo.sock')
        env = dict(os.environ, DAEMONPROXY_SOCKET=sock)
        d = self.start('--default-socket', '-c', os.path.join(REPO, 'examples', 'demo.conf'),
                       interactive=False, stdin=subprocess.DEVNULL, env=env, cwd=self.tmp)

        def ctl(*args, timeout=60):
            p = subprocess.run([dpctl] + list(args), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=timeout)
            return p.returncode, p.stdout, p.stderr

        # listening, not just bound: the file exists from bind() on
        wait_for(lambda: try_connect(sock), msg='demo socket')
        code, out, err = ctl('wait', 'clock', 'up', '-t', '30')
        self.assertEqual(code, 0, err)
        code, out, err = ctl('start', 'db', '-t', '30')
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r'^db: up, pid \d+, ready\n$')
        code, out, err = ctl('status')
        rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
        self.assertEqual(sorted(rows), ['clock', 'db', 'web'])
        self.assertEqual(rows['db'][1], 'up')
        self.assertEqual(rows['db'][5], 'yes')
        self.assertEqual(rows['clock'][6], 'always/2s')
        code, out, err = ctl('stop', 'clock', 'web', 'db', '-t', '20')
        self.assertEqual(code, 0, err)
        self.assertEqual([l.split(':')[0] for l in out.splitlines()], ['clock', 'web', 'db'])
        code, out, err = ctl('status')
        # wanted down by the operator: `stopped`, and it stays so
        self.assertEqual([l.split()[1] for l in out.splitlines()[1:]], ['stopped'] * 3)
        # no controller serves shutdown: daemonproxy stops what is left and exits
        code, out, err = ctl('shutdown')
        self.assertEqual(code, 0, err)
        self.assertEqual(d.proc.wait(timeout=60), 0)


class DplogConf(SvcTest):
    """examples/dplog.conf as its comment says to run it (its directory
    moved into the test's own): the dates reach dplog's files, and
    `dpctl logs clock` finds them by the tag, also across a rotation."""

    def test_dplog_example(self):
        dpctl = os.environ.get('DPCTL') or os.path.join(os.path.dirname(binary()), 'dpctl')
        logdir = self.path('dplog-example')
        with open(os.path.join(REPO, 'examples', 'dplog.conf')) as f:
            conf = f.read()
        self.assertIn('/tmp/dplog-example/clock', conf)
        conf = self.write_file('dplog.conf', conf.replace('/tmp/dplog-example', logdir))
        sock = self.path('dplog.sock')
        from dp import dplog_binary
        env = dict(os.environ, DAEMONPROXY_SOCKET=sock,
                   PATH=os.path.dirname(os.path.abspath(dplog_binary())) + ':' + os.environ['PATH'])
        if os.path.basename(dplog_binary()) != 'dplog':     # dplog-static: as `dplog`
            bindir = self.path('bin')
            os.mkdir(bindir)
            os.symlink(os.path.abspath(dplog_binary()), os.path.join(bindir, 'dplog'))
            env['PATH'] = bindir + ':' + os.environ['PATH']
        d = self.start('--default-socket', '-c', conf, interactive=False,
                       stdin=subprocess.DEVNULL, env=env, cwd=self.tmp)

        def logs(*args):
            p = subprocess.run([dpctl, 'logs', 'clock'] + list(args), env=env,
                               capture_output=True, text=True, timeout=60)
            return p.stdout.splitlines() if p.returncode == 0 else []

        stamped = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S')
        wait_for(lambda: len(logs()) >= 2, 30, 'two dates in dpctl logs clock')
        self.assertTrue(all(stamped.match(l) for l in logs()), logs())
        subprocess.run([dpctl, 'signal', 'ALRM', 'clock.log'], env=env, check=True,
                       capture_output=True, timeout=60)
        wait_for(lambda: any(n.startswith('@') and n.endswith('.s')
                             for n in os.listdir(os.path.join(logdir, 'clock'))),
                 msg='a rotated file')
        before = logs()
        wait_for(lambda: len(logs()) > len(before), 30, 'a date after the rotation')
        after = logs()
        self.assertEqual(after[:len(before)], before)
        self.assertEqual(len(after), len(set(after)), 'each record once')
        p = subprocess.run([dpctl, 'shutdown'], env=env, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(d.proc.wait(timeout=60), 0)


class ReadmeQuickStart(SvcTest):
    """The README's quick start, `daemonproxy -i` at a terminal: what the
    user typed gets exactly the lines the README shows (the terminal's
    name aside), and a SIGHUP the event it shows."""

    def readme(self):
        with open(os.path.join(REPO, 'README.md')) as f:
            return f.read()

    def test_typed_session(self):
        m = re.search(r'Here the user typed (.*?)\n```\n(.*?)```', self.readme(), re.S)
        self.assertIsNotNone(m, 'the quick start session in README.md')
        typed = [t.replace('\u2192', '\t') for t in re.findall(r'`([^`]+)`', m.group(1))
                 if t != '\u2192']
        self.assertEqual(typed, ['echo\thello', 'log.filter', 'statedump'])
        shown = m.group(2).splitlines()
        self.assertEqual([l for l in shown if l in typed], typed, 'the typed lines, in order')
        master, slave = os.openpty()       # stderr a terminal, as in the README
        self.on_cleanup(lambda: os.close(master))
        try:
            d = self.start(stderr=slave)
        finally:
            os.close(slave)
        got = d.cmd(*typed)
        want = [l for l in shown if l not in typed]
        pts = re.compile(r'/dev/pts/\d+$')
        if VALGRIND_DIR:        # valgrind's own fds may be inherited handles
            got = [l for l in got if not re.match(r'fd\.state\tfd_\d+\t', l)]
        self.assertEqual([pts.sub('/dev/pts/N', l) for l in got],
                         [pts.sub('/dev/pts/N', l) for l in want])

        # "Send it a SIGHUP ... you see ... the event on stdout"
        m = re.search(r'the event on stdout:\n\n```\n(.*?)```', self.readme(), re.S)
        self.assertIsNotNone(m, 'the SIGHUP session in README.md')
        event = [l for l in m.group(1).splitlines() if not l.startswith('info: ')]
        self.assertEqual(len(event), 1, m.group(1))
        os.kill(d.pid, signal.SIGHUP)
        got = d.expect(lambda l: l.startswith('signal\t'))
        self.assertEqual(re.sub(r'\t\d+\t', '\tTS\t', got),
                         re.sub(r'\t\d+\t', '\tTS\t', event[0]))
