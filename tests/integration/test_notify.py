"""docs/protocol.md, "Readiness, the fd store and containment" (all but the
Containment part), with "Controllers", "Commands" and "Events":

- service.env: set, replace, clear; broadcast forms (to every controller);
  the error text for bad entries, and a failed command changes and creates
  nothing; VAR length 255 accepted, 256 refused; statedump lists the line
  after service.auto_up, only when non-empty; the child sees the variables
  (`=` inside a value, an empty value, an inherited variable overridden,
  `-VAR` removing one daemonproxy inherited), and with no entries gets
  daemonproxy's environment unchanged.
- service.opts: canonical order in the event, clearing, `invalid option 'X'`
  (fdstore=0, 1025, x, ...), statedump line only when non-empty, after
  service.env.
- notify.fd (s6 style): the constant placeholder in statedump, not
  replaceable or deletable; the child gets a pipe's write end at that
  position, a fresh pipe per start and per service; bytes before the newline
  give nothing, the newline gives one `service.notify NAME TS PID READY=1`,
  after which daemonproxy's end is closed (EPIPE); 4095 bytes then a newline
  is ready, 4096 bytes without one close the pipe with a warning; megabytes
  without a newline: a warning, no event, no leaked fd.
- sd_notify: NOTIFY_SOCKET (abstract `@...`, one datagram socket per
  service, only with the option, not overridable by service.env); every
  kind of assignment, several in one datagram as fields in order; control
  characters (TAB, NUL, ...) shown as `?`; assignments cut to 1024 bytes;
  a 4096-byte datagram accepted, longer ones and empty ones refused with a
  warning; senders: the main process, a child, a grandchild and the pid
  announced with MAINPID= accepted; the test process, a process of another
  uid, another service's process, and a detached process before it was
  announced refused with a warning; 300 datagrams give 300 events in order.
- statedump replay: `service.notify NAME TS PID STATE [STATUS=] [MAINPID=]`
  after the service's other lines (auto_up, env, opts), STATE the latest
  of READY/RELOADING/STOPPING or `-`, TS and PID of the last message;
  nothing for a service that never notified; forgotten when it goes down.
- The fd store: FDSTORE=1 / FDNAME (default `stored`) make `NAME..X`,
  `NAME..X.2` handles with the fd's access, replaced by name, handed back
  after service.fds at each start in the order stored, named in
  LISTEN_FDNAMES; FDSTOREREMOVE=1 and fd.delete remove them; fds beyond N,
  without fdstore, without FDSTORE=1, with an invalid name, and 253 fds in
  one message are closed with a warning (the daemon's fd count proves it).
- Socket activation (listen-fds): LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES
  (overriding service.env), and a TCP service killed 20 times while a
  client connects in a loop: no connection is ever refused.
- Hostile input from services and strangers: afterwards daemonproxy answers
  echo, every line it wrote is clean, and its fd count is back to the
  baseline.

Services are real Python programs (AGENT, SERVER below).  The test drives an
agent through a FIFO (one JSON command per line) and reads its answers from
OUTDIR/rec-PID.jsonl; the first record of each run lists the fds and the
environment the agent was started with.
"""

import array
import errno
import fcntl
import json
import os
import random
import re
import shutil
import socket
import subprocess
import threading

from dp import TIMEOUT, Timeout, new_marker, wait_for
from svc_util import SvcTest, PY, free_port, mono

# Variables daemonproxy sets for the extensions; the daemons of these tests
# are started without them, so a child that has one got it from daemonproxy.
NOTIFY_VARS = ('NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES')

CONTROL_CHARS = re.compile(r'[\x00-\x08\x0a-\x1f]')

# ---------------------------------------------------------------------------
# the agent: a service driven by the test
#
# argv: FIFO OUTDIR.  First it records its fds and environment (before it
# opens anything), then executes JSON commands read from FIFO, appending one
# JSON record per command (with the command's token "t") to
# OUTDIR/rec-PID.jsonl.

AGENT = r'''
import array, errno, fcntl, json, os, select, socket, stat, sys, termios, time

FIFO, OUTDIR = sys.argv[1], sys.argv[2]
PID = os.getpid()


def fd_table():
    out = {}
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            st = os.fstat(fd)
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue        # the directory fd listdir used
        m = st.st_mode
        kind = ('sock' if stat.S_ISSOCK(m) else 'fifo' if stat.S_ISFIFO(m) else
                'reg' if stat.S_ISREG(m) else 'chr' if stat.S_ISCHR(m) else
                'dir' if stat.S_ISDIR(m) else 'other')
        acc = {os.O_RDONLY: 'r', os.O_WRONLY: 'w', os.O_RDWR: 'rw'}.get(fl & os.O_ACCMODE, '?')
        info = {'kind': kind, 'acc': acc, 'ino': st.st_ino}
        try:
            info['link'] = os.readlink('/proc/self/fd/%d' % fd)
        except OSError:
            pass
        if kind == 'sock':
            try:
                s = socket.socket(fileno=os.dup(fd))
            except OSError as e:
                info['sockerr'] = str(e)
            else:
                try:
                    a = s.getsockname()
                    if isinstance(a, tuple):
                        info['host'], info['port'] = a[0], a[1]
                    elif isinstance(a, bytes):
                        info['path'] = a.decode('latin-1')
                    else:
                        info['path'] = a
                    info['listening'] = bool(s.getsockopt(socket.SOL_SOCKET,
                                                          socket.SO_ACCEPTCONN))
                except OSError as e:
                    info['sockerr'] = str(e)
                finally:
                    s.close()
        out[str(fd)] = info
    return out


FDS = fd_table()
REC = os.open(os.path.join(OUTDIR, 'rec-%d.jsonl' % PID),
              os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
CTL = os.open(FIFO, os.O_RDWR)      # never EOF while we live


def rec(obj):
    os.write(REC, (json.dumps(obj) + '\n').encode())


def ename(e):
    return errno.errorcode.get(getattr(e, 'errno', None) or 0, repr(e))


def address(addr=None):
    a = addr or os.environ.get('NOTIFY_SOCKET', '')
    if a.startswith('@'):
        return b'\0' + a[1:].encode('latin-1')
    return a


def make_fds(specs):
    """specs: ['tcp'] a listening TCP socket; ['ro', PATH] a read-only
    file; ['pipe-w'] a pipe's write end; ['dup', N] one /dev/null fd N
    times.  Returns (fds to send, info per spec, fds to close after)."""
    fds, info, own = [], [], []
    for spec in specs:
        kind = spec[0]
        if kind == 'tcp':
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            s.listen(8)
            port = s.getsockname()[1]
            fd = s.detach()
            fds.append(fd)
            info.append({'kind': 'tcp', 'port': port, 'ino': os.fstat(fd).st_ino})
        elif kind == 'ro':
            fd = os.open(spec[1], os.O_RDONLY)
            fds.append(fd)
            info.append({'kind': 'ro', 'ino': os.fstat(fd).st_ino})
        elif kind == 'pipe-w':
            r, fd = os.pipe()
            os.close(r)
            fds.append(fd)
            info.append({'kind': 'pipe-w', 'ino': os.fstat(fd).st_ino})
        elif kind == 'dup':
            fd = os.open('/dev/null', os.O_RDONLY)
            fds.extend([fd] * spec[1])
            info.append({'kind': 'dup', 'ino': os.fstat(fd).st_ino})
        else:
            raise ValueError(kind)
        own.append(fd)
    return fds, info, own


def send(msg, specs=(), addr=None, n=1):
    """msg with the fds of specs, n times (the same fds each time)."""
    fds, info, own = make_fds(specs)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))] if fds else []
        for _ in range(n):
            s.sendmsg([msg.encode('latin-1')], anc, 0, address(addr))
        return {'ok': True, 'fds': info}
    except Exception as e:
        return {'err': ename(e), 'what': repr(e)}
    finally:
        s.close()
        for fd in own:
            os.close(fd)


def op_notify(c):
    return send(c['msg'], c.get('fds', ()), c.get('addr'))


def op_flood(c):
    for i in range(c['n']):
        r = send('STATUS=%d' % i)
        if 'ok' not in r:
            return r
    return {'ok': True}


def op_spam(c):
    return send(c['msg'], c.get('fds', ()), c.get('addr'), c['n'])


def op_barrier(c):
    # sd_notify_barrier: msg with the write ends of `nfds` pipes (ours
    # closed), then wait for end of file on the read ends: the receiver
    # has closed its copies
    pipes = [os.pipe() for _ in range(c.get('nfds', 1))]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    anc = ([(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [w for _, w in pipes]))]
           if pipes else [])
    try:
        s.sendmsg([c['msg'].encode('latin-1')], anc, 0, address())
    finally:
        s.close()
        for _, w in pipes:
            os.close(w)
    eof = []
    for r, _ in pipes:
        ready, _, _ = select.select([r], [], [], c['timeout'])
        eof.append(bool(ready) and os.read(r, 1) == b'')
        os.close(r)
    return {'ok': True, 'eof': eof}


def op_write(c):
    try:
        n = os.write(c['fd'], c['data'].encode('latin-1'))
    except OSError as e:
        return {'err': ename(e)}
    r = {'ok': True, 'n': n}
    if c.get('drain'):
        # wait until the reader has taken every byte (FIONREAD on the pipe)
        buf = array.array('i', [0])
        deadline = time.monotonic() + c['drain']
        while True:
            fcntl.ioctl(c['fd'], termios.FIONREAD, buf, True)
            if buf[0] == 0:
                r['drained'] = True
                break
            if time.monotonic() > deadline:
                r['drained'] = False
                break
            time.sleep(0.005)
    return r


def op_bigwrite(c):
    chunk = b'x' * 65536
    total = 0
    try:
        while total < c['total']:
            total += os.write(c['fd'], chunk)
    except OSError as e:
        return {'wrote': total, 'err': ename(e)}
    return {'wrote': total, 'err': None}


def op_fork_notify(c):
    # depth 1: a child sends; depth 2: a grandchild.  The chain stays alive
    # (the sender sleeps, each parent waits) so the sender's ancestry holds
    # when daemonproxy checks it; the sender records the reply itself.
    if os.fork() == 0:
        try:
            for _ in range(c.get('depth', 1) - 1):
                if os.fork() != 0:
                    os.wait()
                    os._exit(0)
            r = send(c['msg'])
            r.update(t=c['t'], sender=os.getpid(), ppid=os.getppid())
            rec(r)
            time.sleep(300)
        finally:
            os._exit(0)
    return None


def op_detach(c):
    # double fork: an agent on another FIFO that is no descendant of ours;
    # with 'release' (a path), the middle process stays until that file
    # exists, and the agent is our grandchild until then
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(r)
            gc = os.fork()
            if gc == 0:
                os.close(w)
                os.execv(sys.executable, [sys.executable, os.path.abspath(sys.argv[0]),
                                          c['fifo'], OUTDIR])
            os.write(w, str(gc).encode())
            os.close(w)
            while c.get('release') and not os.path.exists(c['release']):
                time.sleep(0.01)
        finally:
            os._exit(0)
    os.close(w)
    data = b''
    while True:
        b = os.read(r, 100)
        if not b:
            break
        data += b
    os.close(r)
    if not c.get('release'):
        os.waitpid(child, 0)
    return {'ok': True, 'pid': int(data), 'middle': child}


def op_env(c):
    return {'env': dict(os.environ)}


def op_exit(c):
    os._exit(c.get('code', 0))


OPS = {'notify': op_notify, 'flood': op_flood, 'spam': op_spam, 'barrier': op_barrier,
       'write': op_write, 'bigwrite': op_bigwrite,
       'fork-notify': op_fork_notify, 'detach': op_detach, 'env': op_env, 'exit': op_exit}

rec({'start': PID, 'ppid': os.getppid(), 'fds': FDS, 'env': dict(os.environ)})
buf = b''
while True:
    data = os.read(CTL, 65536)
    buf += data
    while b'\n' in buf:
        line, buf = buf.split(b'\n', 1)
        c = json.loads(line)
        try:
            r = OPS[c['op']](c)
        except Exception as e:
            r = {'exc': repr(e)}
        if r is not None:
            r['t'] = c['t']
            rec(r)
'''

