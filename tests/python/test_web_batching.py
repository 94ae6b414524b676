"""dpweb's batching and its Server-Sent Events: a storm of events is one
message per flush with each service once; an SSE client that fell behind
gets a snapshot, not the backlog; a client that reads nothing is dropped
after the send timeout, and dpweb keeps no queue for it meanwhile."""

import json
import socket
import threading
import time
import unittest

import _path
from _web import Fed, Served, service_lines
from daemonproxy.web.server import Hub

_path.check()

DEADLINE = 20


def storm_dump(n):
    lines = []
    for i in range(n):
        lines += service_lines('s%04d' % i, 'down', 990, 4000 + i, 'exit', '1', '0', '0',
                               auto_up=('1', 'always'))
    return lines


class History(unittest.TestCase):
    def test_all_histories_together_are_bounded(self):
        # each service keeps HISTORY_MAX, but all of them HISTORY_TOTAL at
        # most: with 2,000 crash-looping services, 100 each
        from daemonproxy.web import model as m
        n = 2000
        f = Fed(storm_dump(n))
        for rnd in range(60):
            for i in range(n):
                name = 's%04d' % i
                pid = 10000 + rnd * n + i
                f.event('service.state\t%s\tup\t%d\t%d\t-\t-\t0\t-' % (name, 991 + rnd, pid))
                f.event('service.state\t%s\tdown\t%d\t%d\texit\t1\t0\t0'
                        % (name, 991 + rnd, pid))
        each = m.HISTORY_TOTAL // n
        self.assertLess(each, 2 * 60)
        lens = [len(f.model.history('s%04d' % i)) for i in range(n)]
        self.assertEqual(max(lens), each)
        self.assertLessEqual(sum(lens), m.HISTORY_TOTAL)
        # the newest kept: the last down of the last round
        self.assertEqual(f.model.history('s0000')[-1][1], 'down')


class Batching(unittest.TestCase):
    def test_a_storm_of_1000_crash_loops_is_one_batch(self):
        f = Fed(storm_dump(1000))
        f.batches.clear()
        for rnd in range(10):
            for i in range(1000):
                name = 's%04d' % i
                pid = 10000 + rnd * 1000 + i
                f.event('service.state\t%s\tup\t%d\t%d\t-\t-\t0\t-' % (name, 991 + rnd, pid))
                f.event('service.state\t%s\tdown\t%d\t%d\texit\t1\t0\t0'
                        % (name, 991 + rnd, pid))
        f.model.flush()
        self.assertEqual(len(f.batches), 1)
        kind, seq, rows, deleted = f.batches[0]
        self.assertEqual(kind, 'changes')
        self.assertEqual(sorted(r['name'] for r in rows), ['s%04d' % i for i in range(1000)])
        self.assertEqual(rows[0]['restarts'], 10)
        self.assertEqual(rows[0]['exits']['count'], 10)
        # nothing new: no batch at all
        f.model.flush()
        self.assertEqual(len(f.batches), 1)

    def test_a_deleted_service_is_named_once(self):
        f = Fed(storm_dump(3))
        f.batches.clear()
        f.event('service.state\ts0001\tup\t991\t5\t-\t-\t0\t-')
        f.event('service.state\ts0001\tdeleted\t-\t-\t-\t-\t-\t-')
        f.model.flush()
        _, _, rows, deleted = f.batches[0]
        self.assertEqual(rows, [])
        self.assertEqual(deleted, ['s0001'])
        self.assertIsNone(f.model.row('s0001'))


def messages(data):
    out = []
    for block in data.split(b'\n\n'):
        if block.startswith(b'event: '):
            lines = block.split(b'\n')
            out.append((lines[0][7:].decode(), json.loads(lines[2][6:])))
    return out


class Hubs(unittest.TestCase):
    def test_a_client_behind_the_ring_gets_a_snapshot(self):
        f = Fed(storm_dump(3))
        hub = Hub(f.model, ring=4)
        f.model.listeners.append(hub.publish)
        got, stall, stalled = [], threading.Event(), threading.Event()

        def write(data):
            got.append(data)
            if len(got) == 1:
                stalled.set()
                stall.wait(DEADLINE)        # a client that does not read
        t = threading.Thread(target=hub.serve, args=(write, 0.05), daemon=True)
        t.start()
        self.assertTrue(stalled.wait(DEADLINE))
        for rnd in range(10):              # more batches than the ring holds
            f.event('service.state\ts0000\tup\t%d\t%d\t-\t-\t0\t-' % (991 + rnd, 50 + rnd))
            f.model.flush()
        stall.set()
        deadline = time.monotonic() + DEADLINE
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)                # polling a list a thread fills
        hub.close()
        t.join(DEADLINE)
        kinds = [k for k, _ in messages(b''.join(got))]
        self.assertEqual(kinds[:2], ['snapshot', 'snapshot'])
        self.assertEqual(len(hub.ring), 4)
        last = messages(got[1])[0][1]
        self.assertEqual({r['name']: r['pid'] for r in last['services']}['s0000'], 59)

    def test_a_client_in_step_gets_the_changes_only(self):
        f = Fed(storm_dump(3))
        hub = Hub(f.model)
        f.model.listeners.append(hub.publish)
        got = []
        t = threading.Thread(target=hub.serve, args=(got.append, 0.05), daemon=True)
        t.start()
        deadline = time.monotonic() + DEADLINE
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        f.event('service.state\ts0002\tup\t991\t77\t-\t-\t0\t-')
        f.model.flush()
        while len(messages(b''.join(got))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        hub.close()
        t.join(DEADLINE)
        msgs = messages(b''.join(got))
        self.assertEqual([k for k, _ in msgs], ['snapshot', 'changes'])
        self.assertEqual([r['name'] for r in msgs[1][1]['services']], ['s0002'])
        self.assertEqual(msgs[1][1]['services'][0]['pid'], 77)


class SlowClient(unittest.TestCase):
    def test_a_client_that_reads_nothing_is_dropped(self):
        f = Fed(storm_dump(200))
        srv = Served(f.model)
        srv.settings.sse_send_timeout = 0.5
        self.addCleanup(srv.close)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(('127.0.0.1', srv.port))
        self.addCleanup(s.close)
        s.sendall(b'GET /events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n' % srv.port)
        hub = srv.server.hub
        deadline = time.monotonic() + DEADLINE
        rnd = 0
        while hub.dropped_total == 0 and time.monotonic() < deadline:
            for i in range(200):            # every service changes: big batches
                f.event('service.state\ts%04d\tup\t%d\t%d\t-\t-\t0\t-' % (i, 991 + rnd, rnd))
            f.model.flush()
            rnd += 1
            time.sleep(0.05)                # the flush interval of a real feed
        self.assertEqual(hub.dropped_total, 1)
        while hub.clients and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(hub.clients, 0)
        self.assertLessEqual(len(hub.ring), 64)


if __name__ == '__main__':
    unittest.main()
