"""dpweb's page in a real headless Chromium (Debian's `chromium`; skipped
without it), driven over the DevTools protocol (chromium.py), against a
real daemonproxy and a real dpweb:

- the table lists every service; a crash changes its row in place (the
  same <tr>, the same document: no navigation, no reload);
- STATUS= texts with <script> and <img onerror> show as text: no element
  made of them, no script run (service names cannot hold `<`:
  [A-Za-z0-9._-]);
- a crash-looping service's row is marked, its timeline (SVG) has one
  restart tick per restart in dpweb's history, the log says a token is
  needed without one, and the Stop button (with the token entered in the
  page) stops it: wanted down in `dpctl status`, and it stays down while
  a clock service restarts three times;
- on a wildcard address (every read needs the token) the page loads,
  says a token is needed, and streams once it is entered;
- screenshots at 1280x800 and 390x844, of the table and of a detail view,
  kept in $DP_ARTEFACTS (default build-test/artefacts/) and checked by
  script: nothing wider than the viewport but inside the table's scroll
  box, no two of the header's and controls' elements overlapping.
"""

import json
import os
import re
import signal
import unittest

import chromium
import dp
from dp import TIMEOUT, wait_for
from test_dpweb import DpwebTest, TOKEN

INJECT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
ARTEFACTS = os.environ.get('DP_ARTEFACTS') or os.path.join(dp.REPO, 'build-test', 'artefacts')

# The layout check, run in the page: elements wider than the viewport
# (but inside the table's scroll box, which scrolls), and pairs of the
# header's and controls' elements whose boxes overlap.
LAYOUT_JS = r'''(() => {
  const W = document.documentElement.clientWidth;
  const out = {overflow: [], overlap: [], pageWidth: document.documentElement.scrollWidth, W: W};
  const scroller = document.getElementById('scroller');
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none';
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  for (const el of document.body.querySelectorAll('*')) {
    if (scroller.contains(el) && el !== scroller) continue;
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.right > W + 0.5) out.overflow.push([name(el), r.left, r.right]);
  }
  const sel = 'header h1, #summary, #conn, #tokenform label, #token, #tokensave, #tokenstate,' +
    ' .controls #filter, .controls #shown, #detail .actions > *, #detail h2, #detail h3 > *';
  const els = [...document.querySelectorAll(sel)].filter(visible);
  for (let i = 0; i < els.length; i++) {
    for (let j = i + 1; j < els.length; j++) {
      if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
      const a = els[i].getBoundingClientRect(), b = els[j].getBoundingClientRect();
      if (a.left < b.right - 0.5 && b.left < a.right - 0.5 &&
          a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) {
        out.overlap.push([name(els[i]), name(els[j])]);
      }
    }
  }
  return out;
})()'''


@unittest.skipIf(chromium.find() is None,
                 'no chromium (Debian: apt-get install chromium; .ci/run installs it)')
