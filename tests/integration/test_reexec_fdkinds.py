"""A re-exec never fails on the kind of an fd daemonproxy holds, whichever
way the fd came in: stored by a service (`FDSTORE=1`), taken from a client
(`fd.take`), inherited at start (`fd_N`).  Every kind fdkinds.py can make
here: O_PATH files and directories, directories, regular files, /dev/null,
a FIFO, pipe ends, a pty's two ends, epoll, memfd, eventfd, pidfd,
signalfd, timerfd, inotify, fanotify, a POSIX message queue, and sockets of
every family and type (unix stream, datagram and seqpacket pairs, a
listening and an unbound unix socket, TCP and UDP over IPv4 and IPv6,
netlink, packet, raw).

Each case: the handles are listed before and after two re-execs in a row
(one alone would not show that the restored state can be saved again),
every object is still held by daemonproxy (same device and inode), and a
service started afterwards gets every one of them.

And `--state-check` reads the real state: a new binary that cannot restore
the state it would be handed says so in the check, and the daemon carries
on unchanged instead of dying in the exec."""

import array
import json
import os
import socket
import sys

import fdkinds
from dp import TIMEOUT, binary, wait_for
from svc_util import PY, normalized
from test_reexec import ReexecTest

HERE = os.path.dirname(os.path.abspath(__file__))

# A service that stores one fd of every kind, one message each, named by
# kind, then lists the kinds it sent in sent.json and waits.
STORER = r'''
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import fdkinds
fds, keep = fdkinds.make(sys.argv[2])
a = os.environ['NOTIFY_SOCKET']
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = b'\0' + a[1:].encode()
for kind, fd in fds.items():
    s.sendmsg([b'FDSTORE=1\nFDNAME=' + kind.encode()],
              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))], 0, addr)
keys = {k: list(os.fstat(fd)[1:3][::-1]) for k, fd in fds.items()}
with open(sys.argv[3] + '.tmp', 'w') as f:
    json.dump(keys, f)
os.rename(sys.argv[3] + '.tmp', sys.argv[3])
os.kill(os.getpid(), 19)    # SIGSTOP: hold everything, do nothing
'''

# A service given handles at fds 3...: it writes what each fd is (device
# and inode) in the order given.
LISTER = r'''
import json, os, sys
out = []
for fd in range(3, 3 + int(sys.argv[2])):
    st = os.fstat(fd)
    out.append([st.st_dev, st.st_ino])
with open(sys.argv[1] + '.tmp', 'w') as f:
    json.dump(out, f)
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
'''


def held(pid):
    """(device, inode) of every fd pid holds."""
    out = set()
    for n in os.listdir('/proc/%d/fd' % pid):
        try:
            st = os.stat('/proc/%d/fd/%s' % (pid, n))
        except OSError:
            continue
        out.add((st.st_dev, st.st_ino))
    return out


def key(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)


