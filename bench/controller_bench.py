#!/usr/bin/env python3
"""Benchmark of the reference controller (python/daemonproxy/controller).

    bench/controller_bench.py [DAEMONPROXY]

Prints "key value" lines, like bench/dpbench:

  dp_1000_up_s      daemonproxy alone: seconds from its launch (a config
                    file defining 1,000 services, `sleep`) until all 1,000
                    are up, started by a plain loop of service.start over a
                    Client on the control socket
  ctl_1000_ready_s  the controller: seconds from daemonproxy's launch
                    (a config that starts the controller with a TOML file
                    of the same 1,000 services) until all are ready
                    (ready = "up"), seen by an observer on the socket
  ctl_ratio         ctl_1000_ready_s / dp_1000_up_s (target: <= 1.2)
  ctl_rss_kb        the controller's RSS with 1,000 services running
  ctl_private_kb    the part of it that is the controller's own
                    (Private_Dirty: no file pages, so neither libpython
                    nor the libcrypto that hashlib maps, 3.4 MB of RSS)
                    (target: < 20480)

Each time is the median of REPS runs ($BENCH_REPS, default 3).  The
controller runs under $CTL_PYTHON (default: this interpreter); its RSS
includes the interpreter's own (about 9 MB for a plain python3, more when
site-packages holds .pth files that import things at start-up).
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PYDIR = os.path.join(REPO, 'python')
sys.path.insert(0, PYDIR)

import daemonproxy  # noqa: E402
from daemonproxy import ServiceState  # noqa: E402

N = 1000
REPS = int(os.environ.get('BENCH_REPS', '3'))
TIMEOUT = 120
CTL_PYTHON = os.environ.get('CTL_PYTHON') or sys.executable


def names():
    return ['svc%04d' % i for i in range(N)]


def launch(binary, conf, tmp):
    env = dict(os.environ, PYTHONPATH=PYDIR)
    return subprocess.Popen([binary, '-c', conf], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=tmp)


def wait_all_up(c, expect, t0):
    """Read events until every name in expect has been up; return the
    seconds since t0."""
    left = set(expect)
    for info in c.mirror.services.values():
        if info.running:
            left.discard(info.name)
    deadline = time.monotonic() + TIMEOUT
    while left:
        if time.monotonic() > deadline:
            raise RuntimeError('%d services not up' % len(left))
        for ev in c.events(1.0):
            if isinstance(ev, ServiceState) and ev.state == 'up':
                left.discard(ev.name)
    return time.monotonic() - t0


def cleanup(proc, c):
    pids = [info.pid for info in c.mirror.services.values() if info.running]
    proc.kill()
    proc.wait()
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    c.close()


def baseline(binary, tmp):
    sock = os.path.join(tmp, 'b.sock')
    conf = os.path.join(tmp, 'b.conf')
    with open(conf, 'w') as f:
        f.write('socket.create\t-\t%s\n' % sock)
        for n in names():
            f.write('service.args\t%s\tsleep\t1000\n' % n)
    t0 = time.monotonic()
    proc = launch(binary, conf, tmp)
    c = daemonproxy.Client.connect(sock, connect_timeout=10, timeout=60)
    for n in names():
        c.service_start(n)
    t = wait_all_up(c, names(), t0)
    cleanup(proc, c)
    return t


def controller(binary, tmp):
    sock = os.path.join(tmp, 'c.sock')
    toml = os.path.join(tmp, 'services.toml')
    with open(toml, 'w') as f:
        for n in names():
            f.write('[service.%s]\nrun = ["sleep", "1000"]\nstdout = "null"\n' % n)
    conf = os.path.join(tmp, 'c.conf')
    with open(conf, 'w') as f:
        f.write('socket.create\t-\t%s\n' % sock)
        f.write('service.args\tcontroller\t%s\t-m\tdaemonproxy.controller\t%s\n'
                % (CTL_PYTHON, toml))
        f.write('service.fds\tcontroller\tcontrol.event\tcontrol.cmd\tstderr\n')
        f.write('service.auto_up\tcontroller\t1\talways\n')
    t0 = time.monotonic()
    proc = launch(binary, conf, tmp)
    c = daemonproxy.Client.connect(sock, connect_timeout=10, timeout=60)
    t = wait_all_up(c, names(), t0)
    ctl = c.mirror.service('controller')
    mem = memory_kb(ctl.pid)
    cleanup(proc, c)
    return t, mem


def memory_kb(pid):
    """(RSS, private kB) of pid.  The private part is Private_Dirty: the
    pages only it holds and has written (heap, objects, the written data of
    libraries).  File pages are left out, shared or not: Private_Clean
    counts libpython's and libcrypto's pages as this process's whenever no
    other process maps them, so it moved by 2.7 MB with what else ran."""
    rss = private = 0
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            key, _, rest = line.partition(':')
            if key == 'Rss':
                rss = int(rest.split()[0])
            elif key == 'Private_Dirty':
                private = int(rest.split()[0])
    return rss, private


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else \
        os.environ.get('DAEMONPROXY') or os.path.join(REPO, 'build', 'daemonproxy')
    dp_times, ctl_times, rss, private = [], [], [], []
    with tempfile.TemporaryDirectory(prefix='dpctlbench') as tmp:
        for _ in range(REPS):
            dp_times.append(baseline(binary, tmp))
            t, (r, p) = controller(binary, tmp)
            ctl_times.append(t)
            rss.append(r)
            private.append(p)
    dp, ctl = statistics.median(dp_times), statistics.median(ctl_times)
    print('dp_1000_up_s %.3f' % dp)
    print('ctl_1000_ready_s %.3f' % ctl)
    print('ctl_ratio %.2f' % (ctl / dp))
    print('ctl_rss_kb %d' % max(rss))
    print('ctl_private_kb %d' % max(private))
    print('ctl_python %s' % CTL_PYTHON)


if __name__ == '__main__':
    main()
