"""Every reader of the library against a peer that is not daemonproxy
(issue 18, point 9): the blocking and the asyncio client, over a socket
(a control socket) and over pipes (the controller service's stdio, which
dpcontroller uses), against a peer that sends one endless line, valid short
lines faster than they are read, random bytes, or nothing at all, while
the client waits for a reply with timeout=1.

Each client runs in a process of its own (hostile_peer.py) with its
address space capped, so that its peak RSS can be measured and a client
that buffers without bound fails instead of taking the machine.  The
bounds are deadlines, not benchmarks: 20 s for a 1 s timeout, 50 MB of
growth (the event queue holds at most 65,536 unread events).
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import unittest

import _path
from daemonproxy.protocol import EVENT_LINE_MAX

_path.check()

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = ('blocking', 'asyncio', 'blocking-pipes', 'asyncio-pipes')
KINDS = ('endless', 'lines', 'garbage', 'silence')
BOUND_S = 20
RSS_BOUND_KB = 50 * 1024
NOT_DAEMONPROXY = "the peer is not speaking daemonproxy's protocol"


def run_all(cases):
    """Run hostile_peer.py for each (client, kind, options) at once;
    returns {case: outcome}."""
    procs = {c: subprocess.Popen([sys.executable, os.path.join(HERE, 'hostile_peer.py'),
                                  c[0], c[1], '1'] + list(c[2]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cases}
    out = {}
    for case, p in procs.items():
        try:
            stdout, stderr = p.communicate(timeout=3 * BOUND_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            out[case] = {'exception': 'hung', 'message': 'no answer in %d s' % (3 * BOUND_S)}
            continue
        try:
            out[case] = json.loads(stdout)
        except ValueError:
            out[case] = {'exception': 'crashed', 'message': stderr[-500:]}
    return out


class HostilePeer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cases = [(c, k, ()) for c in CLIENTS for k in KINDS]
        cases += [(c, 'lines', ('queue_events=0',)) for c in CLIENTS]
        cls.results = run_all(cases)

    def outcome(self, client, kind, *opts):
        r = self.results[(client, kind, opts)]
        self.assertNotIn(r['exception'], ('hung', 'crashed', 'returned', 'MemoryError'),
                         '%s/%s: %r' % (client, kind, r))
        self.assertLess(r['seconds'], BOUND_S, r)
        self.assertLess(r['max_buffered'], EVENT_LINE_MAX, r)
        return r

    def test_endless_line_is_refused_not_buffered(self):
        for c in CLIENTS:
            with self.subTest(client=c):
                r = self.outcome(c, 'endless')
                self.assertEqual(r['exception'], 'ProtocolError', r)
                self.assertIn('a line of more than %d bytes' % EVENT_LINE_MAX, r['message'])
                self.assertIn(NOT_DAEMONPROXY, r['message'])
                self.assertLess(r['rss_growth_kb'], RSS_BOUND_KB, r)

    def test_garbage_is_refused(self):
        for c in CLIENTS:
            with self.subTest(client=c):
                r = self.outcome(c, 'garbage')
                self.assertEqual(r['exception'], 'ProtocolError', r)
                self.assertIn(NOT_DAEMONPROXY, r['message'])
                self.assertLess(r['rss_growth_kb'], RSS_BOUND_KB, r)

    def test_deadline_holds_while_lines_keep_coming(self):
        for c in CLIENTS:
            with self.subTest(client=c):
                r = self.outcome(c, 'lines')
                self.assertEqual(r['exception'], 'Timeout', r)
                self.assertIn("no reply to 'echo x' within 1.0s", r['message'])
                # events are queued for the application until it reads
                # them, but never more than max_events: the rest are
                # counted (EventsDropped); with no queue it keeps nothing
                self.assertLess(r['rss_growth_kb'], RSS_BOUND_KB, r)
                r = self.outcome(c, 'lines', 'queue_events=0')
                self.assertEqual(r['exception'], 'Timeout', r)
                self.assertLess(r['rss_growth_kb'], RSS_BOUND_KB, r)

    def test_silence_times_out(self):
        for c in CLIENTS:
            with self.subTest(client=c):
                r = self.outcome(c, 'silence')
                self.assertEqual(r['exception'], 'Timeout', r)
                self.assertLess(r['rss_growth_kb'], RSS_BOUND_KB, r)


@unittest.skipUnless(sys.version_info >= (3, 11), 'the controller needs tomllib (3.11)')
class ControllerStdio(unittest.TestCase):
    """dpcontroller reads its events on stdin: an endless line there ends
    it with one clear message, not with a growing buffer."""

    def test_endless_line_on_stdin(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, 'services.toml')
            with open(cfg, 'w') as f:
                f.write('[service.web]\nrun = ["sleep", "100"]\n')
            r, w = os.pipe()

            def flood():
                try:
                    while True:
                        os.write(w, b'x' * 65536)
                except OSError:
                    pass            # the controller is gone
                finally:
                    os.close(w)
            t = threading.Thread(target=flood, daemon=True)
            env = dict(os.environ, PYTHONPATH=_path.PYTHON_DIR)
            cap = 1 << 30
            p = subprocess.Popen([sys.executable, '-m', 'daemonproxy.controller', cfg], stdin=r,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                 text=True, preexec_fn=lambda: resource.setrlimit(
                                     resource.RLIMIT_AS, (cap, cap)))
            os.close(r)
            t.start()
            try:
                _, err = p.communicate(timeout=3 * BOUND_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                self.fail('dpcontroller still reading an endless line after %d s' % (3 * BOUND_S))
            t.join(BOUND_S)
            self.assertEqual(p.returncode, 1, err)
            self.assertIn(NOT_DAEMONPROXY, err)
            self.assertNotIn('Traceback', err)


if __name__ == '__main__':
    unittest.main()
