"""Holes an attacker found in service containment and the fd store
(issue 18, after its first round): docs/protocol.md, "Readiness, the fd
store and containment" and "Who is trusted with what".

- Cgroups deeper than PATH_MAX: a process a service moved 20 cgroups of
  250-byte names below its own (a path of over 5,000 bytes, which a
  relative mkdir reaches) is still the service's: its notification and
  its MAINPID= are accepted (/proc/PID/cgroup is compared by prefix, the
  kernel having cut its line at 4095 bytes), SIGTERM through `cgroup`
  reaches it, and `service.delete` removes the whole chain.
- The walk's bound: a service's cgroup gets cgroup.max.descendants 1023,
  so a service cannot make more below it (the 1024th mkdir fails with
  EAGAIN).  Where a root service raised the limit and made more, SIGTERM
  through `cgroup` is an error that says only some were signalled, with
  a warning in the log; SIGKILL (cgroup.kill) still reaches every
  process; `service.delete` warns that cgroups are left behind.  Never a
  silent escape.
- A cgroup that cannot be removed (a mount on it): the warning names the
  cause first, within the log's line limit, however long the path is.
- Fd reserve: with RLIMIT_NOFILE 1024, a service that stores 1,012 fds
  gets only as many stored as leave daemonproxy 128 free, with a warning
  naming the cause; 50 socket clients at once are all answered, dpctl
  works, and a re-exec works.
- service.delete deletes the stored fds that are still the store's: every
  controller gets `fd.state NAME..X deleted`, a stored listening socket's
  port is free again; a handle in the store's namespace that a controller
  replaced stays.
- A dead MAINPID is forgotten: reaped as an orphan (the process detached
  to daemonproxy), it leaves statedump with the orphan event; reaped
  inside the service, statedump stops showing it as soon as it is gone,
  and in a pid namespace where another uid's process gets the same pid,
  neither statedump nor `dpctl status --json` names it, and that process
  is refused.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys

from dp import TIMEOUT, VALGRIND_DIR, binary, wait_for
from svc_util import PY
from test_containment import (CgroupTest, cgroup_event, orphan_of, ppid,
                              state_of, v2_cgroup_of)
from test_notify import NOTIFY_VARS, notify_lines
from test_trust_notify_fdstore import StoreBase

PATH_MAX = os.pathconf('/', 'PC_PATH_MAX')
LONG = 'n' * 250
DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(binary()), 'dpctl')


def dpctl_status(sock, name):
    """`dpctl status --json NAME` on sock: the service's record."""
    r = subprocess.run([DPCTL, '-S', sock, 'status', '--json', name], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    assert r.returncode == 0, (r.returncode, r.stderr)
    return json.loads(r.stdout)[0]


# ---------------------------------------------------------------------------
# A: cgroups deeper than a path can say

# Waits until it is no descendant of the service's main process (its
# parent, ARGV[4], has exited); then makes ARGV[2] nested cgroups named
# 250 x 'n' below ARGV[1] (by relative mkdir and chdir, as deep as it
# likes), moves itself into the deepest, sends MAINPID=itself and a STATUS
# to $NOTIFY_SOCKET (with ARGV[5] "notify"), writes its pid to ARGV[3] and
# becomes `sleep 1000`.
DEEP = r'''
import os, socket, sys, time
top, depth, pidfile, parent = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
while os.getppid() == parent:
    time.sleep(0.01)
os.chdir(top)
for _ in range(depth):
    os.mkdir('n' * 250)
    os.chdir('n' * 250)
with open('cgroup.procs', 'w') as f:
    f.write('0')
if sys.argv[5] == 'notify':
    a = os.environ['NOTIFY_SOCKET']
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b'MAINPID=%d\nSTATUS=from-deep' % os.getpid(), b'\0' + a[1:].encode())
with open(pidfile + '.tmp', 'w') as f:
    f.write(str(os.getpid()))
os.rename(pidfile + '.tmp', pidfile)
os.execvp('sleep', ['sleep', '1000'])
'''

# Makes cgroups w0, w1... below ARGV[1] until ARGV[2] are made or mkdir
# fails; writes "MADE ERRNO" to ARGV[3]; then becomes `sleep 1000`.
WIDE = r'''
import os, sys
top, want, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n, err = 0, 0
while n < want:
    try:
        os.mkdir(os.path.join(top, 'w%d' % n))
    except OSError as e:
        err = e.errno
        break
    n += 1
with open(out + '.tmp', 'w') as f:
    f.write('%d %d' % (n, err))
os.rename(out + '.tmp', out)
os.execvp('sleep', ['sleep', '1000'])
'''


class DeepCgroups(CgroupTest):

    def svc_dir(self, name):
        return os.path.join(self.cg, name + '.service')

    def no_cgroup_warnings(self, d):
        self.assertEqual([l for l in d.log.snapshot() if 'cgroup' in l and
                          l.startswith(('warning', 'error'))], [])

    def delete_removes_all(self, d, name):
        """service.delete NAME removes its cgroup and every one below it,
        without a word in the log."""
        top = self.svc_dir(name)
        out = d.cmd('service.delete\t%s' % name)
        self.assertIn('service.state\t%s\tdeleted\t-\t-\t-\t-\t-\t-' % name, out)
        self.assertFalse(os.path.exists(top), 'service.delete removes %s' % top)
        self.no_cgroup_warnings(d)

    def start_deep(self, d, name, notify):
        """NAME: sh starts DEEP in the background from a subshell that
        exits at once (20 levels below its cgroup), then execs `sleep
        1000`.  Returns (main pid, deep pid)."""
        depth = 20
        top = self.svc_dir(name)
        self.assertGreater(len(top) + depth * (len(LONG) + 1), PATH_MAX)
        script = self.script('deep.py', DEEP)
        pidf = self.path(name + '.pid')
        self.define(d, name, ['sh', '-c', '( %s %s %s %d %s $$ %s & ); exec sleep 1000'
                              % (PY, script, top, depth, pidf, notify)])
        self.assertEqual(d.cmd('service.opts\t%s\tnotify' % name),
                         ['service.opts\t%s\tnotify' % name])
        main = self.start_svc(d, name)
        deep = int(self.wait_text(pidf))
        self.track_sleep(deep)
        self.assertEqual(ppid(deep), d.pid, 'reparented to daemonproxy: no descendant')
        # the kernel shows its cgroup cut at PATH_MAX - 1 bytes
        path = v2_cgroup_of(deep)
        self.assertTrue(path and LONG in path and len(path) >= PATH_MAX - 1 - len('0::'),
                        (len(path or ''), (path or '')[:120]))
        return main, deep

    def test_deeper_than_path_max_signalled_and_removed(self):
        d = self.start_cg()
        name = 'deep'
        main, deep = self.start_deep(d, name, '-')
        # SIGTERM reaches it
        since = len(d.reader.seen)
        out = d.cmd('service.signal\t%s\tSIGTERM\tcgroup' % name)
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        found = self.gather(d, {'down': state_of(name, 'down'), 'deep': orphan_of(deep),
                                'empty': cgroup_event(name, 'empty')}, since)
        self.assertEqual(found['down'].split('\t')[4:7], [str(main), 'signal', 'SIGTERM'])
        self.check_orphan(found['deep'], deep, 'signal', 'SIGTERM')
        self.assertTrue(os.path.isdir(os.path.join(self.svc_dir(name), LONG, LONG)))
        self.delete_removes_all(d, name)

    def test_deeper_than_path_max_removed_after_sigkill(self):
        d = self.start_cg()
        name = 'deepk'
        _, deep = self.start_deep(d, name, '-')
        since = len(d.reader.seen)
        out = d.cmd('service.signal\t%s\tSIGKILL\tcgroup' % name)
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        self.gather(d, {'deep': orphan_of(deep), 'empty': cgroup_event(name, 'empty')}, since)
        self.delete_removes_all(d, name)

    def test_deeper_than_path_max_notifies(self):
        d = self.start_cg()
        name = 'deepn'
        since = len(d.reader.seen)
        main, deep = self.start_deep(d, name, 'notify')
        # a process of the service by its cgroup: its message and its pid
        # as the main pid are the service's
        line = self.gather(d, {'n': lambda l: l.startswith('service.notify\t%s\t' % name)},
                           since)['n']
        self.assertEqual(line.split('\t')[3:], [str(deep), 'MAINPID=%d' % deep,
                                                'STATUS=from-deep'])
        self.assertIn('MAINPID=%d' % deep, notify_lines(self.dump(d), name)[0].split('\t'))
        # it is the service's orphan
        since = len(d.reader.seen)
        out = d.cmd('service.signal\t%s\tSIGKILL\tcgroup' % name)
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        found = self.gather(d, {'deep': orphan_of(deep), 'empty': cgroup_event(name, 'empty')},
                            since)
        self.check_orphan(found['deep'], deep, 'signal', 'SIGKILL', name)
        self.no_cgroup_warnings(d)

    def test_walk_bound_never_silent(self):
        d = self.start_cg()
        name = 'many'
        top = self.svc_dir(name)
        script = self.script('wide.py', WIDE)
        made = self.path('made')
        self.define(d, name, [PY, script, top, '1500', made])
        main = self.start_svc(d, name)
        self.track_sleep(main)
        # the kernel holds the service to 1023 cgroups below its own
        n, err = map(int, self.wait_text(made).split())
        self.assertEqual((n, err), (1023, 11), 'made, errno (EAGAIN)')
        with open(os.path.join(top, 'cgroup.max.descendants')) as f:
            self.assertEqual(f.read().strip(), '1023')
        self.assertEqual(len([x for x in os.listdir(top) if x.startswith('w')]), 1023)

        # a root service can raise the limit and make more: then a walk
        # stops at its bound, and says so
        with open(os.path.join(top, 'cgroup.max.descendants'), 'w') as f:
            f.write('max')
        for i in range(1023, 1100):
            os.mkdir(os.path.join(top, 'w%d' % i))
        sleepers = []
        for i in (0, 1099):
            p = subprocess.Popen(['sleep', '1000'])
            self.addCleanup(p.wait)
            self.addCleanup(p.kill)
            with open(os.path.join(top, 'w%d' % i, 'cgroup.procs'), 'w') as f:
                f.write(str(p.pid))
            sleepers.append(p)
        mark = len(d.log.snapshot())
        out = d.cmd('service.signal\t%s\tSIGTERM\tcgroup' % name)
        err = [l for l in out if l.startswith(('error', 'warning'))]
        self.assertEqual(len(err), 1, out)
        self.assertError(err[0], 'more than 1023 below it', 'only 1024 were signalled',
                         'SIGKILL, by cgroup.kill, reaches all')
        d.log.expect(re.compile(r'^warning: service many: SIGTERM not sent to every process '
                                r'of its cgroup: the service\'s cgroup has more than 1023'),
                     start=mark)
        # SIGKILL goes through cgroup.kill: every process
        since = len(d.reader.seen)
        out = d.cmd('service.signal\t%s\tSIGKILL\tcgroup' % name)
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        self.gather(d, {'down': state_of(name, 'down'), 'empty': cgroup_event(name, 'empty')},
                    since)
        for p in sleepers:
            self.assertIn(p.wait(TIMEOUT), (-signal.SIGTERM, -signal.SIGKILL))
        # delete: what is beyond the bound is left behind, and the log says so
        mark = len(d.log.snapshot())
        out = d.cmd('service.delete\t%s' % name)
        self.assertIn('service.state\t%s\tdeleted\t-\t-\t-\t-\t-\t-' % name, out)
        d.log.expect(re.compile(r'^warning: cgroups left behind: more than 1023 below cgroup '
                                + re.escape(top)), start=mark)
        self.assertTrue(os.path.isdir(top))

    def test_rmdir_failure_names_its_cause_first(self):
        if not shutil.which('mount') or not shutil.which('umount'):
            self.skipTest('mount(8) not installed')
        d = self.start_cg()
        name = 'stuck'
        top = self.svc_dir(name)
        self.define(d, name, ['true'])
        since = len(d.reader.seen)
        self.start_svc(d, name)
        self.gather(d, {'down': state_of(name, 'down')}, since)
        # a mount point deep below (over 1,024 bytes of path): rmdir fails
        deep = os.path.join(top, *[LONG] * 5)
        os.makedirs(deep)
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4k', 'dpt', deep],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            self.skipTest('cannot mount a tmpfs: %s' % r.stdout.decode(errors='replace'))
        self.addCleanup(subprocess.run, ['umount', '-l', deep])
        wait_for(lambda: [l for l in self.dump(d) if l.startswith('service.cgroup\t%s\t' % name)]
                 [-1].endswith('\tempty'), msg='cgroup %s empty' % top)
        mark = len(d.log.snapshot())
        out = d.cmd('service.delete\t%s' % name)
        self.assertIn('service.state\t%s\tdeleted\t-\t-\t-\t-\t-\t-' % name, out)
        i = d.log.expect(re.compile(r'^warning: cgroups left behind'), start=mark)
        line = d.log.snapshot()[i]
        # EBUSY as the libc words it (glibc: "Device or resource busy",
        # musl: "Resource busy")
        self.assertRegex(line, r'^warning: cgroups left behind \(rmdir: (Device or resource|'
                         r'Resource) busy\): 6 in cgroup %s and below$' % re.escape(top))
        self.assertTrue(os.path.isdir(deep))


# ---------------------------------------------------------------------------
# C: the fd store never takes daemonproxy's last fds

class FdReserve(StoreBase):
    LIMIT = 1024

    def test_store_leaves_daemonproxy_its_reserve(self):
        if not shutil.which('prlimit'):
            self.skipTest('prlimit not installed')
        if VALGRIND_DIR:
            self.skipTest('valgrind keeps fds of its own below the limit')
        sock = self.path('c.sock')
        env = {k: v for k, v in os.environ.items() if k not in NOTIFY_VARS}
        d = self.d = self.start('-S', sock, prefix=['prlimit', '--nofile=%d:%d'
                                                    % (self.LIMIT, self.LIMIT)], env=env)
        self.agent(d, 'big', opts=['notify', 'listen-fds', 'fdstore=1024'])
        self.up(d, 'big')
        base = self.warm(d, 'big')
        mark = self.log_mark(d)
        # 1,012 fds (a child could take them all back), in messages that
        # each fit what is left of daemonproxy's fds (a message whose fds
        # cannot all be received is refused whole): without a reserve they
        # would use up all 1,024
        sizes = [253, 253, 253, 128, 64, 32, 16, 8, 4, 1]
        self.assertEqual(sum(sizes), 1012)
        for k, n in enumerate(sizes):
            self.send_notify('big', 'FDSTORE=1\nFDNAME=f%d' % k, fds=[['dup', n]])
        self.marker(d, 'big')
        line = self.LIMIT - self.LIMIT // 8
        stored = len(self.stored_handles(d, 'big'))
        self.assertEqual(stored, line - base, 'stored up to fd %d, from %d' % (line, base))
        self.assertEqual(d.fd_count(), line)
        # the log is read by a thread of ours: wait for the line, not the daemon
        self.expect_warnings(d, mark, 1, 'the FDSTORE refusal')
        w = self.warnings_since(d, mark)
        self.assertEqual(w[0], "warning: service big: FDSTORE: %d of 128 fds named 'f3' refused: "
                         "daemonproxy keeps 128 of its 1024 fds (RLIMIT_NOFILE) free for "
                         "clients, starts and re-execs" % (base + 887 - line))

        # clients: 50 at once, all answered, and dpctl
        clients = [self.connect(sock) for _ in range(50)]
        for c in clients:
            c.ping()
        for c in clients:
            c.close()
        self.assertEqual(dpctl_status(sock, 'big')['state'], 'up')
        # a re-exec
        d.send('reexec')
        ev = d.expect(lambda l: l.startswith(('reexec\t', 'error\t')))
        self.assertTrue(ev.startswith('reexec\t'), ev)
        self.assertEqual(len(self.stored_handles(d, 'big')), stored)
        self.assertEqual(d.cmd1('echo\tafter'), 'after')


# ---------------------------------------------------------------------------
# D: service.delete flushes the store

class StoreDeleted(StoreBase):

    def test_delete_flushes_what_is_still_the_stores(self):
        d, c = self.daemon_and_client()
        self.agent(d, 'p', opts=['notify', 'fdstore=3'])
        self.up(d, 'p')
        info, http = self.store(d, 'p', 'http', [['tcp']])
        port = info[0]['port']
        _, keep = self.store(d, 'p', 'keep', [['ro', '/dev/null']])
        _, other = self.store(d, 'p', 'other', [['pipe-w']])
        self.assertEqual((http, keep, other), ('p..http', 'p..keep', 'p..other'))
        # a controller replaces one: it is no longer the store's
        self.no_errors(d.cmd('fd.open\tp..keep\tread\t/dev/null'))
        self.no_errors(d.cmd('fd.delete\tp..other'))
        base = d.fd_count()
        self.kill_svc(d, 'p')
        self.assertIsNotNone(self.fd_state(d, 'p..http'))
        out = d.cmd('service.delete\tp')
        self.assertIn('service.state\tp\tdeleted\t-\t-\t-\t-\t-\t-', out)
        self.assertIn('fd.state\tp..http\tdeleted', out)
        c.expect('fd.state\tp..http\tdeleted')
        self.assertEqual([l for l in out if l.startswith('fd.state\t')],
                         ['fd.state\tp..http\tdeleted'])
        self.assertIsNone(self.fd_state(d, 'p..http'))
        self.assertRegex(self.fd_state(d, 'p..keep'), r'^fd\.state\tp\.\.keep\tfile\tread\t')
        # the stored socket is closed (and the service's notify socket)
        self.settle_fds(d, base - 2, 'the stored socket closed')
        # the port is free again
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(('127.0.0.1', port))
        finally:
            s.close()


# ---------------------------------------------------------------------------
# F: a dead MAINPID is not reported

# A service (root, in a pid namespace of its own): a child announces
# itself with MAINPID=, waits for the barrier (so its message counts), then
# waits on a pipe; its parent writes the child's pid to OUTDIR/child, and
# when the test writes a byte to FIFO, lets the child exit, reaps it
# (inside the service: no orphan for daemonproxy) and writes OUTDIR/reaped.
REAPED = r'''
import array, os, select, socket, sys
fifo, outdir = sys.argv[1], sys.argv[2]
a = os.environ['NOTIFY_SOCKET']
addr = b'\0' + a[1:].encode()


def send(msg, fds=()):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))] if fds else []
    s.sendmsg([msg], anc, 0, addr)
    s.close()


def put(name, text):
    p = os.path.join(outdir, name)
    with open(p + '.tmp', 'w') as f:
        f.write(text)
    os.rename(p + '.tmp', p)


ctl = os.open(fifo, os.O_RDWR)
go_r, go_w = os.pipe()
child = os.fork()
if child == 0:
    os.close(go_w)
    send(b'MAINPID=%d\nSTATUS=announced' % os.getpid())
    r, w = os.pipe()
    send(b'BARRIER=1', [w])
    os.close(w)
    select.select([r], [], [], 60)
    os.read(go_r, 1)
    os._exit(0)
os.close(go_r)
put('child', str(child))
os.read(ctl, 1)
os.close(go_w)
os.waitpid(child, 0)
put('reaped', str(child))
while True:
    os.read(ctl, 1)
'''

# Run as root in daemonproxy's pid namespace: makes the next pid there
# ARGV[1], forks, and the child, as uid 65534, writes "PID UID" to the fd
# ARGV[3] (opened for it), sends READY=1 to ARGV[2] and sleeps.
IMPOSTER = r'''
import os, socket, sys, time
want, addr, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
    f.write(str(want - 1))
if os.fork():
    os._exit(0)
os.setgroups([])
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
os.write(out, b'%d %d' % (os.getpid(), os.getuid()))
os.close(out)
if os.getpid() == want:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b'READY=1\nSTATUS=imposter', b'\0' + addr[1:].encode())
time.sleep(1000)
'''


def child_of(pid):
    """The only child of pid (unshare --fork's), or None."""
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            kids = f.read().split()
    except OSError:
        return None
    return int(kids[0]) if len(kids) == 1 else None


class DeadMainPid(StoreBase):

    def mainpid_in_dump(self, d, name):
        lines = notify_lines(self.dump(d), name)
        self.assertEqual(len(lines), 1, lines)
        return [f for f in lines[0].split('\t') if f.startswith('MAINPID=')]

    def test_reaped_orphan_forgotten(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        _, dpid = self.announce_detached(d, 's')
        self.assertEqual(self.mainpid_in_dump(d, 's'), ['MAINPID=%d' % dpid])
        os.kill(dpid, signal.SIGKILL)
        line = d.expect(orphan_of(dpid))
        self.assertEqual(line.split('\t')[3:], ['signal', 'SIGKILL', 's'])
        self.assertEqual(self.mainpid_in_dump(d, 's'), [])
        # the main process's own messages still count, without a main pid
        self.notified(d, 's', 'STATUS=after')
        self.assertEqual(self.mainpid_in_dump(d, 's'), [])

    def test_pid_reused_by_another_uid(self):
        unshare, nsenter = shutil.which('unshare'), shutil.which('nsenter')
        if not unshare or not nsenter or os.geteuid() != 0:
            self.skipTest('needs root, unshare(1) and nsenter(1)')
        prefix = [unshare, '--pid', '--fork', '--kill-child', '--mount-proc']
        if subprocess.run(prefix + ['true'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest('unshare --pid --fork --mount-proc not available')
        sock = self.path('c.sock')
        env = {k: v for k, v in os.environ.items() if k not in NOTIFY_VARS}
        d = self.d = self.start('-S', sock, prefix=prefix, env=env)
        d.ping()
        dp = wait_for(lambda: child_of(d.pid), msg='daemonproxy in its pid namespace')
        script = self.script('reaped.py', REAPED)
        fifo = self.path('r.fifo')
        os.mkfifo(fifo, 0o600)
        self.no_errors(d.cmd('service.args\tr\t%s\t%s\t%s\t%s' % (PY, script, fifo, self.tmp),
                             'service.fds\tr\tnull\tnull\tstderr', 'service.opts\tr\tnotify'))
        main = self.start_svc(d, 'r')
        child = int(self.wait_text('child'))
        f = self.expect_notify(d, 'r')
        self.assertEqual(f[3:], [str(child), 'MAINPID=%d' % child, 'STATUS=announced'])
        self.assertEqual(self.mainpid_in_dump(d, 'r'), ['MAINPID=%d' % child])
        # the child exits, reaped inside the service: gone at once
        with open(fifo, 'wb', buffering=0) as w:
            w.write(b'x')
        self.assertEqual(int(self.wait_text('reaped')), child)
        self.assertEqual(self.mainpid_in_dump(d, 'r'), [])

        # another uid's process gets the pid
        code = self.script('imposter.py', IMPOSTER)
        os.chmod(self.tmp, 0o755)
        os.chmod(code, 0o644)
        rec = self.path('imposter')
        mark = self.log_mark(d)
        out = os.open(rec, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            st = subprocess.run([nsenter, '-t', str(dp), '-p', '-m', PY, '-I', code,
                                 str(child), self.notify_addr(dp, main), str(out)],
                                pass_fds=(out,), stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        finally:
            os.close(out)
        self.assertEqual(st.returncode, 0)
        pid, uid = map(int, self.wait_text(rec, lambda t: ' ' in t).split())
        if pid != child:
            self.skipTest('another process took pid %d first (got %d)' % (child, pid))
        self.assertEqual(uid, 65534)
        # neither statedump nor dpctl names it; its message is refused
        self.assertEqual(self.mainpid_in_dump(d, 'r'), [])
        self.assertIsNone(dpctl_status(sock, 'r').get('mainpid'))
        self.expect_warnings(d, mark, 1, 'the imposter refused')
        self.assertRegex(self.warnings_since(d, mark)[0],
                         r'^warning: service r: notification from pid %d refused' % child)
        self.assertEqual([l for l in d.reader.seen if 'imposter' in l], [])
        self.assertEqual(self.mainpid_in_dump(d, 'r'), [])

    def notify_addr(self, dp, main):
        """NOTIFY_SOCKET of the service's main process (ns pid main),
        found through daemonproxy's children (host pids)."""
        kids = open('/proc/%d/task/%d/children' % (dp, dp)).read().split()
        for k in kids:
            try:
                env = open('/proc/%s/environ' % k, 'rb').read().split(b'\0')
            except OSError:
                continue
            for e in env:
                if e.startswith(b'NOTIFY_SOCKET='):
                    return e[len(b'NOTIFY_SOCKET='):].decode()
        self.fail('no service with NOTIFY_SOCKET below daemonproxy %d' % dp)


if __name__ == '__main__':
    import unittest
    unittest.main(argv=[sys.argv[0]])
