"""dpweb against the real daemon and dpctl, over real HTTP (urllib):

- /api/services gives the fields and values of `dpctl status --json` for
  a running service with readiness and a STATUS= text, one that exited,
  one stopped by a want, one never started (times within the seconds
  that pass between the two reads);
- /metrics parses with Prometheus's own parser (Debian's
  python3-prometheus-client; skipped without it) and its values are those
  of `dpctl status --json`;
- a service's log records (its log_dir= tag, a directory dplog wrote,
  rotated) are those `dpctl logs` prints, with the token only;
- a crash is an SSE `changes` event within the deadline, after the
  `snapshot`;
- POST stop: without the token 403, with the token from a foreign Origin
  403, with the token the service goes down and stays down (wanted down
  in `dpctl status`; its auto-up rule does not start it while a clock
  service ticks);
- `<script>` in a STATUS= text, a tag and an argument comes through the
  JSON intact (service names cannot hold it: [A-Za-z0-9._-]);
- a --listen other than loopback without a token refuses to start (2);
  on loopback without one, dpweb makes one in a 0600 file of the user's
  runtime directory, says where, and takes actions with it; SIGTERM ends
  it with 0;
- the daemon restarted on the same socket: dpweb connects again and
  serves the new daemon's services.
"""

import http.client
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

import dp
from dp import TIMEOUT, wait_for
from test_dpctl import DpctlTest



