#!/usr/bin/env python3
"""Write real re-exec states into tests/fuzz/restore-corpus: the seeds of
fuzz_restore.  A daemonproxy is given a bit of everything a state holds
(handles of each kind, services in every state with env, options, fd
stores, notification channels and main pids, pending starts, controllers
with unread input, a config file half read, signal counts, log.dest, the
pools, a main pid announced by a run that ended), and at a few points
`reexec` runs a "new binary" that copies the state it is handed for
--state-check and answers no: nothing changes.

    python3 tests/fuzz/restore_seeds.py [--out DIR] [DAEMONPROXY]

DIR defaults to tests/fuzz/restore-corpus; tests/unit/states holds the
same states, written by a release, for test_record's round trip.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, 'restore-corpus')
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from dp import Client, Daemon  # noqa: E402

NOTIFIER = r'''
import os, socket, sys, time
a = os.environ['NOTIFY_SOCKET']
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = b'\0' + a[1:].encode()
r, w = os.pipe()
s.sendmsg([b'FDSTORE=1\nFDNAME=kept'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                          r.to_bytes(4, sys.byteorder))], 0, addr)
child = os.fork()
if child == 0:
    time.sleep(1000)
    os._exit(0)
s.sendto(('READY=1\nSTATUS=serving\tok\nMAINPID=%d' % os.getpid()).encode(), addr)
time.sleep(1000)
'''

# Announces a child as its main pid and exits: the child outlives the run.
MAINPID = r'''
import os, socket
a = os.environ['NOTIFY_SOCKET']
child = os.fork()
if child == 0:
    os.execvp('sleep', ['sleep', '1000'])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b'MAINPID=%d\nREADY=1' % child, b'\0' + a[1:].encode())
'''


def main():
    global OUT
    args = sys.argv[1:]
    if args[:1] == ['--out']:
        OUT, args = args[1], args[2:]
    dp = args[0] if args else os.path.join(ROOT, 'daemonproxy')
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='dpseed')
    capture = os.path.join(tmp, 'capture')
    with open(capture, 'w') as f:
        f.write('#!/bin/sh\n'
                'for a; do case "$a" in --restore=*) cat /proc/self/fd/${a#--restore=} '
                '> "%s/state.$$";; esac; done\n'
                'echo "daemonproxy-state 1 unsupported (seed capture)"; exit 1\n' % tmp)
    os.chmod(capture, 0o755)
    prog = os.path.join(tmp, 'notifier.py')
    with open(prog, 'w') as f:
        f.write(NOTIFIER)
    mainpid = os.path.join(tmp, 'mainpid.py')
    with open(mainpid, 'w') as f:
        f.write(MAINPID)
    conf = os.path.join(tmp, 'dp.conf')
    with open(conf, 'w') as f:
        f.write('service.args\tfrom-config\ttrue\n' + 'echo\tpadding\n' * 2000)
    sock = os.path.join(tmp, 'ctl.sock')
    r, w = os.pipe()
    d = Daemon(['-S', sock, '--fd-pool', '64x256', '--service-pool', '40x600', '-c', conf,
                '--failsafe', '7'],
               pass_fds=[r])
    seeds = []

    def snap(name):
        before = set(os.listdir(tmp))
        d.send('reexec\t' + capture)
        d.expect(lambda l: l.startswith('error\treexec:'))
        new = [f for f in set(os.listdir(tmp)) - before if f.startswith('state.')]
        for f in new:
            data = open(os.path.join(tmp, f), 'rb').read()
            with open(os.path.join(OUT, name), 'wb') as o:
                o.write(data)
            seeds.append((name, len(data)))

    try:
        d.ping()
        snap('01-start')
        d.cmd('fd.pipe\tp.r\tp.w', 'fd.pipe\tsp.a\tsp.b\tunix,stream,nonblock',
              'fd.open\tf\twrite,create,append\t' + os.path.join(tmp, 'out.log'),
              'fd.socket\tl\tunix,listen=8\t' + os.path.join(tmp, 'l.sock'),
              'fd.socket\tt\ttcp,listen\t127.0.0.1:0',
              'log.filter\tinfo', 'log.dest\tfd\tf',
              'conn.event_timeout\t20\t40')
        d.cmd('service.args\tup\tsleep\t1000', 'service.tags\tup\ta\tb=c',
              'service.env\tup\tFOO=bar\t-HOME', 'service.fds\tup\tnull\tp.w\tstderr',
              'service.opts\tup\tuser=nobody\tgroups=0,nogroup\tumask=022\tnice=3\t'
              'limit-nofile=512:1024\tlimit-core=infinity\tno-new-privs\tcwd=/\t'
              'caps=cap_net_bind_service',
              'service.auto_up\tup\t3\tSIGUSR1', 'service.start\tup',
              'service.args\tdone\tsh\t-c\texit 3', 'service.start\tdone',
              'service.args\tlater\tsleep\t5', 'service.start\tlater\t%d'
              % (int(time.clock_gettime(time.CLOCK_MONOTONIC)) + 5000),
              'service.args\tready\tsh\t-c\techo >&3; exec sleep 1000',
              'service.fds\tready\tnull\tnull\tnull\tnotify.fd', 'service.start\tready',
              'service.args\tn\t%s\t%s' % (sys.executable, prog),
              'service.opts\tn\tnotify\tlisten-fds\tfdstore=4', 'service.start\tn',
              'service.args\tctl\tsh\t-c\tread x; sleep 1000',
              'service.fds\tctl\tcontrol.event\tcontrol.cmd\tstderr', 'service.start\tctl')
        seen = set()
        d.expect(lambda l: (l.startswith('service.notify\tn\t') and 'READY=1' in l and
                            seen.add('n')) or (l.startswith('service.notify\tready\t') and
                                               seen.add('ready')) or len(seen) == 2)
        d.cmd('service.args\tmp\t%s\t%s' % (sys.executable, mainpid),
              'service.opts\tmp\tnotify', 'service.start\tmp')
        d.expect(lambda l: l.startswith('service.state\tmp\tdown'))
        os.kill(d.pid, signal.SIGHUP)
        os.kill(d.pid, signal.SIGUSR2)
        d.expect(lambda l: l.startswith('signal\tSIGUSR2'))
        c = Client(sock)
        c.ping()
        c.send_raw(b'echo\tunfinished')
        snap('02-busy')
        c2 = Client(sock)
        c2.ping()
        c2.send('statedump')
        # A client that does not read: its replies wait in its event stream.
        c3 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c3.connect(sock)
        c3.setblocking(False)
        try:
            for _ in range(200):
                c3.send(b'echo\t' + b'x' * 4000 + b'\n')
        except BlockingIOError:
            pass
        Client(sock).ping()
        snap('03-two-clients')
        # Requests: a server and a request it has not answered yet; the
        # fail-safe's setting (--failsafe above).
        srv = Client(sock)
        srv.cmd('ctl.serve\treload\tshutdown')
        asker = Client(sock)
        asker.cmd('ctl.request\treload\tnow')
        srv.expect(lambda l: l.startswith('ctl.request\t'))
        d.cmd('echo')
        snap('04-requests')
    finally:
        for pid in [int(x) for x in open('/proc/%d/task/%d/children' % (d.pid, d.pid))
                    .read().split()]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        d.cleanup()
        os.close(r)
        os.close(w)
        subprocess.run(['rm', '-rf', tmp])
    for name, n in seeds:
        print('%s: %d bytes' % (name, n))


if __name__ == '__main__':
    main()
