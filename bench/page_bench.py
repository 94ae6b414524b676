#!/usr/bin/env python3
"""dpweb's page in a headless Chromium (tests/integration/chromium.py):
its load time at 10,000 services, and the event storm it keeps up with.

    bench/page_bench.py DAEMONPROXY

Prints "key value" lines; nothing when there is no chromium (run.py then
reports no figure).

  load_render_s     navigation to the table's rows in the DOM (laid out),
                    from performance.now() in the page: 10,000 services
                    (1,000 running), the median of REPS loads
  load_interactive_s  ... to the first moment the main thread is free
                    after the first frame (a click would be handled)
  load_rows_in_dom  <tr> rendered (the page renders the rows in view)
  api_services_s    GET /api/services from Python, the same 10,000 rows as
                    JSON: the baseline (what the server and the transfer
                    cost before any browser work)
  storm_events_per_s  events daemonproxy sent while 1,000 services crash-loop
                    (auto_up 1 s, `false`), over STORM seconds
  storm_updates_per_s  service rows the page applied per second then
  storm_batches_per_s  `changes` messages applied per second
  storm_batch_ms_mean / _max  JavaScript time to apply one batch
  storm_lag_batches  messages a second SSE client (Python) had that the
                    page had not, at the end (0 or 1: kept up)
  storm_snapshots   snapshots the page got: 1 (a client that falls behind
                    the server's ring gets a new one)
"""

import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYDIR = os.path.join(ROOT, 'python')
sys.path.insert(0, PYDIR)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

import chromium  # noqa: E402
import daemonproxy  # noqa: E402
import web_bench  # noqa: E402
from web_bench import NRUN, NSVC, deadline_wait  # noqa: E402

NFLAP = 1000
REPS = 5
STORM = 5.0


class SseSeq(threading.Thread):
    """A second client of /events: the last message id it read."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.seq, self.stop = port, 0, False

    def run(self):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=60)
        c.request('GET', '/events')
        r = c.getresponse()
        while not self.stop:
            line = r.fp.readline()
            if not line:
                return
            if line.startswith(b'id: '):
                self.seq = int(line[4:])


def main():
    if chromium.find() is None:
        return
    dp_bin = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix='dppagebench')
    sock = os.path.join(tmp, 'dp.sock')
    procs = []
    browser = None
    try:
        _, port = web_bench.start(dp_bin, tmp, procs)
        url = 'http://127.0.0.1:%d/' % port

        def api(path):
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
            c.request('GET', path)
            body = c.getresponse().read()
            c.close()
            return json.loads(body)
        deadline_wait(lambda: api('/api/daemon')['services'] == NSVC, 'sync')
        deadline_wait(lambda: api('/api/services/svc%05d' % (NRUN - 1))['state'] == 'up',
                      'running services')

        def timed_api():
            t = time.perf_counter()
            api('/api/services')
            return time.perf_counter() - t
        print('api_services_s', statistics.median(timed_api() for _ in range(REPS)))

        browser = chromium.Browser(1280, 800, timeout=60)
        render, inter, rows = [], [], 0
        for _ in range(REPS):
            browser.navigate('about:blank')
            deadline_wait(lambda: browser.eval('location.href') == 'about:blank', 'blank')
            browser.navigate(url)
            deadline_wait(lambda: browser.eval('window.dpweb && window.dpweb.interactive || 0'),
                          'the page')
            s = browser.eval('[dpweb.firstRender, dpweb.interactive, dpweb.rowsInDom, '
                             'document.querySelectorAll("#rows tr[data-name]").length, '
                             'document.getElementById("summary").textContent]')
            if not s[4].startswith('%d services' % NSVC):
                raise SystemExit('page_bench: the page shows %r' % s[4])
            render.append(s[0] / 1000)
            inter.append(s[1] / 1000)
            rows = s[3]
        print('load_render_s', statistics.median(render))
        print('load_interactive_s', statistics.median(inter))
        print('load_rows_in_dom', rows)

        # the storm: NFLAP services that exit at once, restarted every second
        with daemonproxy.Client.connect(sock, timeout=120, sync=False) as c:
            cmds = []
            for i in range(NFLAP):
                name = 'flap%04d' % i
                cmds.append(('service.args', name, 'false'))
                cmds.append(('service.auto_up', name, '1', 'always'))
            for k in range(0, len(cmds), 2000):
                c.send_many(cmds[k:k + 2000])
                c.request('echo', 'x')
        sse = SseSeq(port)
        sse.start()
        deadline_wait(lambda: api('/api/services/flap%04d' % (NFLAP - 1)).get('restarts', 0) >= 1,
                      'the storm')
        before = api('/api/daemon')['events_total']
        js = ('[dpweb.updates, dpweb.batches, dpweb.applyMs, dpweb.snapshots, dpweb.seq, '
              'dpweb.applyMaxMs]')
        p0 = browser.eval(js)
        t0 = time.monotonic()
        time.sleep(STORM)           # the storm runs this long: a measuring window
        p1 = browser.eval(js)
        dt = time.monotonic() - t0
        after = api('/api/daemon')['events_total']
        py_seq = sse.seq
        page_seq = browser.eval('dpweb.seq')
        sse.stop = True
        batches = max(1, p1[1] - p0[1])
        print('storm_events_per_s', (after - before) / dt)
        print('storm_updates_per_s', (p1[0] - p0[0]) / dt)
        print('storm_batches_per_s', (p1[1] - p0[1]) / dt)
        print('storm_batch_ms_mean', (p1[2] - p0[2]) / batches)
        print('storm_batch_ms_max', p1[5])
        print('storm_lag_batches', max(0, py_seq - page_seq))
        print('storm_snapshots', p1[3])
    finally:
        if browser is not None:
            browser.close()
        web_bench.stop(procs, tmp)


if __name__ == '__main__':
    main()