def prometheus_parser():
    """tests/python/_prom.py's, loaded by path: tests/python is not put on
    sys.path here (its test_protocol would shadow ours)."""
    spec = importlib.util.spec_from_file_location(
        '_prom', os.path.join(dp.REPO, 'tests', 'python', '_prom.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.prometheus_parser()


PYDIR = os.path.join(dp.REPO, 'python')
TOKEN = 'integration-token-0123456789'
SCRIPT = '<script>alert(1)</script>'
# the seconds that may pass between dpctl's read and dpweb's
SLACK = 3


class DpwebTest(DpctlTest):
    def dpweb(self, *args, token=True, env=None, wait=True):
        """dpweb on 127.0.0.1 (a free port) for the daemon's socket; waits
        until it serves a picture in sync.  Returns its base URL."""
        e = {k: v for k, v in os.environ.items() if k != 'DPWEB_TOKEN'}
        e['PYTHONPATH'] = PYDIR
        e.update(env or {})
        argv = [sys.executable, '-m', 'daemonproxy.web', '-S', self.sock]
        if token:
            tf = self.path('token')
            with open(tf, 'w') as f:
                f.write(TOKEN + '\n')
            os.chmod(tf, 0o600)
            argv += ['--token-file', tf]
        argv += list(args) or ['--listen', '127.0.0.1:0']
        errf = open(self.path('dpweb.err'), 'w+')
        self.addCleanup(errf.close)
        p = subprocess.Popen(argv, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errf)
        self.bg.append(p)
        if not wait:
            return p
        m = wait_for(lambda: re.search(r'serving (http://\S+?)/', self.read_text('dpweb.err'))
                     or p.poll() is not None, msg='dpweb serving')
        self.assertIsNone(p.poll(), self.read_text('dpweb.err'))
        self.url = m.group(1)
        wait_for(lambda: self.get('/api/daemon')['resyncs_total'] > 0, msg='dpweb in sync')
        return self.url

    def request(self, path, method='GET', headers=None):
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get(self, path):
        status, _, body = self.request(path)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def api_row(self, name):
        """The service's row, or None while dpweb does not know it (its
        next flush comes within 0.15 s of the event)."""
        status, _, body = self.request('/api/services/' + name)
        if status == 404:
            return None
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def wait_row(self, name, cond, msg):
        def check():
            row = self.api_row(name)
            return row if row is not None and cond(row) else None
        return wait_for(check, msg=msg)

    def services(self, d):
        """ok: runs, READY=1 and a STATUS= text with <script>; crash: exited
        3; held: stopped by a want; idle: never started."""
        self.notify_service(d, 'ok', status=b'READY=1\nSTATUS=' + SCRIPT.encode())
        d.cmd('service.tags\tok\tnote=' + SCRIPT)
        self.define(d, 'crash', ['sh', '-c', 'exit 3', SCRIPT])
        self.define(d, 'held', ['sleep', '100'], auto_up=[1, 'always'])
        self.define(d, 'idle', ['true'])
        self.start_svc(d, 'ok')
        d.send('service.start\tcrash')
        self.expect_state(d, 'crash', 'down')
        self.ok('stop', 'held')
        self.wait_row('ok', lambda r: r['status'] == SCRIPT, 'dpweb sees ok')
        self.wait_row('crash', lambda r: r['reason'] == 'exit', 'dpweb sees crash')
        self.wait_row('held', lambda r: r['want'] is not None, 'dpweb sees held')


class Api(DpwebTest):
    def test_api_is_dpctl_status_json(self):
        d = self.daemon()
        self.dpweb()
        self.services(d)
        ours = {r['name']: r for r in self.get('/api/services')}
        theirs = {r['name']: r for r in self.status_json()}
        self.assertEqual(sorted(ours), sorted(theirs))
        for name, t in theirs.items():
            o = ours[name]
            self.assertEqual(set(o) - {'restarts'}, set(t), name)
            for k, v in t.items():
                if k in ('since', 'uptime', 'downtime') and v is not None:
                    self.assertLessEqual(abs(o[k] - v), SLACK, (name, k, o[k], v))
                else:
                    self.assertEqual(o[k], v, (name, k))
        self.assertEqual(ours['ok']['ready'], True)
        self.assertEqual(ours['crash']['value'], '3')
        self.assertEqual(ours['held']['want']['want'], 'down')
        # <script> is data: the same text, no markup made of it
        self.assertEqual(ours['ok']['tags'], ['note=' + SCRIPT])
        self.assertEqual(ours['crash']['args'][-1], SCRIPT)
        status, headers, body = self.request('/api/services/ok')
        self.assertEqual(headers['Content-Type'], 'application/json')
        self.assertEqual(headers['X-Content-Type-Options'], 'nosniff')
        self.assertEqual(json.loads(body)['status'], SCRIPT)
        # the history has the crash
        h = self.get('/api/services/crash/history')['history']
        self.assertEqual([e['event'] for e in h if e['event'] in ('up', 'down')][-1:], ['down'])
        self.assertEqual(self.request('/api/services/nosuch')[0], 404)

    def test_metrics_parse_and_match_dpctl(self):
        parse = prometheus_parser()
        if parse is None:
            self.skipTest('no prometheus_client (Debian: python3-prometheus-client; '
                          '.ci/run installs it)')
        d = self.daemon()
        self.dpweb()
        self.services(d)
        status, headers, body = self.request('/metrics')
        self.assertEqual(status, 200)
        self.assertTrue(headers['Content-Type'].startswith('text/plain; version=0.0.4'))
        fams = {f.name: f for f in parse(body.decode())}
        theirs = {r['name']: r for r in self.status_json()}

        def per(fam, **match):
            out = {}
            for s in fams[fam].samples:
                if all(s.labels.get(k) == v for k, v in match.items()):
                    out[s.labels['service']] = s.value
            return out
        self.assertEqual(per('daemonproxy_service_up'),
                         {n: float(t['state'] == 'up') for n, t in theirs.items()})
        self.assertEqual(per('daemonproxy_service_ready'),
                         {n: float(bool(t['ready']) or (t['state'] == 'up' and t['ready'] is None))
                          for n, t in theirs.items()})
        self.assertEqual(per('daemonproxy_service_desired_state', state='down'),
                         {n: float(bool(t['want']) and t['want']['want'] == 'down')
                          for n, t in theirs.items()})
        self.assertEqual(per('daemonproxy_service_failed'), {n: 0.0 for n in theirs})
        up = per('daemonproxy_service_uptime_seconds')
        self.assertLessEqual(abs(up['ok'] - theirs['ok']['uptime']), SLACK)
        exits = fams['daemonproxy_service_exits']
        crash = {(s.labels['reason'], s.labels['value']): s.value for s in exits.samples
                 if s.labels['service'] == 'crash' and s.name.endswith('_total')}
        self.assertEqual(crash, {('exit', '3'): float(theirs['crash']['exits']['count'])})
        daemon = {f: fams[f].samples[0].value for f in ('daemonproxy_services',
                                                         'daemonproxy_up')}
        self.assertEqual(daemon, {'daemonproxy_services': 4.0, 'daemonproxy_up': 1.0})
        self.assertGreater(fams['daemonproxy_resident_memory_bytes'].samples[0].value, 0)


class Logs(DpwebTest):
    def test_logs_are_dpctl_logs_and_need_the_token(self):
        d = self.daemon()
        logdir = self.path('logs')
        lines = ''.join('line %d <b>\n' % i for i in range(3000))
        subprocess.run([dp.dplog_binary(), '-s', '4096', '-n', '3', logdir],
                       input=lines.encode(), check=True, timeout=TIMEOUT)
        self.define(d, 'web', ['true'], tags=['log_dir=' + logdir])
        self.define(d, 'quiet', ['true'])
        self.dpweb()
        self.wait_row('web', lambda r: True, 'dpweb sees web')
        path = '/api/services/web/logs?n=1000'
        self.assertEqual(self.request(path)[0], 403)
        status, _, body = self.request(path, headers={'X-DPWeb-Token': TOKEN})
        self.assertEqual(status, 200, body)
        got = ['%s %s' % (r['time'], r['text']) for r in json.loads(body)['records']]
        r = self.dpctl('logs', '--dir', logdir, '-n', '1000')
        self.assertEqual(got, r.outb.decode().splitlines())
        self.assertGreater(len(got), 100)               # across rotated files
        self.assertEqual(got[-1].split(' ', 1)[1], 'line 2999 <b>')
        status, _, body = self.request('/api/services/web/logs?n=2',
                                       headers={'X-DPWeb-Token': TOKEN})
        self.assertEqual(['%s %s' % (x['time'], x['text']) for x in json.loads(body)['records']],
                         got[-2:])
        status, _, body = self.request('/api/services/quiet/logs',
                                       headers={'X-DPWeb-Token': TOKEN})
        self.assertEqual((status, json.loads(body)['records']), (200, []))


class Events(DpwebTest):
    def test_a_crash_is_an_sse_change(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '100'])
        pid = self.start_svc(d, 'web')
        self.dpweb()
        self.wait_row('web', lambda r: r['pid'] == pid, 'dpweb sees web up')
        host, port = self.url[len('http://'):].split(':')
        c = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        self.addCleanup(c.close)
        c.request('GET', '/events')
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['Content-Type'], 'text/event-stream; charset=utf-8')

        def message():
            event = data = None
            while True:
                line = r.fp.readline()
                self.assertTrue(line, 'end of the event stream')
                line = line.rstrip(b'\n')
                if line.startswith(b'event: '):
                    event = line[7:].decode()
                elif line.startswith(b'data: '):
                    data = json.loads(line[6:])
                elif not line and event:
                    return event, data
        kind, snap = message()
        self.assertEqual(kind, 'snapshot')
        self.assertEqual([(s['name'], s['pid']) for s in snap['services']], [('web', pid)])
        d.send('service.signal\tweb\tSIGKILL')
        self.expect_state(d, 'web', 'down')
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.assertLess(time.monotonic(), deadline, 'no change event for the crash')
            kind, msg = message()
            self.assertEqual(kind, 'changes')
            rows = [s for s in msg['services'] if s['name'] == 'web']
            if rows and rows[0]['state'] == 'down':
                break
        self.assertEqual((rows[0]['reason'], rows[0]['value']), ('signal', 'SIGKILL'))