# A socket-activated TCP service: records what it was given in
# OUTDIR/srv-PID.json, then answers each connection on fd 3 with one line.
SERVER = r'''
import json, os, socket, sys
outdir = sys.argv[1]
pid = os.getpid()
fds = []
for name in os.listdir('/proc/self/fd'):
    try:
        os.fstat(int(name))
    except OSError:
        continue
    fds.append(int(name))
info = {'pid': pid, 'fds': sorted(fds),
        'env': {k: os.environ.get(k) for k in ('LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES')}}
p = os.path.join(outdir, 'srv-%d.json' % pid)
with open(p + '.tmp', 'w') as f:
    json.dump(info, f)
os.rename(p + '.tmp', p)
lst = socket.socket(fileno=3)
while True:
    conn, _ = lst.accept()
    try:
        conn.sendall(b'hello %d\n' % pid)
    except OSError:
        pass
    conn.close()
'''


def abstract(addr):
    """A NOTIFY_SOCKET value ('@name') as a Python AF_UNIX address."""
    assert addr.startswith('@'), addr
    return b'\0' + addr[1:].encode('latin-1')


def send_dgram(addr, data, fds=()):
    """Send one datagram from the test process itself."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    try:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))] if fds else []
        s.sendmsg([data], anc, 0, abstract(addr))
    finally:
        s.close()


def svc_lines(dump, name):
    """The service.* lines of NAME (in order)."""
    return [l for l in dump if l.startswith('service.') and l.split('\t')[1] == name]


def notify_lines(lines, name=None):
    return [l for l in lines if l.startswith('service.notify\t')
            and (name is None or l.split('\t')[1] == name)]


def fd_lines(lines, name):
    return [l for l in lines if l.startswith('fd.state\t%s\t' % name)]


def proc_ppid(pid):
    """The parent of pid, from /proc (None once it is gone)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def fd_links(pid):
    out = {}
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            out[int(fd)] = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            pass
    return out


def abstract_dgram_sockets():
    """Names ('@...') of the abstract datagram unix sockets of this netns."""
    out = set()
    with open('/proc/net/unix') as f:
        next(f)
        for line in f:
            p = line.split()
            if len(p) >= 8 and p[4] == '0002' and p[7].startswith('@'):
                out.add(p[7])
    return out


