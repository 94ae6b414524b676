"""Helpers for the services-and-handles integration tests (test_services,
test_autoup, test_handles, test_spawn, test_service_ctl, test_pools,
test_examples, test_pid1_reap).  Builds on dp.py; Python stdlib only.

SvcTest extends dp.DPTest: at cleanup it first stops each daemonproxy it
started (SIGSTOP, so auto-up cannot restart anything), kills the process
group of every child of it (the services this test started: daemonproxy
makes each one a session/group leader), and only then lets DPTest kill the
daemon itself.  That way no `sleep 30` outlives its test.  Under `make
valgrind` each daemon is first ended at EOF instead (for valgrind's leak
check) and the services it leaves behind are killed as orphans.
"""

import os
import signal
import socket
import sys
import time

from dp import DPTest, TIMEOUT, VALGRIND_DIR, Timeout, wait_for

PY = sys.executable or '/usr/bin/python3'


def children(pid):
    """Direct children of pid (every thread), from /proc."""
    out = []
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return out
    for t in tasks:
        try:
            with open('/proc/%d/task/%s/children' % (pid, t)) as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')[:-1]
    except OSError:
        return None


def wait_cmdline(pid, timeout=TIMEOUT):
    """cmdline of pid once it is set: right after a vfork-style spawn
    returns, the new image may not have its argv area set up yet."""
    return wait_for(lambda: cmdline(pid), timeout, 'cmdline of %d' % pid)


