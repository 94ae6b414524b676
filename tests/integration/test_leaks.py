"""Leak checks (reliability issue): after 10,000 start/exit cycles and
10,000 handle create/delete cycles, daemonproxy's open-fd count is exactly
where it started and its RSS is back (after a warm-up round that lets every
buffer reach its working size)."""

import re

from dp import TIMEOUT, slow_binary
from svc_util import SvcTest

CYCLES = 10000
CHUNK = 250     # starts per batch: their events fit the 64 KiB buffer


class Leaks(SvcTest):

    def cycle_services(self, d, n):
        done = 0
        while done < n:
            k = min(CHUNK, n - done)
            d.send(*['service.start\tt%03d' % i for i in range(k)])
            downs = 0
            while downs < k:
                line = d.expect(re.compile(r'^(service\.state\tt\d+\tdown\t|error\t|overflow$)'),
                                timeout=TIMEOUT * 3)
                self.assertFalse(line.startswith('error') or line == 'overflow', line)
                downs += 1
            done += k

    def cycle_handles(self, d, n):
        for base in range(0, n, 500):
            cmds = []
            for i in range(base, base + 500):
                cmds += ['fd.pipe\tlr%d\tlw%d' % (i % 7, i % 7), 'fd.open\tlf\tread\t/dev/null',
                         'fd.delete\tlf']
            out = d.cmd(*cmds, timeout=TIMEOUT * 3)
            self.assertEqual([l for l in out if l.startswith('error') or l == 'overflow'], [])
        d.cmd(*['fd.delete\tlr%d' % i for i in range(7)] + ['fd.delete\tlw%d' % i for i in range(7)])

    def test_start_exit_and_handle_cycles(self):
        d = self.start('-q')
        d.cmd(*['service.args\tt%03d\ttrue' % i for i in range(CHUNK)])
        # warm-up: buffers, pid index, spawn scratch reach their working size
        self.cycle_services(d, 2 * CHUNK)
        self.cycle_handles(d, 1000)
        fds0, rss0 = d.fd_count(), d.rss_kb()
        self.cycle_services(d, CYCLES)
        self.cycle_handles(d, CYCLES)
        fds1, rss1 = d.fd_count(), d.rss_kb()
        print('leak check: fds %d -> %d, RSS %d kB -> %d kB' % (fds0, fds1, rss0, rss1))
        self.assertEqual(fds1, fds0, 'open fds before/after')
        # ASan's quarantine and valgrind keep freed memory; LSan and memcheck
        # check for leaks in those runs
        if not slow_binary():
            self.assertLessEqual(rss1, rss0 + 64, 'RSS kB before %d, after %d' % (rss0, rss1))

    def test_failed_starts_leak_nothing(self):
        # Found by the fuzzer: a control handle before a missing handle name
        # left its socketpair open on every failed start.
        d = self.start('-q')
        d.cmd('service.args\tbad\ttrue', 'service.fds\tbad\tcontrol.cmd\tnosuch\tnull')
        fds0 = d.fd_count()
        for _ in range(20):
            out = d.cmd('service.start\tbad')
            self.assertTrue(any("no such handle 'nosuch'" in l for l in out), out)
        self.assertEqual(d.fd_count(), fds0, 'open fds before/after 20 failed starts')