class NotifyBase(SvcTest):

    def setUp(self):
        super().setUp()
        self.agent_py = self.script('agent.py', AGENT)
        self.fifos = {}
        self.pids = {}
        self.d = None

    # --- daemon and services -----------------------------------------------
    def daemon(self, *args, **extra_env):
        env = {k: v for k, v in os.environ.items() if k not in NOTIFY_VARS}
        env.update(extra_env)
        self.d = self.start(*args, env=env)
        return self.d

    def daemon_and_client(self):
        """A daemon with a control socket, and a connected client that
        sees every broadcast."""
        sock = self.path('c.sock')
        d = self.daemon('-S', sock)
        c = self.connect(sock)
        c.ping()
        return d, c

    def no_errors(self, out, what='commands'):
        self.assertEqual([l for l in out if l.startswith('error\t')], [], what)
        return out

    def agent(self, d, name, fds=('null', 'null', 'stderr'), opts=None, env=None):
        """Define NAME as an agent (not started)."""
        fifo = self.path(name + '.fifo')
        if not os.path.exists(fifo):
            os.mkfifo(fifo, 0o600)
        self.fifos[name] = fifo
        cmds = ['\t'.join(['service.args', name, PY, self.agent_py, fifo, self.tmp]),
                '\t'.join(['service.fds', name] + list(fds))]
        if opts is not None:
            cmds.append('\t'.join(['service.opts', name] + list(opts)))
        if env is not None:
            cmds.append('\t'.join(['service.env', name] + list(env)))
        return self.no_errors(d.cmd(*cmds), 'defining agent %s' % name)

    def up(self, d, name):
        """Start NAME; returns (pid, its start record, the up TS)."""
        d.send('service.start\t' + name)
        f = self.expect_state(d, name, 'up')
        pid = int(f[4])
        self.pids[name] = pid
        return pid, self.start_rec(pid), int(f[3])

    def kill_svc(self, d, name):
        d.send('service.signal\t%s\tSIGKILL' % name)
        return self.expect_state(d, name, 'down')

    def log_tail(self):
        return self.d.log.snapshot()[-15:] if self.d is not None and self.d.log else []

    # --- agent records -------------------------------------------------------
    def records(self, pid):
        text = self.read_text('rec-%d.jsonl' % pid) or ''
        return [json.loads(l) for l in text.split('\n')[:-1] if l]

    def rec_find(self, pid, pred, what):
        box = []

        def check():
            for r in self.records(pid):
                if pred(r):
                    box.append(r)
                    return True
            return False
        try:
            wait_for(check, TIMEOUT, what)
        except Timeout as e:
            raise Timeout('%s; agent %d records %r; log %r'
                          % (e, pid, [str(r)[:300] for r in self.records(pid)[-4:]],
                             self.log_tail()))
        return box[0]

    def start_rec(self, pid):
        return self.rec_find(pid, lambda r: r.get('start') == pid, 'start record of agent %d' % pid)

    def write_fifo(self, path, data):
        def opener():
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK) + 1
            except OSError as e:
                if e.errno == errno.ENXIO:      # no reader (yet)
                    return None
                raise
        fd = wait_for(opener, msg='an agent reading %s' % path) - 1
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def tell(self, name, op, **kw):
        """Have agent NAME run op; returns its record."""
        tok = new_marker('op')
        kw.update(op=op, t=tok)
        self.write_fifo(self.fifos[name], (json.dumps(kw) + '\n').encode())
        return self.rec_find(self.pids[name], lambda r: r.get('t') == tok,
                             'agent %s: %s' % (name, op))

    def announce_detached(self, d, name):
        """Agent NAME forks a grandchild D (an agent too), announces it
        with MAINPID=, then lets it detach (reparented to daemonproxy).
        Returns (the detach record, D's pid)."""
        self.fifos['D'] = self.path('D.fifo')
        os.mkfifo(self.fifos['D'], 0o600)
        release = self.path('release')
        r = self.tell(name, 'detach', fifo=self.fifos['D'], release=release)
        dpid = self.pids['D'] = r['pid']
        self.start_rec(dpid)
        self.assertEqual(proc_ppid(dpid), r['middle'], 'a grandchild of the main process')
        self.notified(d, name, 'MAINPID=%d' % dpid)
        open(release, 'w').close()
        wait_for(lambda: proc_ppid(dpid) == d.pid, msg='pid %d reparented to daemonproxy' % dpid)
        return r, dpid

    def send_notify(self, name, msg, fds=(), addr=None):
        r = self.tell(name, 'notify', msg=msg, fds=[list(f) for f in fds], addr=addr)
        self.assertTrue(r.get('ok'), 'agent %s could not send %r: %r' % (name, msg[:60], r))
        return r

    # --- events --------------------------------------------------------------
    def expect_notify(self, d, name):
        """The next service.notify event of NAME, as fields (TS and PID
        checked to be integers)."""
        line = d.expect(lambda l: l.startswith('service.notify\t%s\t' % name))
        f = line.split('\t')
        self.assertGreaterEqual(len(f), 5, line)
        self.assertRegex(f[2], r'^\d+$', 'TS of %r' % line)
        self.assertRegex(f[3], r'^\d+$', 'PID of %r' % line)
        return f

    def notified(self, d, name, msg, fields=None):
        """Agent NAME's main process sends msg; the next service.notify of
        NAME must carry fields (default: msg as one field) and its pid."""
        self.send_notify(name, msg)
        f = self.expect_notify(d, name)
        self.assertEqual(f[4:], [msg] if fields is None else fields, 'sent %r' % msg[:80])
        self.assertEqual(f[3], str(self.pids[name]))
        return f

    def marker(self, d, name):
        """A unique STATUS from NAME's main process, and its event: every
        message NAME sent before has been handled.  (Other service.notify
        events of NAME before it, those of FDSTORE messages say, are
        skipped.)"""
        m = 'STATUS=' + new_marker('marker')
        self.send_notify(name, m)
        line = d.expect(lambda l: l.startswith('service.notify\t%s\t' % name)
                        and l.endswith('\t' + m))
        self.assertEqual(line.split('\t')[3], str(self.pids[name]))

    def expect_fd_state(self, d, name):
        return d.expect(lambda l: l.startswith('fd.state\t%s\t' % name))

    def log_mark(self, d):
        return len(d.log.snapshot())

    def warnings_since(self, d, mark):
        return [l for l in d.log.snapshot()[mark:] if l.startswith('warning: ')]

    def expect_warnings(self, d, mark, n=1, what='warning'):
        try:
            wait_for(lambda: len(self.warnings_since(d, mark)) >= n,
                     msg='%d warning(s) in the log: %s' % (n, what))
        except Timeout as e:
            raise Timeout('%s; log since: %r' % (e, d.log.snapshot()[mark:][-15:]))

    def assert_refused(self, d, name, mark, n_warn=1, what='refused message'):
        """Every message sent to NAME's socket since was refused: a marker
        from NAME's main process is the next service.notify event (no event
        at all came before it), and the log got n_warn new warnings."""
        marker = 'STATUS=' + new_marker('marker')
        self.send_notify(name, marker)
        line = d.expect(lambda l: l.startswith('service.notify\t'))
        f = line.split('\t')
        self.assertEqual((f[1], f[3], f[4:]), (name, str(self.pids[name]), [marker]),
                         '%s: the first event after it must be the marker' % what)
        self.expect_warnings(d, mark, n_warn, what)

    def settle_fds(self, d, want, what):
        """The daemon's fd count reaches want (it is never expected to
        pass through it on the way)."""
        d.ping()
        try:
            wait_for(lambda: d.fd_count() == want, msg=what)
        except Timeout:
            raise AssertionError('%s: daemonproxy holds %d fds, expected %d: %r'
                                 % (what, d.fd_count(), want, fd_links(d.pid)))

    def warm(self, d, name):
        """A first message (so whatever the service's socket needs exists),
        then the daemon's fd count."""
        self.notified(d, name, 'STATUS=warm')
        d.ping()
        return d.fd_count()


# ---------------------------------------------------------------------------

class Env(NotifyBase):

    def test_env_events_set_replace_clear(self):
        d, c = self.daemon_and_client()
        ev = 'service.env\ts\tA=1\tB=x=y\t-HOME'
        self.assertEqual(d.cmd(ev), [ev])
        c.expect(ev)        # broadcast to every controller
        st = self.dump_state(d, 's')
        self.assertIsNotNone(st, 'service.env creates the service')
        self.assertEqual(st[2], 'down')
        # replace
        self.assertEqual(d.cmd('service.env\ts\tC=3'), ['service.env\ts\tC=3'])
        c.expect('service.env\ts\tC=3')
        self.assertEqual([l for l in self.dump(d) if l.startswith('service.env\t')],
                         ['service.env\ts\tC=3'])
        # clear: no entries
        self.assertEqual(d.cmd('service.env\ts'), ['service.env\ts\t'])
        c.expect('service.env\ts\t')
        # entries are kept as given, in order; odd but valid names
        good = ['Z=1', '-Y', 'EMPTY=', 'lower.dot-dash=v', '_U=1', 'V' * 255 + '=x',
                '-' + 'W' * 255, 'S=with spaces and = signs']
        ev = '\t'.join(['service.env', 's'] + good)
        self.assertEqual(d.cmd(ev), [ev])
        c.expect(ev)

    def test_env_invalid_entries(self):
        d = self.daemon()
        self.assertEqual(d.cmd('service.env\ts\tKEEP=1'), ['service.env\ts\tKEEP=1'])
        for bad in ('FOO', '-', '=x', '1X=y', '-1X', '=', '9=9'):
            self.assertCmdError(d, 'service.env\ts\tA=1\t' + bad,
                                "invalid environment entry '%s' (VAR=VALUE or -VAR)" % bad)
        for bad in ('V' * 256 + '=x', '-' + 'W' * 256):
            self.assertCmdError(d, 'service.env\ts\t' + bad, 'invalid environment entry')
        # no event went out, and nothing changed
        self.assertEqual([l for l in d.reader.seen if l.startswith('service.env\t')],
                         ['service.env\ts\tKEEP=1'])
        self.assertEqual(svc_lines(self.dump(d), 's')[-1], 'service.env\ts\tKEEP=1')
        # a failed command creates nothing
        self.assertCmdError(d, 'service.env\tfresh\tFOO', 'invalid environment entry')
        self.assertIsNone(self.dump_state(d, 'fresh'))

    def test_env_statedump(self):
        d = self.daemon()
        self.define(d, 's', ['sleep', '30'], tags=['t1'], auto_up=[5, 'SIGUSR2'])
        self.define(d, 'u', ['true'])
        self.no_errors(d.cmd('service.env\ts\tA=1\t-B'))
        dump = self.dump(d)
        self.assertEqual([l.split('\t')[0] for l in svc_lines(dump, 's')],
                         ['service.state', 'service.tags', 'service.args', 'service.fds',
                          'service.auto_up', 'service.env'])
        self.assertIn('service.env\ts\tA=1\t-B', dump)
        self.assertEqual([l.split('\t')[0] for l in svc_lines(dump, 'u')],
                         ['service.state', 'service.tags', 'service.args', 'service.fds',
                          'service.auto_up'], 'no service.env line when empty')
        d.cmd('service.env\ts')
        self.assertEqual([l for l in self.dump(d) if l.startswith('service.env')], [],
                         'a cleared list is not listed')

    def test_env_seen_by_child(self):
        d = self.daemon(DPT_INHERITED='inherited', DPT_KEEP='kept', DPT_OVER='old')
        self.agent(d, 's', env=['A=1', 'B=x=y', '-DPT_INHERITED', 'DPT_OVER=new', 'EMPTY=',
                                '-DPT_NOT_THERE', 'SP=a b'])
        self.agent(d, 'plain')
        _, st, _ = self.up(d, 's')
        env = st['env']
        self.assertEqual(env.get('A'), '1')
        self.assertEqual(env.get('B'), 'x=y', '= inside the value')
        self.assertEqual(env.get('EMPTY'), '')
        self.assertEqual(env.get('SP'), 'a b')
        self.assertEqual(env.get('DPT_OVER'), 'new', 'VAR=VALUE overrides an inherited VAR')
        self.assertEqual(env.get('DPT_KEEP'), 'kept')
        self.assertNotIn('DPT_INHERITED', env, '-VAR removes an inherited variable')
        self.assertNotIn('DPT_NOT_THERE', env)
        for v in NOTIFY_VARS:
            self.assertNotIn(v, env, 'no option, no %s' % v)
        # daemonproxy's own environment is untouched: another service gets it all
        _, st_plain, _ = self.up(d, 'plain')
        plain = st_plain['env']
        self.assertEqual((plain.get('DPT_INHERITED'), plain.get('DPT_OVER'), plain.get('DPT_KEEP')),
                         ('inherited', 'old', 'kept'))
        self.assertNotIn('A', plain)
        # a replaced list applies at the next start
        self.no_errors(d.cmd('service.env\ts\tC=3'))
        self.kill_svc(d, 's')
        _, st, _ = self.up(d, 's')
        env = st['env']
        self.assertEqual(env.get('C'), '3')
        self.assertNotIn('A', env)
        self.assertEqual(env.get('DPT_INHERITED'), 'inherited')
        self.assertEqual(env.get('DPT_OVER'), 'old')
        # cleared: exactly daemonproxy's environment, as for a service without one
        self.no_errors(d.cmd('service.env\ts'))
        self.kill_svc(d, 's')
        _, st, _ = self.up(d, 's')
        self.assertEqual(st['env'], plain)

    def test_daemonproxys_own_notify_and_listen_vars_not_passed_on(self):
        # NOTIFY_SOCKET and LISTEN_* meant for daemonproxy itself (from
        # systemd, say) never reach a service, with options or without
        d = self.daemon(NOTIFY_SOCKET='@systemd-notify', LISTEN_FDS='2', LISTEN_PID='1',
                        LISTEN_FDNAMES='a:b', DPT_KEEP='kept')
        self.agent(d, 'plain')
        _, st, _ = self.up(d, 'plain')
        self.assertEqual(st['env'].get('DPT_KEEP'), 'kept')
        for v in NOTIFY_VARS:
            self.assertNotIn(v, st['env'])


