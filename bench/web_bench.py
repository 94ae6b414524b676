#!/usr/bin/env python3
"""dpweb's figures: its /metrics (and /api/services) at 10,000 services,
against `dpctl status --json` of the same daemon, measured in this run.

    bench/web_bench.py DAEMONPROXY DPCTL

A daemonproxy with 10,000 services (1,000 of them running), one dpweb on
it; then, each the median of REPS, printed as "key value" lines (seconds):

  metrics_s        GET /metrics, the picture unchanged since the last scrape
                   (the per-service lines joined once per change: the
                   uptimes are computed anew)
  metrics_cold_s   GET /metrics after one service changed (the join again)
  api_s            GET /api/services (every service as dpctl status --json)
  dpctl_json_s     dpctl status --json for the same daemon: the baseline
  metrics_bytes    the size of one /metrics answer
  dpweb_rss_kb     dpweb's VmRSS then
"""

import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(os.path.dirname(HERE), 'python')
sys.path.insert(0, PYDIR)

import daemonproxy  # noqa: E402

NSVC, NRUN = 10000, 1000
REPS = 7


def deadline_wait(cond, what, timeout=120):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise SystemExit('web_bench: no %s within %ds' % (what, timeout))
        time.sleep(0.05)            # polling a file or an HTTP answer: no event to wait on


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def start(dp_bin, tmp, procs):
    """daemonproxy with NSVC services (NRUN running) on tmp/dp.sock, and
    dpweb on it; both appended to procs.  Returns dpweb's Popen and port
    (page_bench.py uses it too)."""
    sock = os.path.join(tmp, 'dp.sock')
    d = subprocess.Popen([dp_bin, '-S', sock], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(d)
    deadline_wait(lambda: os.path.exists(sock), 'socket')
    with daemonproxy.Client.connect(sock, timeout=120, sync=False) as c:
        cmds = []
        for i in range(NSVC):
            name = 'svc%05d' % i
            cmds.append(('service.args', name, 'sleep', '1000') if i < NRUN else
                        ('service.args', name, 'true'))
            cmds.append(('service.tags', name, 'tier=%d' % (i % 3)))
            if i < NRUN:
                cmds.append(('service.start', name))
        for k in range(0, len(cmds), 2000):
            c.send_many(cmds[k:k + 2000])
            c.request('echo', 'x')
    errf = open(os.path.join(tmp, 'dpweb.err'), 'w+')
    env = dict(os.environ, PYTHONPATH=PYDIR, DPWEB_TOKEN='b' * 32)
    w = subprocess.Popen([sys.executable, '-m', 'daemonproxy.web', '-S', sock,
                          '--listen', '127.0.0.1:0'], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=errf)
    procs.append(w)

    def served():
        errf.seek(0)
        return re.search(r'serving http://127\.0\.0\.1:(\d+)/', errf.read())
    return w, int(deadline_wait(served, 'dpweb').group(1))


def stop(procs, tmp):
    """End what start() started (the newest first) and remove tmp."""
    for p in reversed(procs):
        p.kill()
        p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    dp_bin, dpctl = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix='dpwebbench')
    sock = os.path.join(tmp, 'dp.sock')
    procs = []
    try:
        w, port = start(dp_bin, tmp, procs)
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)

        def get(path):
            conn.request('GET', path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise SystemExit('web_bench: %s: %d' % (path, r.status))
            return body
        deadline_wait(lambda: get('/api/daemon').find(b'"services":%d' % NSVC) >= 0, 'sync')
        running = b'daemonproxy_service_up{service="svc%05d"} 1' % (NRUN - 1)
        deadline_wait(lambda: running in get('/metrics'), 'running services')
        size = len(get('/metrics'))
        warm = [timed(lambda: get('/metrics')) for _ in range(REPS)]
        cold = []
        for k in range(REPS):
            with daemonproxy.Client.connect(sock, sync=False) as c:
                c.request('service.tags', 'svc09999', 'round=%d' % k)
            want = ('"round=%d"' % k).encode()
            deadline_wait(lambda: want in get('/api/services/svc09999'), 'the change')
            cold.append(timed(lambda: get('/metrics')))
        api = [timed(lambda: get('/api/services')) for _ in range(REPS)]
        ctl = [timed(lambda: subprocess.run([dpctl, '-S', sock, 'status', '--json'], check=True,
                                            stdout=subprocess.DEVNULL))
               for _ in range(REPS)]
        with open('/proc/%d/status' % w.pid) as f:
            rss = int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))
        conn.close()
        for k, v in (('metrics_s', statistics.median(warm)),
                     ('metrics_cold_s', statistics.median(cold)),
                     ('api_s', statistics.median(api)),
                     ('dpctl_json_s', statistics.median(ctl)),
                     ('metrics_bytes', size), ('dpweb_rss_kb', rss)):
            print(k, v)
    finally:
        stop(procs, tmp)


if __name__ == '__main__':
    main()