class Actions(DpwebTest):
    def test_stop_needs_the_token_and_stays_stopped(self):
        d = self.daemon()
        self.define(d, 'clock', ['sh', '-c', 'exit 0'], auto_up=[1, 'always'])
        self.define(d, 'web', ['sleep', '100'], auto_up=[1, 'always'])
        self.dpweb()
        self.wait_row('web', lambda r: r['state'] == 'up', 'dpweb sees web up')
        stop = '/api/services/web/stop'
        self.assertEqual(self.request(stop, 'POST')[0], 403)
        self.assertEqual(self.request(stop, 'POST', {'X-DPWeb-Token': 'x' * 28})[0], 403)
        self.assertEqual(self.request(stop, 'POST', {'X-DPWeb-Token': TOKEN,
                                                     'Origin': 'http://evil.example'})[0], 403)
        self.assertEqual(self.request(stop, 'POST', {
            'X-DPWeb-Token': TOKEN, 'Host': 'evil.example:%s' % self.url.split(':')[-1]})[0],
            403)
        self.assertEqual(self.api_row('web')['state'], 'up')
        self.assertEqual(self.want_line(d, 'web'), None)
        status, _, body = self.request(stop, 'POST', {'X-DPWeb-Token': TOKEN,
                                                      'Origin': self.url})
        self.assertEqual(status, 200, body)
        self.expect_state(d, 'web', 'down')
        # three ticks of the clock: web's rule (1 s) would have started it
        seen = []
        for _ in range(3):
            d.expect(lambda l: seen.append(l) or l.startswith('service.state\tclock\tup\t'),
                     timeout=TIMEOUT + 2)
        self.assertEqual([l for l in seen if l.startswith('service.state\tweb\t')], [])
        row = [r for r in self.status_json('web')][0]
        self.assertEqual((row['state'], row['want']['want']), ('down', 'down'))
        self.assertEqual(self.wait_row('web', lambda r: r['want'] is not None,
                                       'dpweb sees the want')['want']['want'], 'down')
        # start brings it back, through the want
        status, _, body = self.request('/api/services/web/start', 'POST',
                                       {'Authorization': 'Bearer ' + TOKEN})
        self.assertEqual(status, 200, body)
        self.expect_state(d, 'web', 'up')
        self.assertEqual(self.status_json('web')[0]['want']['want'], 'up')

    def test_restart_and_the_stop_tags(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '100'])
        pid = self.start_svc(d, 'web')
        # ignores SIGTERM: its stop_timeout= tag (1 s) says when SIGKILL comes
        stubborn = self.term_ignorer(d, 'stubborn')[0]
        d.cmd('service.tags\tstubborn\tstop_timeout=1')
        self.dpweb()
        self.wait_row('stubborn', lambda r: r['tags'] == ['stop_timeout=1'], 'dpweb sees tags')
        hdr = {'X-DPWeb-Token': TOKEN}
        status, _, body = self.request('/api/services/web/restart', 'POST', hdr)
        self.assertEqual(status, 200, body)
        # want down (why "restart"), the stop, want up, a new run: dpctl restart's order
        seen = []
        d.expect(lambda l: seen.append(l) or l.startswith('service.state\tweb\tup\t'))
        mine = [l.split('\t')[:3] for l in seen if l.split('\t')[1:2] == ['web']
                and l.split('\t')[2] != 'start']          # a pending start, then up
        self.assertEqual(mine, [['service.want', 'web', 'down'], ['service.state', 'web', 'down'],
                                ['service.want', 'web', 'up'], ['service.state', 'web', 'up']])
        self.assertIn('\trestart', [l for l in seen if l.startswith('service.want\tweb\tdown')][0])
        self.assertNotEqual(int(seen[-1].split('\t')[4]), pid)
        status, _, body = self.request('/api/services/stubborn/stop', 'POST', hdr)
        self.assertEqual(status, 200, body)
        down = self.expect_state(d, 'stubborn', 'down')
        self.assertEqual((down[4], down[5], down[6]), (str(stubborn), 'signal', 'SIGKILL'))

    def test_read_only_refuses_actions(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '100'])
        self.dpweb('--listen', '127.0.0.1:0', '--read-only')
        status, _, body = self.request('/api/services/web/start', 'POST',
                                       {'X-DPWeb-Token': TOKEN})
        self.assertEqual(status, 403, body)
        self.assertIn(b'read-only', body)