class Opts(NotifyBase):

    def test_opts_canonical_order_and_clear(self):
        d, c = self.daemon_and_client()
        for given, shown in ((['fdstore=3', 'listen-fds', 'notify'],
                              ['notify', 'listen-fds', 'fdstore=3']),
                             (['listen-fds', 'notify'], ['notify', 'listen-fds']),
                             (['fdstore=1024', 'notify'], ['notify', 'fdstore=1024']),
                             (['fdstore=1', 'listen-fds'], ['listen-fds', 'fdstore=1']),
                             (['fdstore=7'], ['fdstore=7']),
                             (['listen-fds'], ['listen-fds']),
                             (['notify'], ['notify'])):
            ev = '\t'.join(['service.opts', 's'] + shown)
            self.assertEqual(d.cmd('\t'.join(['service.opts', 's'] + given)), [ev], given)
            c.expect(ev)
        self.assertEqual(self.dump_state(d, 's')[2], 'down', 'service.opts creates the service')
        self.assertEqual(d.cmd('service.opts\ts'), ['service.opts\ts\t'])
        c.expect('service.opts\ts\t')

    def test_opts_invalid(self):
        d = self.daemon()
        self.assertEqual(d.cmd('service.opts\ts\tnotify'), ['service.opts\ts\tnotify'])
        for bad in ('bogus', 'fdstore=0', 'fdstore=1025', 'fdstore=x', 'fdstore=', 'fdstore',
                    'fdstore=-1', 'fdstore=99999999999999999999', 'listen_fds', 'notify=1'):
            self.assertCmdError(d, 'service.opts\ts\tlisten-fds\t' + bad,
                                "invalid option '%s'" % bad)
        self.assertEqual(svc_lines(self.dump(d), 's')[-1], 'service.opts\ts\tnotify',
                         'a failed service.opts changes nothing')
        self.assertCmdError(d, 'service.opts\tfresh\tbogus', "invalid option 'bogus'")
        self.assertIsNone(self.dump_state(d, 'fresh'), 'a failed service.opts creates nothing')

    def test_opts_statedump(self):
        d = self.daemon()
        self.define(d, 's', ['sleep', '30'], auto_up=[2, 'SIGUSR1'])
        self.define(d, 'u', ['true'])
        self.no_errors(d.cmd('service.opts\ts\tfdstore=2\tnotify', 'service.env\ts\tA=1'))
        dump = self.dump(d)
        self.assertEqual([l.split('\t')[0] for l in svc_lines(dump, 's')],
                         ['service.state', 'service.tags', 'service.args', 'service.fds',
                          'service.auto_up', 'service.env', 'service.opts'])
        self.assertIn('service.opts\ts\tnotify\tfdstore=2', dump)
        self.assertEqual([l for l in svc_lines(dump, 'u') if l.startswith('service.opts')], [])
        # opts without env
        d.cmd('service.env\ts')
        self.assertEqual(svc_lines(self.dump(d), 's')[-2:],
                         ['service.auto_up\ts\t2\tSIGUSR1', 'service.opts\ts\tnotify\tfdstore=2'])
        d.cmd('service.opts\ts')
        self.assertEqual([l for l in self.dump(d) if l.startswith('service.opts')], [])


class NotifyFd(NotifyBase):
    FDS = ['null', 'null', 'stderr', 'notify.fd']

    def test_placeholder_in_statedump(self):
        d = self.daemon()
        dump = self.dump(d)
        self.assertEqual(fd_lines(dump, 'notify.fd'),
                         ['fd.state\tnotify.fd\tspecial\twrite\treadiness notification pipe'])
        names = [l.split('\t')[1] for l in dump if l.startswith('fd.state\t')]
        self.assertEqual(names, sorted(names, key=lambda s: s.encode()))

    def test_placeholder_is_constant(self):
        d = self.daemon()
        for cmd in ('fd.delete\tnotify.fd', 'fd.open\tnotify.fd\tread\t/dev/null',
                    'fd.pipe\tnotify.fd\tnfx', 'fd.pipe\tnfx\tnotify.fd',
                    'fd.socket\tnotify.fd\tunix'):
            self.assertCmdError(d, cmd)
        dump = self.dump(d)
        self.assertEqual(fd_lines(dump, 'notify.fd'),
                         ['fd.state\tnotify.fd\tspecial\twrite\treadiness notification pipe'])
        self.assertEqual(fd_lines(dump, 'nfx'), [])

    def test_ready_on_first_newline(self):
        d = self.daemon()
        self.agent(d, 's', fds=self.FDS)
        pid, st, up_ts = self.up(d, 's')
        fds = st['fds']
        self.assertEqual(sorted(fds, key=int), ['0', '1', '2', '3'], fds)
        self.assertEqual((fds['3']['kind'], fds['3']['acc']), ('fifo', 'w'),
                         'fd 3 is the write end of a pipe')
        # bytes before the newline: daemonproxy takes them, nothing happens
        for data in ('junk', ' more junk'):
            r = self.tell('s', 'write', fd=3, data=data, drain=TIMEOUT)
            self.assertEqual((r.get('n'), r.get('drained')), (len(data), True), r)
            self.assertEqual(notify_lines(d.cmd()), [], 'no event before the newline')
        # the newline (the rest of the same write is ignored)
        self.tell('s', 'write', fd=3, data='\nafter\n\n')
        f = self.expect_notify(d, 's')
        self.assertEqual(f[1:2] + f[3:], ['s', str(pid), 'READY=1'])
        self.assertLessEqual(up_ts, int(f[2]))
        self.assertLessEqual(int(f[2]), int(mono()) + 1)
        self.assertEqual(notify_lines(d.cmd()), [], 'one event only')
        # daemonproxy closed its end
        r = self.tell('s', 'write', fd=3, data='again\n')
        self.assertEqual(r.get('err'), 'EPIPE', r)
        self.assertEqual(notify_lines(d.cmd()), [])
        self.assertEqual(self.dump_state(d, 's')[2], 'up')

    def test_fresh_pipe_per_start_and_per_service(self):
        d = self.daemon()
        self.agent(d, 'a', fds=self.FDS)
        self.agent(d, 'b', fds=['null', 'null', 'stderr', '-', 'notify.fd'])
        pa, sta, _ = self.up(d, 'a')
        pb, stb, _ = self.up(d, 'b')
        self.assertEqual(sorted(stb['fds'], key=int), ['0', '1', '2', '4'], 'at its position')
        self.assertEqual((stb['fds']['4']['kind'], stb['fds']['4']['acc']), ('fifo', 'w'))
        self.assertNotEqual(sta['fds']['3']['ino'], stb['fds']['4']['ino'], 'one pipe per service')
        self.tell('b', 'write', fd=4, data='\n')
        f = d.expect(lambda l: l.startswith('service.notify\t'))
        self.assertEqual(f.split('\t')[1:2] + f.split('\t')[3:], ['b', str(pb), 'READY=1'])
        self.tell('a', 'write', fd=3, data='\n')
        f = d.expect(lambda l: l.startswith('service.notify\t'))
        self.assertEqual(f.split('\t')[1:2] + f.split('\t')[3:], ['a', str(pa), 'READY=1'])
        # a restart gets a new pipe, and can be ready again
        self.kill_svc(d, 'a')
        pa2, sta2, _ = self.up(d, 'a')
        self.assertNotEqual(sta2['fds']['3']['ino'], sta['fds']['3']['ino'])
        self.tell('a', 'write', fd=3, data='ready\n')
        f = self.expect_notify(d, 'a')
        self.assertEqual(f[3:], [str(pa2), 'READY=1'])

    def test_4096_bytes_without_newline(self):
        d = self.daemon()
        self.agent(d, 's', fds=self.FDS)
        pid, _, _ = self.up(d, 's')
        r = self.tell('s', 'write', fd=3, data='x' * 4095, drain=TIMEOUT)
        self.assertEqual((r.get('n'), r.get('drained')), (4095, True), r)
        self.assertEqual(notify_lines(d.cmd()), [])
        self.tell('s', 'write', fd=3, data='\n')
        self.assertEqual(self.expect_notify(d, 's')[3:], [str(pid), 'READY=1'],
                         '4095 bytes, then the newline: ready')
        self.agent(d, 't', fds=self.FDS)
        self.up(d, 't')
        mark = self.log_mark(d)
        r = self.tell('t', 'write', fd=3, data='y' * 4096, drain=TIMEOUT)
        self.assertEqual((r.get('n'), r.get('drained')), (4096, True), r)
        self.expect_warnings(d, mark, 1, '4096 bytes without a newline')
        d.ping()
        r = self.tell('t', 'write', fd=3, data='\n')
        self.assertEqual(r.get('err'), 'EPIPE', 'the pipe was closed: %r' % r)
        self.assertEqual(notify_lines(d.cmd(), 't'), [])

    def test_megabytes_without_newline(self):
        d = self.daemon()
        self.agent(d, 's', fds=self.FDS)
        # a first run, so that anything allocated once is there
        self.up(d, 's')
        self.tell('s', 'write', fd=3, data='\n')
        self.expect_notify(d, 's')
        self.kill_svc(d, 's')
        d.ping()
        n0 = d.fd_count()
        self.up(d, 's')
        mark = self.log_mark(d)
        r = self.tell('s', 'bigwrite', fd=3, total=4 << 20)
        self.assertEqual(r.get('err'), 'EPIPE', r)
        self.assertLess(r['wrote'], 4 << 20)
        self.expect_warnings(d, mark, 1, 'a flood without a newline')
        self.assertEqual(notify_lines(d.cmd()), [])
        self.assertEqual(d.cmd1('echo\tresponsive'), 'responsive')
        self.kill_svc(d, 's')
        self.settle_fds(d, n0, 'after the flooding service exited')