class FdKinds(ReexecTest):

    def check_survives(self, d, handles, keys):
        """handles: {kind: handle name}; keys: {kind: (dev, ino)}.  Two
        re-execs; every handle listed, every object held, and a service
        gets them all."""
        self.assertGreaterEqual(len(handles), 25, 'too few fd kinds made here: %r' % handles)
        before = d.resync()
        names = {l.split('\t')[1] for l in before if l.startswith('fd.state\t')}
        for kind, h in handles.items():
            self.assertIn(h, names, kind)
        for i in range(2):
            self.reexec(d)
            self.assertTrue(d.alive())
            self.assertEqual(normalized(d.resync()), normalized(before), 'after re-exec %d' % i)
            now = held(d.pid)
            for kind, k in keys.items():
                self.assertIn(tuple(k), now, '%s not held after re-exec %d' % (kind, i))
        # a service gets every one of them at fds 3...
        kinds = sorted(handles)
        prog = self.path('lister.py')
        with open(prog, 'w') as f:
            f.write(LISTER)
        out = self.path('listed.json')
        d.cmd('service.args\tlister\t%s\t%s\t%s\t%d' % (PY, prog, out, len(kinds)),
              'service.fds\tlister\tnull\tnull\tnull\t' + '\t'.join(handles[k] for k in kinds),
              'service.start\tlister')
        st = self.expect_state(d, 'lister', 'down')
        self.assertEqual(st[5:7], ['exit', '0'], st)
        got = json.load(open(out))
        for kind, k in zip(kinds, got):
            self.assertEqual(tuple(k), tuple(keys[kind]), kind)

    def test_stored_by_a_service(self):
        d = self.start()
        prog = self.path('storer.py')
        with open(prog, 'w') as f:
            f.write(STORER)
        kdir = self.path('kinds')
        os.mkdir(kdir)
        sent = self.path('sent.json')
        d.cmd('service.args\tk\t%s\t%s\t%s\t%s\t%s' % (PY, prog, HERE, kdir, sent),
              'service.opts\tk\tnotify\tfdstore=64', 'service.start\tk')
        wait_for(lambda: os.path.exists(sent), TIMEOUT, 'the storer to send')
        keys = json.load(open(sent))
        handles = {}
        for kind in keys:
            line = d.expect(lambda l: l.startswith('fd.state\t') and
                            l.split('\t')[1].endswith('.' + kind) and 'stored by k' in l)
            handles[kind] = line.split('\t')[1]
        self.check_survives(d, handles, keys)

    def test_taken_from_a_client(self):
        sock = self.path('s')
        d = self.start('-S', sock)
        c = self.connect(sock)
        fds, keep = fdkinds.make(self.tmp)
        self.on_cleanup(lambda: [os.close(fd) for fd in fds.values() if fd > 2])
        handles = {}
        for kind, fd in fds.items():
            name = 't.' + kind
            c.sock.sendmsg([('fd.take\t%s\n' % name).encode()],
                           [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
            line = c.expect(lambda l: l.startswith('fd.state\t%s\t' % name) or
                            l.startswith('error'))
            self.assertTrue(line.startswith('fd.state'), (kind, line))
            handles[kind] = name
        self.check_survives(d, handles, {k: key(fd) for k, fd in fds.items()})

    def test_inherited(self):
        fds, keep = fdkinds.make(self.tmp)
        self.on_cleanup(lambda: [os.close(fd) for fd in fds.values() if fd > 2])
        for fd in fds.values():
            os.set_inheritable(fd, True)
        d = self.start(pass_fds=list(fds.values()))
        handles = {k: 'fd_%d' % fd for k, fd in fds.items()}
        self.check_survives(d, handles, {k: key(fd) for k, fd in fds.items()})


def corrupting_check_wrapper(path):
    """A "new binary" that damages the state it is handed in the check
    (--state-check with --restore) as well as in the real restore."""
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n'
                'for a; do case "$a" in --restore=*) fd=${a#--restore=}; '
                'printf "daemonproxy-state\\t1\\ngarbage" > /proc/self/fd/$fd;; esac; done\n'
                'exec %s "$@"\n' % binary())
    os.chmod(path, 0o755)
    return path


class StateCheck(ReexecTest):
    """--state-check is given the real state and restores it."""

    def test_unrestorable_state_is_caught_by_the_check(self):
        d = self.start()
        d.cmd('service.args\ts\tsleep\t1000', 'service.start\ts', 'fd.pipe\tp.r\tp.w')
        before = d.resync()
        wrapper = corrupting_check_wrapper(self.path('corrupt'))
        self.assertSilent(d, 'reexec\t' + wrapper)
        err = d.expect(lambda l: l.startswith('error\treexec:'))
        self.assertIn('does not restore state version 1', err)
        self.assertIn('unusable: cannot', err)
        self.assertIn('not replaced', err)
        # nothing happened: same process, same binary, same state
        self.assertTrue(d.alive())
        self.assertEqual(self.exe(d.pid), os.path.realpath(binary()))
        self.assertEqual(normalized(d.resync()), normalized(before))
        # and a good binary still replaces it
        self.reexec(d)
        self.assertEqual(normalized(d.resync()), normalized(before))

    def test_check_by_hand(self):
        """--state-check=1 --restore=FD with a file that is no state: the
        answer says unusable, exit 1; without --restore, the version alone."""
        junk = self.path('junk')
        with open(junk, 'w') as f:
            f.write('not a state\n')
        with open(junk) as f:
            code, out, err = self.run_dp(['--state-check=1', '--restore=%d' % f.fileno()],
                                         pass_fds=[f.fileno()])
        self.assertEqual(code, 1)
        self.assertTrue(out.startswith('daemonproxy-state 1 unusable: cannot load the state'), out)
        self.assertEqual(out.count('\n'), 1, out)
        code, out, err = self.run_dp(['--state-check=1'])
        self.assertEqual((code, out), (0, 'daemonproxy-state 1 ok\n'))
        code, out, err = self.run_dp(['--state-check=2', '--restore=77'])
        self.assertEqual(code, 1)
        self.assertIn('daemonproxy-state 2 unsupported', out)

    def test_check_leaves_no_fd_behind(self):
        """The check's state and its pipe are closed once it answered:
        daemonproxy holds as many fds after the re-exec as before."""
        d = self.start()
        d.cmd('fd.pipe\tp.r\tp.w')
        count = d.fd_count()
        self.reexec(d)
        self.assertEqual(d.fd_count(), count)