def kill_tree_of(pid):
    """Kill the process group of each child of pid (our services)."""
    for ch in children(pid):
        try:
            if os.getpgid(ch) == ch:
                os.killpg(ch, signal.SIGKILL)
            else:
                os.kill(ch, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class SvcTest(DPTest):
    def _cleanup(self):
        if VALGRIND_DIR:
            # DPTest ends each daemon at EOF first (for the leak check), and
            # then the services it left behind
            super()._cleanup()
            return
        for d in self._daemons:
            if d.alive():
                try:
                    os.kill(d.pid, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
                kill_tree_of(d.pid)
        for pid, cl in getattr(self, '_extra_kill', []):
            if cmdline(pid) == cl:      # still that process
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        super()._cleanup()

    def kill_at_cleanup(self, pid, argv0=None):
        """Remember a PID of a process this test caused to exist (e.g. a
        grandchild left running on purpose); killed at cleanup if its
        argv[0] still matches."""
        try:
            cl = wait_cmdline(pid, 2)
        except Timeout:
            cl = None
        if cl and (argv0 is None or cl[0] == argv0.encode()):
            self.__dict__.setdefault('_extra_kill', []).append((pid, cl))

    # --- files ---------------------------------------------------------
    def script(self, name, code):
        """Write a python script into the temp dir; returns its path."""
        return self.write_file(name, code)

    def read_text(self, name_or_path):
        p = name_or_path if os.path.isabs(name_or_path) else self.path(name_or_path)
        try:
            with open(p, 'rb') as f:
                return f.read().decode('latin-1')
        except FileNotFoundError:
            return None

    def wait_text(self, name_or_path, cond=lambda t: True, timeout=TIMEOUT, msg=None):
        """Poll a file until it exists and cond(text) holds; returns text."""
        box = []

        def check():
            t = self.read_text(name_or_path)
            if t is not None and cond(t):
                box.append(t)
                return True
            return False
        try:
            wait_for(check, timeout, msg or 'file %s' % name_or_path)
        except Timeout as e:
            raise Timeout('%s; content now: %r' % (e, (self.read_text(name_or_path) or '')[-500:]))
        return box[0]

    # --- protocol ------------------------------------------------------
    def expect_state(self, io, name, state, timeout=TIMEOUT):
        """Wait for `service.state NAME STATE ...`; returns the fields."""
        prefix = 'service.state\t%s\t%s\t' % (name, state)
        line = io.expect(lambda l: l.startswith(prefix), timeout)
        f = line.split('\t')
        self.assertEqual(len(f), 9, 'service.state has 9 fields: %r' % line)
        return f

    def dump(self, io):
        """statedump lines."""
        return io.cmd('statedump')

    def dump_state(self, io, name):
        """The service.state fields of NAME from a statedump (None if absent)."""
        for l in self.dump(io):
            if l.startswith('service.state\t%s\t' % name):
                return l.split('\t')
        return None

    def define(self, io, name, args, fds=None, tags=None, auto_up=None):
        """Define a service (no output checks beyond 'no error')."""
        cmds = ['\t'.join(['service.args', name] + list(args))]
        if fds is not None:
            cmds.append('\t'.join(['service.fds', name] + list(fds)))
        if tags is not None:
            cmds.append('\t'.join(['service.tags', name] + list(tags)))
        if auto_up is not None:
            cmds.append('\t'.join(['service.auto_up', name] + [str(x) for x in auto_up]))
        out = io.cmd(*cmds)
        errs = [l for l in out if l.startswith('error\t')]
        self.assertEqual(errs, [], 'defining %s' % name)
        return out

    def bulk(self, io, cmds, chunk=200, timeout=TIMEOUT):
        """Send many commands, a chunk at a time with an echo marker after
        each (writing them all before reading any event would fill both
        pipes).  Returns every line received; fails on any error."""
        out = []
        for i in range(0, len(cmds), chunk):
            out.extend(io.cmd(*cmds[i:i + chunk], timeout=timeout))
        errs = [l for l in out if l.startswith('error\t') or l == 'overflow']
        self.assertEqual(errs, [], 'bulk commands')
        return out

    def start_svc(self, io, name, timeout=TIMEOUT):
        """service.start NAME and wait for its up event; returns the pid."""
        io.send('service.start\t' + name)
        return int(self.expect_state(io, name, 'up', timeout)[4])


def mono():
    """CLOCK_MONOTONIC seconds (what daemonproxy's TS fields use)."""
    return time.monotonic()


def free_port(kind=socket.SOCK_STREAM, family=socket.AF_INET, host='127.0.0.1'):
    s = socket.socket(family, kind)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def have_ipv6():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(('::1', 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


# A controller service.  argv: MODE OUTDIR.  Everything it learns goes to
# OUTDIR/rec-PID.txt (one line per record, appended with os.write).
CTL = r'''
import os, stat, sys, time
mode, outdir = sys.argv[1], sys.argv[2]
pid = os.getpid()
rec_fd = os.open(os.path.join(outdir, 'rec-%d.txt' % pid), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

def rec(s):
    os.write(rec_fd, (s + '\n').encode('latin-1'))

class Lines:
    def __init__(self, fd):
        self.fd, self.buf = fd, b''
    def next(self):
        while b'\n' not in self.buf:
            data = os.read(self.fd, 65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return line.decode('latin-1')

def send(fd, s):
    os.write(fd, (s + '\n').encode('latin-1'))

def record_events(src):
    rec('READY')
    while True:
        line = src.next()
        if line is None:
            rec('EOF')
            return
        rec('EV ' + line)

with open(os.path.join(outdir, 'starts.txt'), 'a') as f:
    f.write('%d\n' % pid)

if mode in ('both', 'socket'):
    rfd, wfd = (0, 1) if mode == 'both' else (0, 0)
    rec('FD0 ' + ('sock' if stat.S_ISSOCK(os.fstat(0).st_mode) else 'other'))
    if mode == 'both':
        a, b = os.fstat(0), os.fstat(1)
        rec('FD01 ' + ('same' if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) else 'different'))
    src = Lines(rfd)
    send(wfd, 'echo\tECHO-%d' % pid)
    while src.next() != 'ECHO-%d' % pid:
        pass
    rec('GOT-ECHO')
    record_events(src)
elif mode == 'event-only':
    try:
        send(0, 'service.tags\tleaked-from-event-only\tx')
        send(0, 'echo\tLEAK')
        rec('WRITE-OK')
    except OSError as e:
        rec('WRITE-FAILED ' + type(e).__name__)
    record_events(Lines(0))
elif mode == 'cmd-only':
    send(0, 'service.start\tother')
    try:
        data = os.read(0, 100)
        rec('EOF' if data == b'' else 'DATA %r' % data)
    except OSError as e:
        rec('READ-FAILED ' + type(e).__name__)
    time.sleep(60)
elif mode == 'take':
    import array, socket
    s = socket.socket(fileno=0)
    fd = os.open(os.path.join(outdir, 'taken-by-service.txt'), os.O_WRONLY | os.O_CREAT, 0o600)
    s.sendmsg([b'fd.take\tfrom-svc\n'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
    os.close(fd)
    send(0, 'echo\tTAKE-DONE-%d' % pid)
    src = Lines(0)
    while True:
        line = src.next()
        if line is None or line == 'TAKE-DONE-%d' % pid:
            break
        rec('EV ' + line)
    rec('TAKE-DONE')
    record_events(src)
elif mode == 'dump':
    src = Lines(0)
    send(1, 'statedump')
    send(1, 'echo\tDUMP-END-%d' % pid)
    lines = []
    while True:
        line = src.next()
        if line is None or line == 'DUMP-END-%d' % pid:
            break
        lines.append(line)
    p = os.path.join(outdir, 'dump-%d.txt' % pid)
    with open(p + '.tmp', 'w') as f:
        f.write(''.join(l + '\n' for l in lines))
    os.rename(p + '.tmp', p)
    record_events(src)
'''


def comparable(lines):
    """The parts of a statedump that must agree between two readers taken
    with no change in between (uptime/downtime fields tick)."""
    out = []
    for l in lines:
        f = l.split('\t')
        if f[0] == 'service.state':
            out.append('\t'.join(f[:7]))
        elif f[0] in ('fd.state', 'service.args', 'service.fds', 'service.tags', 'service.auto_up'):
            out.append(l)
    return out


def normalized(dump):
    """A statedump without what must change with time: a service.state
    line's UPTIME and DOWNTIME (fields 8 and 9)."""
    out = []
    for l in dump:
        f = l.split('\t')
        if f[0] == 'service.state' and len(f) == 9:
            f[7] = f[8] = '*'
        out.append('\t'.join(f))
    return out


def zombies_of(pid):
    """Children of pid in state Z (exited, not reaped), from every
    /proc/*/stat: a zombie is no longer listed in /proc/PID/task/*/children
    on every kernel."""
    z = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % p) as f:
                rest = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if rest[0] == 'Z' and int(rest[1]) == pid:
            z.append(int(p))
    return z


# PID 1's exec-on-exit program (python, argv[1] = a file): reap whatever
# is left, then write the namespace's processes ("PID:comm)" each) into
# the file and exit with daemonproxy's code.
PID1_FINISH = r'''
import os, sys, time
deadline = time.monotonic() + 10
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    left = sorted(p for p in os.listdir('/proc') if p.isdigit())
    if left == ['1'] or time.monotonic() > deadline:
        break
    time.sleep(0.05)
def what(p):
    try:
        with open('/proc/%s/stat' % p) as f:
            return f.read().split(')')[0].replace(' (', ':') + ')'
    except OSError:
        return p
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write(' '.join(what(p) for p in left))
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
os._exit(int(os.environ['DAEMONPROXY_EXITCODE']))
'''


def corrupting_wrapper(path):
    """Write at path a "new binary" for reexec: it passes --state-check
    (it is daemonproxy), but damages the state it is handed (everything
    after the header) before daemonproxy reads it."""
    from dp import binary
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n'
                'case "$1" in --restore=*) fd=${1#--restore=}; '
                'printf "daemonproxy-state\\t1\\ngarbage" > /proc/self/fd/$fd;; esac\n'
                'exec %s "$@"\n' % binary())
    os.chmod(path, 0o755)
    return path