class SdNotify(NotifyBase):

    def test_notify_socket_variable(self):
        d = self.daemon()
        self.agent(d, 'a', opts=['notify'], env=['NOTIFY_SOCKET=@bogus', 'A=1'])
        self.agent(d, 'b', opts=['notify'])
        self.agent(d, 'plain')
        _, sa, _ = self.up(d, 'a')
        _, sb, _ = self.up(d, 'b')
        _, sp, _ = self.up(d, 'plain')
        na, nb = sa['env'].get('NOTIFY_SOCKET'), sb['env'].get('NOTIFY_SOCKET')
        for n in (na, nb):
            self.assertTrue(n and n.startswith('@') and len(n) > 1, 'NOTIFY_SOCKET %r' % n)
        self.assertNotEqual(na, '@bogus', 'the option wins over service.env')
        self.assertEqual(sa['env'].get('A'), '1')
        self.assertNotEqual(na, nb, 'one socket per service')
        socks = abstract_dgram_sockets()
        self.assertIn(na, socks, 'a bound datagram socket')
        self.assertIn(nb, socks)
        self.assertNotIn('NOTIFY_SOCKET', sp['env'], 'no option, no NOTIFY_SOCKET')
        self.assertNotIn('LISTEN_FDS', sa['env'])
        # without the option again, the next start has none
        self.no_errors(d.cmd('service.opts\tb'))
        self.kill_svc(d, 'b')
        _, sb, _ = self.up(d, 'b')
        self.assertNotIn('NOTIFY_SOCKET', sb['env'])

    def test_assignments_become_fields(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        pid, _, up_ts = self.up(d, 's')
        for msg in ('READY=1', 'STATUS=Serving 5 clients', 'MAINPID=%d' % pid, 'RELOADING=1',
                    'STOPPING=1', 'FOO=bar', 'ERRNO=2', 'WATCHDOG=1',
                    'EXTEND_TIMEOUT_USEC=5000000', 'STATUS=a=b=c', 'STATUS=caf\xe9'):
            f = self.notified(d, 's', msg)
            self.assertLessEqual(up_ts, int(f[2]))
        self.notified(d, 's', 'READY=1\nSTATUS=all in one\nFOO=bar\nMAINPID=%d\nX_Y=' % pid,
                      ['READY=1', 'STATUS=all in one', 'FOO=bar', 'MAINPID=%d' % pid, 'X_Y='])
        self.notified(d, 's', 'STATUS=trailing newline\n', ['STATUS=trailing newline'])
        self.notified(d, 's', 'STOPPING=1\n\nSTATUS=after an empty line\n',
                      ['STOPPING=1', 'STATUS=after an empty line'])

    def test_control_characters_shown_as_question_marks(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        self.notified(d, 's', 'STATUS=caf\xe9 stays', ['STATUS=caf\xe9 stays'])
        self.notified(d, 's', 'FOO\x02=1\nREADY=1', ['FOO?=1', 'READY=1'])
        self.notified(d, 's', 'STATUS=a\tb\x01c\rd\x1be', ['STATUS=a?b?c?d?e'])
        st = notify_lines(self.dump(d), 's')
        self.assertEqual(len(st), 1, st)
        self.assertEqual(st[0].split('\t')[4:], ['READY=1', 'STATUS=a?b?c?d?e'])
        for l in d.reader.seen:
            self.assertNotRegex(l, CONTROL_CHARS)

    def test_nul_byte_shown_as_question_mark(self):
        # NUL is a byte below 0x20 like the others ("control characters
        # shown as ?"); systemd instead ignores such a datagram.
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        self.notified(d, 's', 'STATUS=nul\0after\nREADY=1', ['STATUS=nul?after', 'READY=1'])

    def test_assignment_cut_to_1024_bytes(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        long = 'STATUS=' + 'y' * 2000
        self.notified(d, 's', long, [long[:1024]])
        exact = 'STATUS=' + 'z' * (1024 - 7)
        self.notified(d, 's', exact, [exact])
        over = 'STATUS=' + 'w' * (1025 - 7)
        self.notified(d, 's', over, [over[:1024]])
        foo = 'FOO=' + 'q' * 3000
        self.notified(d, 's', foo + '\nREADY=1', [foo[:1024], 'READY=1'])
        st = notify_lines(self.dump(d), 's')
        self.assertEqual([l.split('\t')[4:] for l in st], [['READY=1', over[:1024]]])

    def test_message_size_limit(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        parts = ['A1=' + 'a' * 1020, 'A2=' + 'b' * 1020, 'A3=' + 'c' * 1020]
        head = '\n'.join(parts) + '\n'
        parts.append('A4=' + 'd' * (4096 - len(head) - 3))
        msg = '\n'.join(parts)
        self.assertEqual(len(msg), 4096)
        self.notified(d, 's', msg, parts)
        mark = self.log_mark(d)
        self.send_notify('s', 'STATUS=' + 'e' * (4097 - 7))
        self.send_notify('s', 'READY=1\nSTATUS=' + 'f' * 65000)
        self.assert_refused(d, 's', mark, 2, 'datagrams over 4096 bytes')

    def test_message_without_assignment_refused(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        mark = self.log_mark(d)
        self.send_notify('s', '')
        self.send_notify('s', '\n\n')
        self.assert_refused(d, 's', mark, 2, 'empty datagrams')

    def test_many_messages_in_order(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        pid, _, _ = self.up(d, 's')
        self.assertTrue(self.tell('s', 'flood', n=300).get('ok'))
        got = []
        for _ in range(300):
            f = self.expect_notify(d, 's')
            self.assertEqual(f[3], str(pid))
            got.append(f[4:])
        self.assertEqual(got, [['STATUS=%d' % i] for i in range(300)])
        self.assertEqual(notify_lines(d.cmd()), [])

    def test_refused_from_unrelated_process(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        pid, st, _ = self.up(d, 's')
        base = self.warm(d, 's')
        addr = st['env']['NOTIFY_SOCKET']
        mark = self.log_mark(d)
        # the test process is daemonproxy's parent: no process of the service
        send_dgram(addr, b'READY=1\nSTATUS=intruder')
        nul = os.open('/dev/null', os.O_RDONLY)
        try:
            send_dgram(addr, b'FDSTORE=1\nFDNAME=evil', [nul] * 5)
        finally:
            os.close(nul)
        self.assert_refused(d, 's', mark, 2, 'datagrams from the test process')
        st = notify_lines(self.dump(d), 's')
        self.assertEqual(len(st), 1, st)
        self.assertEqual(st[0].split('\t')[3:5], [str(pid), '-'],
                         "the intruder's READY=1 is ignored")
        self.settle_fds(d, base, 'the fds of a refused message are closed')

    def test_refused_from_other_uid(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to run a sender as nobody')
        if not shutil.which('setpriv'):
            self.skipTest('setpriv not installed')
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        _, st, _ = self.up(d, 's')
        addr = st['env']['NOTIFY_SOCKET']
        mark = self.log_mark(d)
        code = ('import os, socket, sys\n'
                'print("uid", os.getuid(), flush=True)\n'
                's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n'
                's.sendto(b"READY=1\\nSTATUS=from-nobody",\n'
                '         b"\\0" + sys.argv[1][1:].encode("latin-1"))\n'
                'print("sent", flush=True)\n')
        for py in (PY, '/usr/bin/python3'):
            p = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                                py, '-I', '-c', code, addr], cwd='/', timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if b'uid' in p.stdout:
                break
        else:
            self.skipTest('cannot run python as nobody: %r' % p.stderr[-300:])
        self.assertEqual(p.stdout.split(b'\n')[:2], [b'uid 65534', b'sent'], p.stderr)
        self.assert_refused(d, 's', mark, 1, 'a datagram from uid 65534')

    def test_refused_from_other_service(self):
        d = self.daemon()
        self.agent(d, 'a', opts=['notify'])
        self.agent(d, 'b', opts=['notify'])
        self.up(d, 'a')
        _, stb, _ = self.up(d, 'b')
        mark = self.log_mark(d)
        self.send_notify('a', 'READY=1\nSTATUS=from-a', addr=stb['env']['NOTIFY_SOCKET'])
        self.assert_refused(d, 'b', mark, 1, "a datagram from a's process on b's socket")

    def test_accepted_from_child_and_grandchild(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        pid, _, _ = self.up(d, 's')
        for depth, what in ((1, 'child'), (2, 'grandchild')):
            r = self.tell('s', 'fork-notify', msg='STATUS=from-' + what, depth=depth)
            self.assertTrue(r.get('ok'), r)
            self.assertNotEqual(r['sender'], pid)
            if depth == 1:
                self.assertEqual(r['ppid'], pid)
            else:
                self.assertNotEqual(r['ppid'], pid)
            f = self.expect_notify(d, 's')
            self.assertEqual(f[3:], [str(r['sender']), 'STATUS=from-' + what])
        st = notify_lines(self.dump(d), 's')
        self.assertEqual(len(st), 1, st)
        self.assertEqual(st[0].split('\t')[3:], [str(r['sender']), '-', 'STATUS=from-grandchild'])

    def test_accepted_from_announced_mainpid(self):
        # announced while it is a descendant (a grandchild), the main pid
        # stays the service's after it detached (reparented to daemonproxy),
        # until another one is announced
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        pid, _, _ = self.up(d, 's')
        _, dpid = self.announce_detached(d, 's')
        self.send_notify('D', 'STATUS=from-mainpid')
        self.assertEqual(self.expect_notify(d, 's')[3:], [str(dpid), 'STATUS=from-mainpid'])
        st = notify_lines(self.dump(d), 's')
        self.assertEqual(len(st), 1, st)
        self.assertEqual(st[0].split('\t')[3:],
                         [str(dpid), '-', 'STATUS=from-mainpid', 'MAINPID=%d' % dpid])
        # another main pid: the detached process is a stranger again
        self.notified(d, 's', 'MAINPID=%d' % pid)
        mark = self.log_mark(d)
        self.send_notify('D', 'STATUS=after-another-announce')
        self.assert_refused(d, 's', mark, 1, 'the main pid announced before')


class Replay(NotifyBase):

    def test_statedump_replays_readiness(self):
        sock = self.path('c.sock')
        d = self.daemon('-S', sock)
        self.agent(d, 's', opts=['notify'], env=['A=1'])
        self.define(d, 't', ['sleep', '30'])
        self.no_errors(d.cmd('service.tags\ts\trole=x', 'service.auto_up\ts\t3\tSIGUSR2'))
        pid, _, _ = self.up(d, 's')
        self.notified(d, 's', 'READY=1')
        f = self.notified(d, 's', 'STATUS=x')
        c = self.connect(sock)
        dump = c.cmd('statedump')
        mine = notify_lines(dump, 's')
        self.assertEqual(mine, ['\t'.join(['service.notify', 's', f[2], str(pid), 'READY=1',
                                           'STATUS=x'])])
        kinds = [l.split('\t')[0] for l in svc_lines(dump, 's')]
        self.assertEqual(kinds, ['service.state', 'service.tags', 'service.args', 'service.fds',
                                 'service.auto_up', 'service.env', 'service.opts',
                                 'service.notify'])
        # and before the next service's lines
        self.assertLess(dump.index(mine[0]),
                        [i for i, l in enumerate(dump) if l.startswith('service.state\tt\t')][0])
        self.assertEqual(notify_lines(dump), mine, 'only services that notified')

    def test_state_is_the_latest(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        pid, _, _ = self.up(d, 's')

        def replay():
            st = notify_lines(self.dump(d), 's')
            self.assertEqual(len(st), 1, st)
            return st[0].split('\t')[2:]
        f = self.notified(d, 's', 'STATUS=only')
        self.assertEqual(replay(), [f[2], str(pid), '-', 'STATUS=only'])
        f = self.notified(d, 's', 'RELOADING=1')
        self.assertEqual(replay(), [f[2], str(pid), 'RELOADING=1', 'STATUS=only'])
        f = self.notified(d, 's', 'READY=1\nSTATUS=two', ['READY=1', 'STATUS=two'])
        self.assertEqual(replay(), [f[2], str(pid), 'READY=1', 'STATUS=two'])
        f = self.notified(d, 's', 'STOPPING=1')
        self.assertEqual(replay(), [f[2], str(pid), 'STOPPING=1', 'STATUS=two'])
        f = self.notified(d, 's', 'MAINPID=%d' % pid)
        self.assertEqual(replay(), [f[2], str(pid), 'STOPPING=1', 'STATUS=two', 'MAINPID=%d' % pid])
        f = self.notified(d, 's', 'FOO=bar')
        self.assertEqual(replay(), [f[2], str(pid), 'STOPPING=1', 'STATUS=two', 'MAINPID=%d' % pid])
        f = self.notified(d, 's', 'READY=1')
        self.assertEqual(replay(), [f[2], str(pid), 'READY=1', 'STATUS=two', 'MAINPID=%d' % pid])

    def test_readiness_forgotten_on_down(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        self.notified(d, 's', 'READY=1\nSTATUS=x', ['READY=1', 'STATUS=x'])
        self.assertEqual(len(notify_lines(self.dump(d), 's')), 1)
        self.kill_svc(d, 's')
        self.assertEqual(notify_lines(self.dump(d)), [], 'down: no readiness')
        pid2, _, _ = self.up(d, 's')
        self.assertEqual(notify_lines(self.dump(d)), [], 'restarted: not ready until it says so')
        f = self.notified(d, 's', 'READY=1')
        self.assertEqual(notify_lines(self.dump(d)),
                         ['\t'.join(['service.notify', 's', f[2], str(pid2), 'READY=1'])],
                         'the old STATUS is forgotten')

    def test_never_notified_no_line(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.agent(d, 'n', fds=NotifyFd.FDS)
        self.define(d, 'idle', ['true'])
        self.up(d, 's')
        self.up(d, 'n')
        self.assertEqual(notify_lines(self.dump(d)), [])

    def test_notify_fd_readiness_replayed(self):
        d = self.daemon()
        self.agent(d, 's', fds=NotifyFd.FDS)
        pid, _, _ = self.up(d, 's')
        self.tell('s', 'write', fd=3, data='\n')
        f = self.expect_notify(d, 's')
        self.assertEqual(notify_lines(self.dump(d)),
                         ['\t'.join(['service.notify', 's', f[2], str(pid), 'READY=1'])])
        self.kill_svc(d, 's')
        self.assertEqual(notify_lines(self.dump(d)), [])


class FdStore(NotifyBase):

    def stored(self, d, name, line):
        self.assertEqual(self.expect_fd_state(d, name), line)

    def test_store_and_hand_back(self):
        d = self.daemon()
        lst_path = self.path('lst.sock')
        self.no_errors(d.cmd('fd.socket\tlst\tunix,listen\t' + lst_path))
        self.agent(d, 's', fds=['null', 'null', 'stderr', 'lst'],
                   opts=['notify', 'listen-fds', 'fdstore=3'])
        pid1, st1, _ = self.up(d, 's')
        self.assertEqual((st1['env'].get('LISTEN_FDS'), st1['env'].get('LISTEN_FDNAMES'),
                          st1['env'].get('LISTEN_PID')), ('1', 'lst', str(pid1)))
        ro_path = self.write_file('ro.txt', 'read me\n')
        web = self.send_notify('s', 'FDSTORE=1\nFDNAME=web', fds=[['tcp']])['fds'][0]
        self.stored(d, 's..web', 'fd.state\ts..web\tspecial\tread,write\tstored by s')
        ro = self.send_notify('s', 'FDSTORE=1\nFDNAME=ro', fds=[['ro', ro_path]])['fds'][0]
        self.stored(d, 's..ro', 'fd.state\ts..ro\tspecial\tread\tstored by s')
        wo = self.send_notify('s', 'FDNAME=wo\nFDSTORE=1', fds=[['pipe-w']])['fds'][0]
        self.stored(d, 's..wo', 'fd.state\ts..wo\tspecial\twrite\tstored by s')
        lines = ['fd.state\ts..web\tspecial\tread,write\tstored by s',
                 'fd.state\ts..ro\tspecial\tread\tstored by s',
                 'fd.state\ts..wo\tspecial\twrite\tstored by s']
        dump = self.dump(d)
        for l in lines:
            self.assertIn(l, dump)
        # they outlive the process
        self.kill_svc(d, 's')
        dump = self.dump(d)
        for l in lines:
            self.assertIn(l, dump)
        pid2, st2, _ = self.up(d, 's')
        fds = st2['fds']
        self.assertEqual(sorted(fds, key=int), [str(i) for i in range(7)], fds)
        self.assertEqual((fds['3']['kind'], fds['3'].get('path')), ('sock', lst_path),
                         'service.fds first')
        self.assertEqual((fds['4']['kind'], fds['4']['ino'], fds['4'].get('port'),
                          fds['4'].get('listening')), ('sock', web['ino'], web['port'], True),
                         'then the stored fds, in the order stored')
        self.assertEqual((fds['5']['kind'], fds['5']['acc'], fds['5']['ino'], fds['5'].get('link')),
                         ('reg', 'r', ro['ino'], ro_path))
        self.assertEqual((fds['6']['kind'], fds['6']['acc'], fds['6']['ino']),
                         ('fifo', 'w', wo['ino']))
        env = st2['env']
        self.assertEqual((env.get('LISTEN_FDS'), env.get('LISTEN_FDNAMES'), env.get('LISTEN_PID')),
                         ('4', 'lst:web:ro:wo', str(pid2)))
        # the listening socket stayed open all along
        socket.create_connection(('127.0.0.1', web['port']), timeout=TIMEOUT).close()

    def test_remove_and_delete(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'listen-fds', 'fdstore=4'])
        self.up(d, 's')
        paths = {n: self.write_file(n + '.txt', n) for n in 'abc'}
        for n in 'abc':
            self.send_notify('s', 'FDSTORE=1\nFDNAME=' + n, fds=[['ro', paths[n]]])
            self.stored(d, 's..' + n, 'fd.state\ts..%s\tspecial\tread\tstored by s' % n)
        self.send_notify('s', 'FDSTOREREMOVE=1\nFDNAME=b')
        self.assertEqual(self.expect_fd_state(d, 's..b'), 'fd.state\ts..b\tdeleted')
        self.assertEqual([l for l in d.cmd('fd.delete\ts..c') if not l.startswith('service.notify')],
                         ['fd.state\ts..c\tdeleted'])
        dump = self.dump(d)
        self.assertEqual(fd_lines(dump, 's..b') + fd_lines(dump, 's..c'), [])
        self.kill_svc(d, 's')
        _, st, _ = self.up(d, 's')
        self.assertEqual(sorted(st['fds'], key=int), ['0', '1', '2', '3'])
        self.assertEqual(st['fds']['3'].get('link'), paths['a'])
        self.assertEqual((st['env'].get('LISTEN_FDS'), st['env'].get('LISTEN_FDNAMES')), ('1', 'a'))
        # stored again: after a
        self.send_notify('s', 'FDSTORE=1\nFDNAME=b', fds=[['ro', paths['b']]])
        self.stored(d, 's..b', 'fd.state\ts..b\tspecial\tread\tstored by s')
        self.kill_svc(d, 's')
        _, st, _ = self.up(d, 's')
        self.assertEqual([st['fds'][k].get('link') for k in ('3', '4')], [paths['a'], paths['b']])
        self.assertEqual(st['env'].get('LISTEN_FDNAMES'), 'a:b')

    def test_several_fds_in_one_message(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'listen-fds', 'fdstore=3'])
        self.up(d, 's')
        info = self.send_notify('s', 'FDSTORE=1\nFDNAME=web', fds=[['tcp'], ['tcp']])['fds']
        first = self.expect_fd_state(d, 's..web')
        self.assertEqual(first, 'fd.state\ts..web\tspecial\tread,write\tstored by s')
        self.assertEqual(self.expect_fd_state(d, 's..web.2'),
                         'fd.state\ts..web.2\tspecial\tread,write\tstored by s')
        self.kill_svc(d, 's')
        _, st, _ = self.up(d, 's')
        self.assertEqual(sorted(st['fds'], key=int), ['0', '1', '2', '3', '4'])
        self.assertEqual([st['fds'][k]['ino'] for k in ('3', '4')], [i['ino'] for i in info])
        self.assertEqual(st['env'].get('LISTEN_FDNAMES'), 'web:web')
        self.send_notify('s', 'FDSTOREREMOVE=1\nFDNAME=web')
        gone = {d.expect(lambda l: l.startswith('fd.state\ts..web')) for _ in range(2)}
        self.assertEqual(gone, {'fd.state\ts..web\tdeleted', 'fd.state\ts..web.2\tdeleted'})
        dump = self.dump(d)
        self.assertEqual(fd_lines(dump, 's..web') + fd_lines(dump, 's..web.2'), [])

    def test_default_name_and_replace(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'fdstore=2'])
        self.up(d, 's')
        base = self.warm(d, 's')
        self.send_notify('s', 'FDSTORE=1', fds=[['ro', self.write_file('f.txt', 'f')]])
        self.stored(d, 's..stored', 'fd.state\ts..stored\tspecial\tread\tstored by s')
        self.settle_fds(d, base + 1, 'one stored fd')
        self.send_notify('s', 'FDSTORE=1', fds=[['pipe-w']])
        self.stored(d, 's..stored', 'fd.state\ts..stored\tspecial\twrite\tstored by s')
        self.settle_fds(d, base + 1, 'replaced, the old fd closed')
        self.assertEqual(fd_lines(self.dump(d), 's..stored'),
                         ['fd.state\ts..stored\tspecial\twrite\tstored by s'])

    def test_fds_beyond_limit_closed(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'fdstore=2'])
        self.up(d, 's')
        base = self.warm(d, 's')
        f = self.write_file('f.txt', 'f')
        mark = self.log_mark(d)
        self.send_notify('s', 'FDSTORE=1\nFDNAME=x', fds=[['ro', f]] * 3)
        self.stored(d, 's..x', 'fd.state\ts..x\tspecial\tread\tstored by s')
        self.stored(d, 's..x.2', 'fd.state\ts..x.2\tspecial\tread\tstored by s')
        self.marker(d, 's')
        self.assertEqual([l for l in d.reader.seen if l.startswith('fd.state\ts..x.3')], [])
        self.expect_warnings(d, mark, 1, 'a third fd with fdstore=2')
        self.settle_fds(d, base + 2, 'two fds stored, the third closed')
        mark = self.log_mark(d)
        self.send_notify('s', 'FDSTORE=1\nFDNAME=y', fds=[['ro', f]])
        self.marker(d, 's')
        self.assertEqual(fd_lines(d.reader.seen, 's..y'), [])
        self.expect_warnings(d, mark, 1, 'the store is full')
        self.settle_fds(d, base + 2, 'nothing more stored')
        dump = self.dump(d)
        self.assertEqual(len([l for l in dump if l.startswith('fd.state\ts..')]), 2)

    def test_without_fdstore_closed(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.up(d, 's')
        base = self.warm(d, 's')
        mark = self.log_mark(d)
        r = self.send_notify('s', 'FDSTORE=1\nFDNAME=web', fds=[['tcp'], ['dup', 20]])
        port = r['fds'][0]['port']
        self.marker(d, 's')
        self.assertEqual([l for l in d.reader.seen if l.startswith('fd.state\ts..')], [])
        self.expect_warnings(d, mark, 1, 'fds without fdstore')
        self.settle_fds(d, base, 'fds of a service without fdstore closed')
        with self.assertRaises(ConnectionRefusedError, msg='the socket was closed'):
            socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT).close()

    def test_without_fdstore_assignment_closed(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'fdstore=2'])
        self.up(d, 's')
        base = self.warm(d, 's')
        f = self.write_file('f.txt', 'f')
        mark = self.log_mark(d)
        self.send_notify('s', 'FDNAME=web', fds=[['ro', f]])
        self.send_notify('s', 'STATUS=with an fd', fds=[['ro', f]])
        self.send_notify('s', 'FDSTORE=0\nFDNAME=zero', fds=[['ro', f]])
        self.marker(d, 's')
        self.assertEqual([l for l in d.reader.seen if l.startswith('fd.state\ts..')], [])
        self.expect_warnings(d, mark, 3, 'fds without FDSTORE=1')
        self.settle_fds(d, base, 'fds of messages without FDSTORE=1 closed')

    def test_invalid_handle_names_refused(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'fdstore=4'])
        self.up(d, 's')
        base = self.warm(d, 's')
        f = self.write_file('f.txt', 'f')
        ok = 'n' * 28
        self.send_notify('s', 'FDSTORE=1\nFDNAME=' + ok, fds=[['ro', f]])
        self.stored(d, 's..' + ok, 'fd.state\ts..%s\tspecial\tread\tstored by s' % ok)
        self.assertEqual(len('s..' + ok), 31)
        mark = self.log_mark(d)
        for bad in ('m' * 29, 'we/b', 'a:b'):
            self.send_notify('s', 'FDSTORE=1\nFDNAME=' + bad, fds=[['ro', f]])
        self.marker(d, 's')
        self.assertEqual([l for l in d.reader.seen if l.startswith('fd.state\ts..')],
                         ['fd.state\ts..%s\tspecial\tread\tstored by s' % ok])
        self.expect_warnings(d, mark, 3, 'invalid handle names')
        self.settle_fds(d, base + 1, 'fds with invalid names closed')

    def test_253_fds_in_one_message(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'fdstore=2'])
        self.up(d, 's')
        base = self.warm(d, 's')
        mark = self.log_mark(d)
        self.send_notify('s', 'FDSTORE=1\nFDNAME=many', fds=[['dup', 253]])
        self.stored(d, 's..many', 'fd.state\ts..many\tspecial\tread\tstored by s')
        self.stored(d, 's..many.2', 'fd.state\ts..many.2\tspecial\tread\tstored by s')
        self.marker(d, 's')
        self.assertEqual([l for l in d.reader.seen if l.startswith('fd.state\ts..many.3')], [])
        self.expect_warnings(d, mark, 1, '251 fds beyond fdstore=2')
        self.settle_fds(d, base + 2, '253 fds received, 2 kept')
        self.assertEqual(d.cmd1('echo\tresponsive'), 'responsive')


class SocketActivation(NotifyBase):

    def test_listen_fds_variables(self):
        d = self.daemon()
        lst_path = self.path('lst.sock')
        self.no_errors(d.cmd('fd.socket\tlst\tunix,listen\t' + lst_path, 'fd.pipe\tpr\tpw'))
        self.agent(d, 's', fds=['null', 'null', 'stderr', 'lst', 'pw'], opts=['listen-fds'],
                   env=['LISTEN_FDS=9', 'LISTEN_PID=1', 'LISTEN_FDNAMES=bogus'])
        self.agent(d, 't', fds=['null', 'null', 'stderr', 'lst'])
        pid, st, _ = self.up(d, 's')
        env = st['env']
        self.assertEqual((env.get('LISTEN_FDS'), env.get('LISTEN_PID'), env.get('LISTEN_FDNAMES')),
                         ('2', str(pid), 'lst:pw'), 'set by the option, over service.env')
        self.assertNotIn('NOTIFY_SOCKET', env)
        self.assertEqual(sorted(st['fds'], key=int), ['0', '1', '2', '3', '4'])
        self.assertEqual((st['fds']['3'].get('path'), st['fds']['3'].get('listening')),
                         (lst_path, True))
        self.assertEqual(st['fds']['4']['kind'], 'fifo')
        _, st, _ = self.up(d, 't')
        for v in NOTIFY_VARS:
            self.assertNotIn(v, st['env'], 'no option, no %s' % v)

    def test_no_refused_connection_across_restarts(self):
        d = self.daemon()
        port = free_port()
        srv = self.script('server.py', SERVER)
        self.no_errors(d.cmd('fd.socket\tlst\ttcp,listen\t127.0.0.1:%d' % port,
                             'service.args\ts\t%s\t%s\t%s' % (PY, srv, self.tmp),
                             'service.fds\ts\tnull\tnull\tstderr\tlst',
                             'service.opts\ts\tlisten-fds'))
        hammer = Hammer(port)
        self.addCleanup(hammer.finish)      # runs before the services are killed
        hammer.start()
        d.send('service.auto_up\ts\t1\talways')
        pid = int(self.expect_state(d, 's', 'up')[4])
        pids = [pid]
        for i in range(20):
            wait_for(lambda: hammer.served(pid),
                     msg='a connection answered by run %d (pid %d); %s' % (i, pid, hammer))
            d.send('service.signal\ts\tSIGKILL')
            down = self.expect_state(d, 's', 'down')
            self.assertEqual(down[4:7], [str(pid), 'signal', 'SIGKILL'])
            d.send('service.start\ts')     # sooner than auto-up (or "already running")
            pid = int(self.expect_state(d, 's', 'up')[4])
            pids.append(pid)
        wait_for(lambda: hammer.served(pid), msg='the last run answering; %s' % hammer)
        hammer.finish()
        self.assertEqual(hammer.refused, 0, 'connections refused: %s' % hammer)
        self.assertEqual(hammer.errors, [], str(hammer))
        self.assertEqual(set(hammer.answers), set(pids), 'every run answered, nobody else')
        for p in (pids[0], pids[-1]):
            info = json.loads(self.wait_text('srv-%d.json' % p))
            self.assertEqual(info['env'], {'LISTEN_FDS': '1', 'LISTEN_PID': str(p),
                                           'LISTEN_FDNAMES': 'lst'})
            self.assertEqual(info['fds'], [0, 1, 2, 3])


class Hammer(threading.Thread):
    """Connects to 127.0.0.1:PORT in a loop, one connection at a time, and
    counts the outcomes."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = {}       # pid -> connections it answered
        self.refused = 0
        self.dropped = 0        # accepted by a run that was killed before answering
        self.errors = []

    def __str__(self):
        with self.lock:
            return ('answered %d (by %d runs), dropped %d, refused %d, errors %r'
                    % (sum(self.answers.values()), len(self.answers), self.dropped,
                       self.refused, self.errors[:5]))

    def served(self, pid):
        with self.lock:
            return self.answers.get(pid, 0) > 0

    def finish(self):
        self.stop.set()
        if self.is_alive():
            self.join(TIMEOUT + 5)

    def run(self):
        while not self.stop.is_set():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(TIMEOUT)
            outcome, pid = None, None
            try:
                s.connect(('127.0.0.1', self.port))
                buf = b''
                while not buf.endswith(b'\n'):
                    chunk = s.recv(100)
                    if not chunk:
                        break
                    buf += chunk
                m = re.match(rb'hello (\d+)\n$', buf)
                if m:
                    pid = int(m.group(1))
                elif not buf:
                    outcome = 'dropped'
                else:
                    outcome = 'bad answer %r' % buf
            except ConnectionRefusedError:
                outcome = 'refused'
            except (ConnectionResetError, BrokenPipeError):
                outcome = 'dropped'
            except OSError as e:
                outcome = 'error %r' % e
            finally:
                s.close()
            with self.lock:
                if pid is not None:
                    self.answers[pid] = self.answers.get(pid, 0) + 1
                elif outcome == 'refused':
                    self.refused += 1
                elif outcome == 'dropped':
                    self.dropped += 1
                else:
                    self.errors.append(outcome)


class Hostile(NotifyBase):

    def test_hostile_input_leaves_daemon_intact(self):
        d = self.daemon()
        # a first round, so that anything allocated once is there
        self.agent(d, 'w', fds=NotifyFd.FDS, opts=['notify', 'fdstore=1'])
        self.up(d, 'w')
        self.notified(d, 'w', 'READY=1')
        self.tell('w', 'write', fd=3, data='\n')
        self.expect_notify(d, 'w')
        self.kill_svc(d, 'w')
        self.no_errors(d.cmd('service.delete\tw'))
        d.ping()
        n0 = d.fd_count()

        self.agent(d, 'h', opts=['notify', 'fdstore=1'])
        self.agent(d, 'q', opts=['notify'])
        self.agent(d, 'p', fds=NotifyFd.FDS)
        _, sth, _ = self.up(d, 'h')
        self.up(d, 'q')
        self.up(d, 'p')
        addr_h = sth['env']['NOTIFY_SOCKET']
        # megabytes on notify.fd
        self.assertEqual(self.tell('p', 'bigwrite', fd=3, total=2 << 20).get('err'), 'EPIPE')
        # 253 fds, room for one
        self.send_notify('h', 'FDSTORE=1\nFDNAME=x', fds=[['dup', 253]])
        self.assertEqual(self.expect_fd_state(d, 'h..x'),
                         'fd.state\th..x\tspecial\tread\tstored by h')
        # oversized, with fds
        self.send_notify('h', 'FDSTORE=1\nFDNAME=big\nSTATUS=' + 'S' * 70000, fds=[['dup', 10]])
        # binary garbage, separators only, invalid names with fds
        rnd = random.Random(20261201)
        self.send_notify('h', bytes(rnd.randrange(256) for _ in range(3000)).decode('latin-1'))
        self.send_notify('h', '=\n==\n\0\n' + '\n' * 100)
        self.send_notify('h', 'FDSTORE=1\nFDNAME=' + 'n' * 40, fds=[['dup', 3]])
        self.send_notify('h', 'FDSTORE=1\nFDNAME=a/b\tc', fds=[['dup', 3]])
        # fds where there is no store, and into another service's socket
        self.send_notify('q', 'FDSTORE=1\nFDNAME=x', fds=[['dup', 50]])
        self.send_notify('q', 'FDSTORE=1\nFDNAME=y', fds=[['dup', 5]], addr=addr_h)
        # strangers
        nul = os.open('/dev/null', os.O_RDONLY)
        try:
            send_dgram(addr_h, b'FDSTORE=1\nFDNAME=z', [nul] * 20)
            send_dgram(addr_h, b'')
            send_dgram(addr_h, b'READY=1\n' * 600)
        finally:
            os.close(nul)
        # everything was read: markers come through
        for name in ('h', 'q'):
            self.marker(d, name)
        dump = self.dump(d)
        self.assertEqual([l.split('\t')[1] for l in dump
                          if re.match(r'fd\.state\t[hqp]\.', l)], ['h..x'])
        for l in d.reader.seen:
            self.assertNotRegex(l, CONTROL_CHARS)
        self.assertTrue(d.alive())
        self.assertEqual(d.cmd1('echo\tstill-here'), 'still-here')
        # nothing leaked: without the services and the stored handle, the
        # daemon holds what it held before
        for name in ('h', 'q', 'p'):
            self.kill_svc(d, name)
        self.assertEqual([l for l in d.cmd('fd.delete\th..x') if not l.startswith('service.notify')],
                         ['fd.state\th..x\tdeleted'])
        self.no_errors(d.cmd('service.delete\th', 'service.delete\tq', 'service.delete\tp'))
        self.settle_fds(d, n0, 'after hostile input')
        self.assertEqual(d.cmd1('echo\tstill-here'), 'still-here')
