"""client.py and aio.py against a scripted daemon on a socketpair or a
unix socket (no daemonproxy needed): requests, errors, events, timeouts,
end of file, reconnect."""

import asyncio
import os
import socket
import tempfile
import threading
import unittest

import _path
import daemonproxy
from daemonproxy import (
    AsyncClient, Client, CommandError, ConnectionClosed, ProtocolError, ServiceState,
)

_path.check()

DUMP = ['fd.state\tnull\tspecial\tread,write\t/dev/null',
        'service.state\ta\tdown\t-\t-\t-\t-\t-\t-', 'service.tags\ta\t',
        'service.args\ta\ttrue', 'service.fds\ta\tnull\tnull\tnull', 'service.auto_up\ta\t-']
WAIT = 10.0


class FakeDaemon(threading.Thread):
    """Answers like daemonproxy: echo, statedump, an error for
    service.start of 'nosuch'; 'hang' stops all answers; 'bye' closes;
    service.args broadcasts its event; 'long' and 'junk' answer what
    daemonproxy never sends."""

    def __init__(self, sock, dump=DUMP):
        super().__init__(daemon=True)
        self.sock = sock
        self.dump = dump
        self.received = []
        self.start()

    def run(self):
        buf = b''
        hung = False
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                *lines, buf = buf.split(b'\n')
                out = []
                for raw in lines:
                    f = raw.decode().split('\t')
                    self.received.append(f)
                    if hung:
                        continue
                    if f[0] == 'echo':
                        out.append('\t'.join(f[1:]))
                    elif f[0] == 'statedump':
                        out.extend(self.dump)
                    elif f[0] == 'service.start' and f[1] == 'nosuch':
                        out.append('error\tno such service \'nosuch\', for command '
                                   '"service.start\tnosuch"')
                    elif f[0] == 'service.args':
                        out.append('\t'.join(f))
                    elif f[0] == 'emit':
                        out.append('\t'.join(f[1:]))
                    elif f[0] == 'hang':
                        hung = True
                    elif f[0] == 'long':
                        out.append('z' * 9000)
                    elif f[0] == 'junk':
                        out.append('\x01junk')
                    elif f[0] == 'bye':
                        self.sock.sendall(''.join(l + '\n' for l in out).encode())
                        self.sock.shutdown(socket.SHUT_RDWR)
                        return
                if out:
                    self.sock.sendall(''.join(l + '\n' for l in out).encode())
        except OSError:
            pass
        finally:
            self.sock.close()


def pair():
    a, b = socket.socketpair()
    return a, FakeDaemon(b)


class Blocking(unittest.TestCase):
    def client(self, **kw):
        a, fake = pair()
        c = Client(a.fileno(), a.fileno(), closer=a.close, timeout=WAIT, **kw)
        self.addCleanup(c.close)
        return c, fake

    def test_request_and_events(self):
        c, fake = self.client()
        c.resync()
        self.assertEqual(c.mirror.dump_lines(), DUMP)
        self.assertEqual(c.echo('hi', 'there'), 'hi\tthere')
        self.assertEqual(c.request('emit', 'signal', 'SIGHUP', '5', '1'), [])
        self.assertEqual(c.next_event(WAIT), daemonproxy.Resynced(1))
        self.assertEqual(c.next_event(WAIT), daemonproxy.Signal('SIGHUP', 5, 1))
        self.assertIsNone(c.next_event(0.01))
        self.assertEqual(c.mirror.signals['SIGHUP'].count, 1)

    def test_command_error(self):
        c, fake = self.client()
        with self.assertRaises(CommandError) as cm:
            c.service_start('nosuch')
        self.assertEqual(cm.exception.message, "no such service 'nosuch'")
        self.assertEqual(cm.exception.command, ('service.start', 'nosuch'))
        self.assertEqual(c.echo('still fine'), 'still fine')

    def test_wait_for_and_mirror(self):
        c, fake = self.client()
        c.send('emit', 'service.state', 'b', 'up', '3', '99', '-', '-', '0', '-')
        ev = c.wait_for(lambda e: isinstance(e, ServiceState) and e.state == 'up', WAIT)
        self.assertEqual(ev.pid, 99)
        c.send('emit', 'service.state', 'b', 'down', '4', '99', 'exit', '0', '1', '0')
        c.wait_until(lambda m: m.services['b'].state.state == 'down', WAIT)

    def test_send_many_in_one_write(self):
        c, fake = self.client(mirror=False)
        writes = []
        real = daemonproxy.client.write_some

        def counting(fd, buf):
            writes.append(len(buf))
            return real(fd, buf)
        daemonproxy.client.write_some = counting
        try:
            c.send_many([('emit', 'one'), ('emit', 'two'), ('emit', 'three')])
        finally:
            daemonproxy.client.write_some = real
        self.assertEqual(len(writes), 1, writes)
        self.assertEqual([c.next_event(WAIT).to_line() for _ in range(3)], ['one', 'two', 'three'])
        with self.assertRaises(daemonproxy.InvalidArgument):
            c.send_many([('emit', 'four'), ('emit', 'bad\nline')])
        self.assertEqual(c.echo('x'), 'x')
        self.assertNotIn(['emit', 'four'], fake.received)     # all or none

    def test_timeout(self):
        c, fake = self.client()
        c.send('hang')
        with self.assertRaises(daemonproxy.Timeout):
            c.request('echo', 'x', timeout=0.2)
        with self.assertRaises(TimeoutError):
            c.wait_for(lambda e: True, 0.05)

    def test_end_of_file(self):
        c, fake = self.client()
        c.send('emit', 'hello')
        c.send('bye')
        self.assertEqual([e.to_line() for e in c], ['hello'])
        self.assertTrue(c.closed)
        with self.assertRaises(ConnectionClosed):
            c.next_event(WAIT)
        with self.assertRaises(ConnectionClosed):
            c.echo('x')

    def test_not_daemonproxy_closes_and_says_so(self):
        for what in ('long', 'junk'):
            with self.subTest(what=what):
                c, fake = self.client()
                with self.assertRaisesRegex(ProtocolError, "not speaking daemonproxy's protocol"):
                    c.request(what)
                self.assertTrue(c.closed)
                fake.join(WAIT)                 # it saw the end of the connection
                self.assertFalse(fake.is_alive())
                for call in (lambda: c.echo('x'), lambda: c.next_event(WAIT), lambda: list(c)):
                    with self.assertRaises(ProtocolError):
                        call()

    def test_big_batch_does_not_deadlock(self):
        # more than the socket buffers hold, answered while we still write
        c, fake = self.client(mirror=False)
        payload = 'y' * 3000
        reqs = [c.session.request(['echo', payload]) for _ in range(400)]
        for r in reqs:
            c._wait(r, WAIT)
        self.assertEqual(reqs[-1].reply, [payload])

    def test_unix_socket_and_reconnect(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, 'dp.sock')
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        fakes = []

        def serve():
            for _ in range(2):
                conn, _ = srv.accept()
                fakes.append(FakeDaemon(conn))
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(srv.close)
        c = Client.connect(path, timeout=WAIT, auto_reconnect=True)
        self.addCleanup(c.close)
        self.assertTrue(c.mirror.synced)
        self.assertEqual(c.path, path)
        c.send('bye')
        # the next read sees the end, reconnects and resyncs
        c.wait_until(lambda m: m.generation == 2, WAIT)
        self.assertEqual(c.echo('again'), 'again')
        os.environ['DAEMONPROXY_SOCKET'] = path
        try:
            self.assertEqual(daemonproxy.default_socket_path(), path)
        finally:
            del os.environ['DAEMONPROXY_SOCKET']