class Page(DpwebTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.browser = chromium.Browser(1280, 800, timeout=TIMEOUT + 10)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        b = self.browser
        b.viewport(1280, 800)
        b.console.clear()
        b.exceptions.clear()

    def js(self, expr):
        return self.browser.eval(expr)

    def open(self, hash_=''):
        self.browser.navigate(self.url + '/' + hash_)
        wait_for(lambda: self.js('window.dpweb && window.dpweb.snapshots > 0 || false'),
                 msg='the page has its snapshot')

    def row(self, name):
        """The cells' texts of the service's row, or None."""
        return self.js('(() => { const tr = document.querySelector(%s); '
                       'return tr ? [...tr.children].map((td) => td.textContent) : null; })()'
                       % json.dumps('tr[data-name="%s"]' % name))

    def wait_cells(self, name, cond, msg):
        box = []

        def check():
            r = self.row(name)
            if r is not None and cond(r):
                box.append(r)
                return True
            return False
        wait_for(check, msg=msg)
        return box[0]

    def assert_no_errors(self):
        self.assertEqual(self.browser.exceptions, [])
        self.assertEqual([c for c in self.browser.console if c[0] in ('error', 'assert')], [])

    # ---------------------------------------------------------------------------

    def test_table_is_live_and_escapes(self):
        d = self.daemon()
        self.notify_service(d, 'ok', status=b'READY=1\nSTATUS=' + INJECT.encode())
        self.define(d, 'web', ['sleep', '100'])
        self.define(d, 'held', ['sleep', '100'])
        self.define(d, 'idle', ['true'])
        self.start_svc(d, 'ok')
        pid = self.start_svc(d, 'web')
        self.ok('stop', 'held')
        self.dpweb()
        self.wait_row('ok', lambda r: r['status'] == INJECT, 'dpweb sees ok')
        self.wait_row('held', lambda r: r['want'] is not None, 'dpweb sees held')
        self.open()
        names = self.js('[...document.querySelectorAll("#rows tr[data-name]")]'
                        '.map((tr) => tr.dataset.name)')
        self.assertEqual(names, sorted(r['name'] for r in self.status_json()))
        cells = self.wait_cells('web', lambda c: c[1] == 'up', 'web up in the page')
        self.assertEqual(cells[2], str(pid))
        self.assertEqual(self.row('held')[1], 'stopped')
        self.assertEqual(self.row('ok')[4], 'yes')
        # STATUS= as text: the very characters, no <img>, no script run
        self.assertEqual(self.row('ok')[8], INJECT)
        self.assertEqual(self.js('document.querySelectorAll("img").length'), 0)
        self.assertEqual(self.js('document.scripts.length'), 1)
        self.assertEqual(self.js('typeof window.__pwned'), 'undefined')
        self.assertRegex(self.js('document.getElementById("summary").textContent'),
                         r'^4 services: 2 up, ')
        # a crash: the same row element changes, in the same document
        self.js('window.__same = "yes"; window.__row = document.querySelector'
                '(\'tr[data-name="web"]\'); 0')
        navigations = self.browser.navigations
        os.kill(pid, signal.SIGKILL)
        self.expect_state(d, 'web', 'down')
        cells = self.wait_cells('web', lambda c: c[1] == 'down', 'the crash in the page')
        self.assertEqual((cells[2], cells[6]), ('-', 'signal SIGKILL'))
        self.assertTrue(self.js('window.__same === "yes" && window.__row === '
                                'document.querySelector(\'tr[data-name="web"]\')'))
        self.assertTrue(self.js('window.__row.classList.contains("failed")'))
        self.assertEqual(self.browser.navigations, navigations)
        self.assertGreaterEqual(self.js('window.dpweb.batches'), 1)
        self.assertEqual(self.js('window.dpweb.snapshots'), 1)
        # a filter keeps the rows it matches
        self.js('const f = document.getElementById("filter"); f.value = "STOPPED"; '
                'f.dispatchEvent(new Event("input")); 0')
        self.assertEqual(self.js('[...document.querySelectorAll("#rows tr[data-name]")]'
                                 '.map((tr) => tr.dataset.name)'), ['held'])
        self.assert_no_errors()

    def test_timeline_and_stop_button(self):
        d = self.daemon()
        self.define(d, 'clock', ['sh', '-c', 'exit 0'], auto_up=[1, 'always'])
        self.dpweb()
        # started after dpweb: its whole history is dpweb's own
        self.define(d, 'flap', ['sh', '-c', 'exit 1'], auto_up=[1, 'always'])
        row = self.wait_row('flap', lambda r: r['restarts'] >= 3, 'flap restarted 3 times')
        self.open()
        wait_for(lambda: self.js('!!document.querySelector(\'tr.looping[data-name="flap"]\')'),
                 msg='flap marked crash-looping')
        self.js('location.hash = "#/service/flap"; 0')
        wait_for(lambda: self.js('!!document.querySelector("#d-plot svg")'), msg='the plot')
        # every restart in dpweb's history is a tick (more may come meanwhile)
        def ticks_match():
            hist = self.get('/api/services/flap/history')['history']
            ups = [e for e in hist if e['event'] == 'up']
            n = self.js('document.querySelectorAll("#d-plot svg line.restart").length')
            return n >= 3 and n in (len(ups) - 1, len(ups) - 2, len(ups))
        self.js('document.querySelector(\'#detail button[data-range="600"]\').click(); 0')
        wait_for(ticks_match, msg='one tick per restart')
        # the log needs the token
        wait_for(lambda: 'token needed' in self.js(
            'document.getElementById("d-logs-note").textContent'), msg='token hint')
        # no token: Stop says so and does nothing
        self.js('document.querySelector(\'#detail button[data-verb="stop"]\').click(); 0')
        self.assertIn('token is needed', self.js('document.getElementById("d-result")'
                                                 '.textContent'))
        self.js('document.getElementById("token").value = %s; '
                'document.getElementById("tokensave").click(); 0' % json.dumps(TOKEN))
        self.assertEqual(self.js('sessionStorage.getItem("dpweb.token")'), TOKEN)
        self.assertEqual(self.js('document.getElementById("token").value'), '')
        wait_for(lambda: 'no log_dir' in self.js(
            'document.getElementById("d-logs-note").textContent'), msg='log note with token')
        navigations = self.browser.navigations
        self.js('document.querySelector(\'#detail button[data-verb="stop"]\').click(); 0')
        wait_for(lambda: self.js('document.getElementById("d-result").textContent')
                 == 'stop: done', msg='the stop answered')
        wait_for(lambda: [(r['state'], (r['want'] or {}).get('want'))
                          for r in self.status_json('flap')] == [('down', 'down')],
                 msg='flap wanted down')
        # from the want on, three ticks of the clock: flap's rule (1 s)
        # would have started it
        d.expect(lambda l: l.startswith('service.want\tflap\tdown\t'))
        seen = []
        for _ in range(3):
            d.expect(lambda l: seen.append(l) or l.startswith('service.state\tclock\tup\t'),
                     timeout=TIMEOUT + 2)
        self.assertEqual([l for l in seen if l.startswith('service.state\tflap\tup')], [])
        self.assertEqual(self.status_json('flap')[0]['state'], 'down')
        wait_for(lambda: self.js('document.getElementById("d-fields").textContent')
                 .startswith('statestopped'), msg='the page says stopped')
        self.assertEqual(self.browser.navigations, navigations)
        self.assertGreaterEqual(row['restarts'], 3)
        self.assert_no_errors()

    def test_reads_with_the_token_where_it_is_needed(self):
        # on a wildcard address every read needs the token: the page loads,
        # says so, and streams with the token once it is entered
        d = self.daemon()
        self.define(d, 'web', ['sleep', '100'])
        pid = self.start_svc(d, 'web')
        self.dpweb('--listen', '0.0.0.0:0', wait=False)
        m = wait_for(lambda: re.search(r'serving http://0\.0\.0\.0:(\d+)/',
                                       self.read_text('dpweb.err') or ''), msg='dpweb serving')
        self.url = 'http://127.0.0.1:%s' % m.group(1)
        self.assertEqual(self.request('/api/services')[0], 401)
        self.browser.navigate(self.url + '/')
        wait_for(lambda: self.js('document.getElementById("conn") && '
                                 'document.getElementById("conn").textContent') ==
                 'a token is needed to read', msg='the page asks for the token')
        self.assertEqual(self.js('window.dpweb.snapshots'), 0)
        self.js('document.getElementById("token").value = %s; '
                'document.getElementById("tokensave").click(); 0' % json.dumps(TOKEN))
        cells = self.wait_cells('web', lambda c: c[1] == 'up', 'web in the page')
        self.assertEqual(cells[2], str(pid))
        self.assertEqual(self.js('document.getElementById("conn").textContent'), 'live')
        self.assert_no_errors()

    def test_layout_at_desktop_and_phone_widths(self):
        d = self.daemon()
        long_status = 'STATUS=serving 1234 requests/s on 0.0.0.0:8080, cache 97% warm ' * 3
        self.notify_service(d, 'api', status=('READY=1\n' + long_status).encode())
        self.define(d, 'a-service-with-a-31-char-name_x', ['sleep', '100'])
        self.define(d, 'crashy', ['sh', '-c', 'exit 3'])
        self.define(d, 'held', ['sleep', '100'])
        self.start_svc(d, 'api')
        self.start_svc(d, 'a-service-with-a-31-char-name_x')
        d.send('service.start\tcrashy')
        self.expect_state(d, 'crashy', 'down')
        self.ok('stop', 'held')
        self.dpweb()
        self.wait_row('crashy', lambda r: r['reason'] == 'exit', 'dpweb sees crashy')
        os.makedirs(ARTEFACTS, exist_ok=True)
        b = self.browser
        for w, h in ((1280, 800), (390, 844)):
            b.viewport(w, h)
            for view, hash_ in (('table', ''), ('detail', '#/service/api')):
                self.open(hash_)
                if view == 'detail':
                    wait_for(lambda: self.js('!!document.querySelector("#d-plot svg")'),
                             msg='the plot')
                else:
                    wait_for(lambda: self.row('held') is not None, msg='the rows')
                shot = b.screenshot(os.path.join(ARTEFACTS, 'dpweb-%s-%dx%d.png'
                                                 % (view, w, h)))
                self.assertGreater(os.path.getsize(shot), 1000)
                got = self.js(LAYOUT_JS)
                what = '%s at %dx%d' % (view, w, h)
                self.assertEqual(got['W'], w, what)
                self.assertLessEqual(got['pageWidth'], w, what + ': the page scrolls sideways')
                self.assertEqual(got['overflow'], [], what + ': wider than the viewport')
                self.assertEqual(got['overlap'], [], what + ': overlapping')
        self.assert_no_errors()


if __name__ == '__main__':
    unittest.main()