OTHER_GET = r'''
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers=dict(h.split(': ', 1) for h in sys.argv[2:]))
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
'''


@unittest.skipUnless(os.geteuid() == 0, 'needs root to be a second local user')
class SecondUser(DpwebTest):
    def as_nobody(self, path, *headers):
        """The HTTP status a GET of path gets from uid/gid 65534."""
        def drop():
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
        # a python that uid 65534 may run (this one may live under /root)
        py = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
        out = subprocess.run([py, '-c', OTHER_GET, self.url + path] + list(headers),
                             preexec_fn=drop, stdout=subprocess.PIPE, text=True,
                             timeout=TIMEOUT, check=True).stdout
        return int(out)

    def test_another_user_reads_nothing_without_the_token(self):
        # loopback is every local user's: what dpctl shows only to
        # daemonproxy's user and root, dpweb shows them only with the token
        d = self.daemon()
        self.define(d, 'web', ['sleep', '100'])
        self.dpweb()
        self.wait_row('web', lambda r: True, 'dpweb sees web')
        for path in ('/api/services', '/api/services/web', '/metrics', '/events',
                     '/api/daemon', '/api/services/web/history'):
            self.assertEqual(self.as_nobody(path), 401, path)
        self.assertEqual(self.as_nobody('/api/services', 'X-DPWeb-Token: ' + TOKEN), 200)
        # the page itself holds no data: it loads, and asks for the token
        self.assertEqual(self.as_nobody('/'), 200)
        # root (this test) reads without it
        self.assertEqual(self.request('/api/services')[0], 200)