class Async(unittest.TestCase):
    def test_basics(self):
        async def main():
            a, fake = pair()
            c = AsyncClient(a.fileno(), a.fileno(), closer=a.close, timeout=WAIT)
            async with c:
                await c.resync()
                self.assertEqual(c.mirror.dump_lines(), DUMP)
                got = await asyncio.gather(*[c.echo(str(i)) for i in range(20)])
                self.assertEqual(got, [str(i) for i in range(20)])
                with self.assertRaises(CommandError):
                    await c.service_start('nosuch')
                with self.assertRaises(ValueError):
                    c.service_start('bad name')   # raises at the call, before awaiting
                await c.service_args('z', 'true')
                ev = await c.wait_for(lambda e: isinstance(e, daemonproxy.ServiceArgs), WAIT)
                self.assertEqual(ev.args, ('true',))
                await c.send_many([('emit', 'many1'), ('emit', 'many2')])
                self.assertEqual([(await c.next_event(WAIT)).to_line() for _ in range(2)],
                                 ['many1', 'many2'])
                await c.send('emit', 'last')
                await c.send('bye')
                rest = [e.to_line() async for e in c]
                self.assertEqual(rest, ['last'])
            self.assertTrue(c.closed)
        asyncio.run(main())

    def test_timeout(self):
        async def main():
            a, fake = pair()
            c = AsyncClient(a.fileno(), a.fileno(), closer=a.close, timeout=WAIT)
            await c.send('hang')
            with self.assertRaises(daemonproxy.Timeout):
                await c.request('echo', 'x', timeout=0.2)
            self.assertIsNone(await c.next_event(0.05))
            await c.close()
        asyncio.run(main())

    def test_not_daemonproxy_closes_and_says_so(self):
        async def main():
            for what in ('long', 'junk'):
                a, fake = pair()
                c = AsyncClient(a.fileno(), a.fileno(), closer=a.close, timeout=WAIT)
                first = asyncio.ensure_future(c.echo('first'))
                await asyncio.sleep(0)              # sent first: its reply comes first
                with self.assertRaisesRegex(ProtocolError, "not speaking daemonproxy's protocol"):
                    await c.request(what)
                self.assertEqual(await first, 'first')
                self.assertTrue(c.closed)
                with self.assertRaises(ProtocolError):
                    await c.echo('x')
                with self.assertRaises(ProtocolError):
                    await c.next_event(WAIT)
                await c.close()
                fake.join(WAIT)
                self.assertFalse(fake.is_alive())
        asyncio.run(main())


if __name__ == '__main__':
    unittest.main()
