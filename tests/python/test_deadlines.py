"""Deadlines against a peer whose data never stops (issue 18, point 9),
made deterministic: the client's fd always polls readable (a byte waits
on it, never read) and every read returns another 64 KiB of valid lines,
as from a peer infinitely faster than the client.  Every wait must still
end at its deadline: request(), wait_for() and wait_until() with events
that never match, resync() against an endless run of ``overflow``, and
next_event(), which returns what came.

A client that never looks at its deadline while data keeps coming would
loop for ever: SIGALRM ends such a test with a failure instead."""

import asyncio
import contextlib
import signal
import socket
import unittest
from unittest import mock

import _path
import daemonproxy
from daemonproxy import AsyncClient, Client, Signal, Timeout

_path.check()

TIMEOUT = 0.3
GUARD_S = 30
EVENTS = b'signal\tSIGHUP\t5\t1\n' * 3000
OVERFLOWS = b'overflow\n' * 8000


class Stuck(Exception):
    pass


@contextlib.contextmanager
def endless(chunk, module):
    """module's read_some returns chunk for ever; SIGALRM after GUARD_S."""
    def alarm(*_):
        raise Stuck('still waiting %d s after a %.1f s deadline' % (GUARD_S, TIMEOUT))
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(GUARD_S)
    try:
        with mock.patch.object(module, 'read_some', lambda fd: chunk):
            yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def readable_pair():
    a, b = socket.socketpair()
    b.send(b'.')            # a polls readable for ever: nobody reads it
    return a, b


class Blocking(unittest.TestCase):
    def client(self, **kw):
        a, b = readable_pair()
        self.addCleanup(b.close)
        c = Client(a.fileno(), a.fileno(), closer=a.close, timeout=TIMEOUT, **kw)
        self.addCleanup(c.close)
        return c

    def test_request(self):
        c = self.client(mirror=False, queue_events=False)
        with endless(EVENTS, daemonproxy.client):
            with self.assertRaisesRegex(Timeout, "no reply to 'echo x'"):
                c.request('echo', 'x')

    def test_wait_for_an_event_that_never_comes(self):
        c = self.client(mirror=False)
        with endless(EVENTS, daemonproxy.client):
            with self.assertRaisesRegex(Timeout, 'no matching event'):
                c.wait_for(lambda ev: not isinstance(ev, Signal))

    def test_wait_until(self):
        c = self.client(queue_events=False)
        with endless(EVENTS, daemonproxy.client):
            with self.assertRaisesRegex(Timeout, 'mirror condition not met'):
                c.wait_until(lambda m: 'web' in m.services)

    def test_resync_against_endless_overflow(self):
        c = self.client(queue_events=False)
        with endless(OVERFLOWS, daemonproxy.client):
            with self.assertRaises(Timeout):
                c.resync()

    def test_next_event_returns_what_came(self):
        c = self.client(mirror=False)
        with endless(EVENTS, daemonproxy.client):
            self.assertEqual(c.next_event(0), Signal('SIGHUP', 5, 1))
            self.assertEqual(len(c.events(0)), 2999)


class Async(unittest.TestCase):
    def run_client(self, body, **kw):
        a, b = readable_pair()
        self.addCleanup(b.close)

        async def main():
            c = AsyncClient(a.fileno(), a.fileno(), closer=a.close, timeout=TIMEOUT, **kw)
            async with c:
                await body(c)
        asyncio.run(main())

    def test_request(self):
        async def body(c):
            with self.assertRaisesRegex(Timeout, "no reply to 'echo x'"):
                await c.request('echo', 'x')
        with endless(EVENTS, daemonproxy.aio):
            self.run_client(body, mirror=False, queue_events=False)

    def test_wait_for_an_event_that_never_comes(self):
        async def body(c):
            with self.assertRaisesRegex(Timeout, 'no matching event'):
                await c.wait_for(lambda ev: not isinstance(ev, Signal))
        with endless(EVENTS, daemonproxy.aio):
            self.run_client(body, mirror=False)

    def test_resync_against_endless_overflow(self):
        async def body(c):
            with self.assertRaises(Timeout):
                await c.resync()
        with endless(OVERFLOWS, daemonproxy.aio):
            self.run_client(body, queue_events=False)


if __name__ == '__main__':
    unittest.main()