class Startup(DpwebTest):
    def test_non_loopback_without_token_refuses_to_start(self):
        self.daemon()
        p = self.dpweb('--listen', '0.0.0.0:0', token=False, wait=False)
        self.assertEqual(p.wait(TIMEOUT), 2)
        self.assertIn('needs a token', self.read_text('dpweb.err'))

    def test_without_a_token_one_is_made_for_the_user(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '100'])
        rt = self.path('run')
        os.mkdir(rt, 0o700)
        self.dpweb(token=False, env={'XDG_RUNTIME_DIR': rt})
        tf = os.path.join(rt, 'dpweb.token')
        self.assertIn('the token in %s' % tf, self.read_text('dpweb.err'))
        self.assertEqual(os.stat(tf).st_mode & 0o777, 0o600)
        with open(tf) as f:
            token = f.read().strip()
        self.assertGreaterEqual(len(token), 32)
        self.assertEqual(self.request('/api/services/web/start', 'POST')[0], 403)
        status, _, body = self.request('/api/services/web/start', 'POST',
                                       {'X-DPWeb-Token': token})
        self.assertEqual(status, 200, body)
        self.expect_state(d, 'web', 'up')
        p = self.bg[-1]
        p.terminate()
        self.assertEqual(p.wait(TIMEOUT), 0)

    def test_the_daemon_restarted_is_found_again(self):
        d = self.daemon()
        self.define(d, 'first', ['true'])
        self.dpweb()
        self.wait_row('first', lambda r: True, 'dpweb sees first')
        d.kill()
        d.wait()
        wait_for(lambda: not self.get('/api/daemon')['connected'], msg='dpweb sees it gone')
        d2 = self.daemon()
        self.define(d2, 'second', ['true'])
        wait_for(lambda: [r['name'] for r in self.get('/api/services')] == ['second'],
                 msg='dpweb serves the new daemon')
        self.assertEqual(self.get('/api/daemon')['reconnects_total'], 1)
