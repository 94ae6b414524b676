"""The Python library (python/daemonproxy) against the real daemon:

- the three ways to connect: a control socket (and the default path from
  $DAEMONPROXY_SOCKET), a spawned `-i` child, a controller service over
  stdin/stdout written with the library; the blocking and the asyncio
  client;
- request(): reply lines before the echo marker, CommandError carrying the
  command and the daemon's message (errors quoting another command, and
  broadcast errors, stay events), warnings returned, InvalidArgument
  before anything is sent;
- events parsed into their types as they happen;
- the mirror: after a random sequence of commands (service definitions,
  starts of `sleep` and `true`, pipes that replace each other, deletes,
  kills, readiness over notify.fd and sd_notify) it renders exactly the
  lines of a fresh statedump (UPTIME/DOWNTIME masked: seconds tick), without
  having resynced; after a forced `overflow` and after a reconnect it
  resyncs by itself and is exact again;
- terminate and exit; fd.take;
- examples/backoff.conf: backoff_controller.py restarts a crashing service
  with growing delays, read from the events' timestamps.

Nothing waits with a fixed sleep: every wait is for an event, a reply or a
mirror condition, with a deadline.
"""

import asyncio
import os
import random
import socket
import subprocess
import sys
import time

from dp import DPTest, REPO, TIMEOUT, Client as RawClient, binary

sys.path.insert(0, os.path.join(REPO, 'python'))
import daemonproxy  # noqa: E402
from daemonproxy import (  # noqa: E402
    CommandError, FdState, InvalidArgument, Resynced, ServiceArgs, ServiceState, Signal,
)


def mask(lines):
    """Statedump lines with the UPTIME and DOWNTIME of service.state masked,
    and without service.exits: the exit history is in a statedump but is
    no event (docs/protocol.md, "Exit history"), so a mirror kept from
    events cannot follow it.  Without `orphan` lines too: an event, never
    part of a dump, which a reaped grandchild (a stopped group's) may put
    among the lines RawClient.resync() collects."""
    out = []
    for line in lines:
        f = line.split('\t')
        if f[0] in ('service.exits', 'orphan'):
            continue
        if f[0] == 'service.state' and len(f) == 9:
            f[7] = 'T' if f[7] != '-' else '-'
            f[8] = 'T' if f[8] != '-' else '-'
        out.append('\t'.join(f))
    return out


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def alive_and_quiet(pid):
    """pid is not dying: not a zombie, and no signal pending (a `sleep`
    sent SIGTERM a moment ago still has that comm until it runs)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            st = dict(l.split(':', 1) for l in f if ':' in l)
    except OSError:
        return False
    return (st.get('State', '').split()[:1] not in (['Z'], ['X']) and
            int(st.get('SigPnd', '0'), 16) == 0 and int(st.get('ShdPnd', '0'), 16) == 0)


def settled(mirror):
    """Every running service runs `sleep` (no `true` between its start and
    its exit, no child before its exec) and is not dying of a signal the
    test sent: nothing is about to change."""
    return all(comm(s.pid) == 'sleep' and alive_and_quiet(s.pid)
               for s in mirror.services.values() if s.running)


def kill_services(c):
    """At cleanup, also after a failure: no service outlives its test (each
    leads its own process group)."""
    if c.mirror is None:
        return
    for s in c.mirror.services.values():
        if s.running:
            try:
                os.killpg(s.pid, 9)
            except OSError:
                pass


def is_state(name, state):
    return lambda ev: isinstance(ev, ServiceState) and ev.name == name and ev.state == state


NOTIFY_PY = r'''
import os, socket, sys, time
a = os.environ['NOTIFY_SOCKET']
a = '\0' + a[1:] if a.startswith('@') else a
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(('STATUS=warming up').encode(), a)
s.sendto(('READY=1\nSTATUS=serving\nMAINPID=%d' % os.getpid()).encode(), a)
while True:
    time.sleep(1000)
'''

CONTROLLER_PY = r'''
import sys
sys.path.insert(0, sys.argv[1])
import daemonproxy
dp = daemonproxy.Client.from_stdio()
print('pyctl: this print goes to the log, not to the command stream')
dp.service_tags('pyctl', 'synced', str(len(dp.mirror.handles)))
dp.service_args('pychild', 'sleep', '1000')
dp.service_start('pychild')
for ev in dp:
    if isinstance(ev, daemonproxy.ServiceState) and ev.name == 'pychild' and ev.state == 'up':
        dp.service_tags('pyctl', 'saw-up', str(ev.pid))
    if isinstance(ev, daemonproxy.ServiceArgs) and ev.name == 'poke':
        try:
            dp.service_start('nosuch')
        except daemonproxy.CommandError as e:
            dp.service_tags('pyctl', 'error', e.message)
'''


class PyLibTest(DPTest):
    def socket_daemon(self, *args, **kw):
        p = self.path('dp.sock')
        d = self.start('-S', p, *args, interactive=False, stdin=subprocess.DEVNULL, **kw)
        return p, d

    def connect(self, path, **kw):
        c = daemonproxy.Client.connect(path, connect_timeout=TIMEOUT, timeout=TIMEOUT, **kw)
        self.on_cleanup(lambda: kill_services(c))
        self.on_cleanup(c.close)
        return c

    def spawn(self, *args, **kw):
        log = open(self.path('spawn.log'), 'w')
        self.on_cleanup(log.close)
        c = daemonproxy.Client.spawn(binary(), list(args), stderr=log, timeout=TIMEOUT, **kw)
        self.track_pid(c.process.pid)
        self.on_cleanup(lambda: kill_services(c))
        self.on_cleanup(c.close)
        return c

    def stop_services(self, c):
        """Kill every running service and wait until all are down (no
        service outlives its daemon)."""
        for s in list(c.mirror.services.values()):
            if s.triggers:
                c.service_auto_up(s.name, None)
        for s in list(c.mirror.services.values()):
            if s.running:
                try:
                    c.service_signal(s.name, 'KILL')
                except CommandError:
                    pass            # it exited meanwhile
        c.wait_until(lambda m: not any(s.running for s in m.services.values()))

    def assertMirrorExact(self, c, raw):
        """The mirror renders what a fresh statedump prints (raw: another
        connection); the client has then seen every event up to the dump."""
        fresh = raw.resync()        # a statedump, without the events raw had not read
        c.echo('sync')              # the mirror has now seen everything the dump saw
        self.assertEqual(mask(c.mirror.dump_lines()), mask(fresh))


class Connect(PyLibTest):
    def test_spawned_interactive_child(self):
        c = self.spawn()
        self.assertTrue(c.mirror.synced)
        for h in ('null', 'control.event', 'control.cmd', 'stdin', 'stdout', 'stderr'):
            self.assertIn(h, c.mirror.handles)
        self.assertEqual(c.mirror.handles['null'],
                         FdState('null', 'special', 'read,write', '/dev/null'))
        self.assertEqual(c.echo('a', '', 'b'), 'a\t\tb')
        self.assertEqual(c.log_filter(), 'debug')
        self.assertEqual(c.log_filter('+'), 'info')
        c.close()
        self.assertEqual(c.process.returncode, 0)

    def test_control_socket_and_default_path(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        self.assertEqual(c.request('echo', 'hello'), ['hello'])
        old = os.environ.get('DAEMONPROXY_SOCKET')
        os.environ['DAEMONPROXY_SOCKET'] = p
        try:
            self.assertEqual(daemonproxy.default_socket_path(), p)
            c2 = daemonproxy.Client.connect(timeout=TIMEOUT)
            self.on_cleanup(c2.close)
        finally:
            if old is None:
                del os.environ['DAEMONPROXY_SOCKET']
            else:
                os.environ['DAEMONPROXY_SOCKET'] = old
        # both are controllers: a definition from one is an event for both
        c2.service_args('x', 'true')
        for cl in (c, c2):
            ev = cl.wait_for(lambda ev: isinstance(ev, ServiceArgs))
            self.assertEqual(ev, ServiceArgs('x', ('true',)))
            self.assertEqual(cl.mirror.services['x'].args, ('true',))

    def test_controller_service_over_stdio(self):
        script = self.write_file('pyctl.py', CONTROLLER_PY)
        p, d = self.socket_daemon()
        watch = self.connect(p)
        watch.service_args('pyctl', sys.executable, script, os.path.join(REPO, 'python'))
        watch.service_fds('pyctl', 'control.event', 'control.cmd', 'stderr')
        watch.service_start('pyctl')

        def tags(first):
            return lambda ev: (isinstance(ev, daemonproxy.ServiceTags) and ev.name == 'pyctl'
                               and ev.tags[:1] == (first,))
        synced = watch.wait_for(tags('synced'))
        self.assertGreaterEqual(int(synced.tags[1]), 8)       # it saw the handles
        up = watch.wait_for(tags('saw-up'))
        self.assertEqual(int(up.tags[1]), watch.mirror.services['pychild'].pid)
        watch.service_args('poke', 'true')
        err = watch.wait_for(tags('error'))
        self.assertEqual(err.tags[1], "no such service 'nosuch'")
        d.log.expect('pyctl: this print goes to the log, not to the command stream')
        self.assertTrue(watch.mirror.services['pyctl'].running)
        self.stop_services(watch)


class Requests(PyLibTest):
    def test_replies_errors_warnings(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        raw = RawClient(p)
        self.on_cleanup(raw.close)
        self.assertEqual(c.request('echo', 'a', '', 'b'), ['a\t\tb'])
        self.assertEqual(mask(c.request('statedump')), mask(raw.cmd('statedump')))
        with self.assertRaises(CommandError) as cm:
            c.service_start('nosuch')
        self.assertEqual(cm.exception.command, ('service.start', 'nosuch'))
        self.assertEqual(cm.exception.message, "no such service 'nosuch'")
        with self.assertRaises(CommandError) as cm:
            c.request('bogus.command', 'x')
        self.assertEqual(cm.exception.message, 'Unknown command: bogus.command')
        w = c.service_fds('svc', 'null', 'nope')
        self.assertEqual(len(w), 1)
        self.assertIn("no handle named 'nope'", w[0].message)
        with self.assertRaises(CommandError) as cm:
            c.request('conn.event_timeout', '3', '2')     # the daemon's check, not ours
        self.assertEqual(cm.exception.command, ('conn.event_timeout', '3', '2'))
        # an exec failure is the reply to the start, and its states are events
        c.service_args('bad', '/nonexistent/prog')
        c.session.events.clear()
        with self.assertRaises(CommandError) as cm:
            c.service_start('bad')
        self.assertIn('exec /nonexistent/prog failed', cm.exception.message)
        states = [ev.state for ev in c.events() if isinstance(ev, ServiceState)]
        self.assertEqual(states, ['start', 'down'])
        self.assertEqual(c.mirror.services['bad'].state.exit_code, 127)
        # another controller's error is not ours; nor does it reach us
        raw.send('service.start\tnosuch2')
        self.assertEqual(c.echo('after'), 'after')

    def test_broadcast_error_during_request_is_an_event(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        # an auto-up start failing is broadcast without a command excerpt
        c.service_args('ghost', '/nonexistent/ghost')
        c.service_auto_up('ghost', 1, 'always')
        err = c.wait_for(lambda ev: isinstance(ev, daemonproxy.Error))
        self.assertIsNone(err.excerpt)
        self.assertIn('service ghost', err.message)
        c.service_auto_up('ghost', None)

    def test_invalid_arguments_never_sent(self):
        p, d = self.socket_daemon('-v')
        c = self.connect(p)
        for call in (lambda: c.service_args('no such name', 'x'),
                     lambda: c.service_args('ok', 'tab\there'),
                     lambda: c.echo('x' * 5000),
                     lambda: c.service_signal('ok', 'NOSIG'),
                     lambda: c.request('echo', 'new\nline')):
            with self.assertRaises(InvalidArgument):
                call()
        self.assertEqual(c.session.pending, 0)
        self.assertEqual(c.echo('clean'), 'clean')
        self.assertNotIn('ok', c.mirror.services)
        self.assertEqual(d.log.find('error: '), -1, d.log.text())

    def test_fd_take(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        r, w = os.pipe()
        try:
            c.fd_take('taken', w)
        finally:
            os.close(r)
            os.close(w)
        h = c.mirror.handles['taken']
        self.assertEqual((h.type, h.flags), ('special', 'write'))
        self.assertTrue(h.description.startswith('received from client'), h)


class Events(PyLibTest):
    def test_typed_events_as_they_happen(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        c.session.events.clear()
        c.service_args('job', 'sleep', '0.2')
        c.service_start('job')
        c.fd_pipe('jr', 'jw')
        down = c.wait_for(is_state('job', 'down'))
        self.assertEqual(down.exit_code, 0)
        self.assertIsNotNone(down.pid)
        self.assertEqual(c.mirror.handles['jr'], FdState('jr', 'pipe', 'from', 'jw'))
        # a signal to daemonproxy is an event with its pending count
        os.kill(d.pid, 12)      # SIGUSR2
        sig = c.wait_for(lambda ev: isinstance(ev, Signal))
        self.assertEqual((sig.signal, sig.count), ('SIGUSR2', 1))
        self.assertEqual(c.mirror.signals['SIGUSR2'].count, 1)
        c.signal_clear('USR2', 1)
        self.assertNotIn('SIGUSR2', c.mirror.signals)
        raw = RawClient(p)
        self.on_cleanup(raw.close)
        self.assertMirrorExact(c, raw)

    def test_event_order_of_a_run(self):
        c = self.spawn()
        c.session.events.clear()
        c.service_args('t', 'true')
        c.service_start('t')
        seen = []
        c.wait_for(lambda ev: seen.append(ev) or is_state('t', 'down')(ev))
        self.assertEqual([type(ev) for ev in seen], [ServiceArgs] + [ServiceState] * 3)
        self.assertEqual([ev.state for ev in seen[1:]], ['start', 'up', 'down'])
        self.assertEqual(seen[2].pid, seen[3].pid)
        self.assertEqual(c.mirror.services['t'].state, seen[3])


class MirrorExact(PyLibTest):
    NAMES = ['s%d' % i for i in range(8)]
    HANDLES = ['h%d' % i for i in range(8)]

    def random_step(self, c, rnd):
        svc, h1, h2 = rnd.choice(self.NAMES), rnd.choice(self.HANDLES), rnd.choice(self.HANDLES)
        op = rnd.randrange(15)
        if op == 0:
            c.service_args(svc, 'sleep', str(rnd.choice((1000, 2000))))
        elif op == 1:
            c.service_args(svc, 'true')
        elif op == 2:
            c.service_fds(svc, *rnd.sample(['null', 'stderr', '-', h1], rnd.randrange(4)))
        elif op == 3:
            c.service_tags(svc, *rnd.sample(['a', 'b c', '', 'd=1'], rnd.randrange(4)))
        elif op == 4:
            c.service_auto_up(svc, rnd.choice((None, 3, 7)),
                              *rnd.sample(['SIGUSR2', 'SIGQUIT'], rnd.randrange(3)))
        elif op == 5:
            c.service_env(svc, *rnd.sample(['A=1', '-B', 'C=x=y'], rnd.randrange(4)))
        elif op == 6:
            c.service_opts(svc, *rnd.sample(['notify', 'listen-fds', 'fdstore=2'],
                                            rnd.randrange(4)))
        elif op in (7, 8):
            c.service_start(svc)
        elif op == 9:
            c.service_start(svc, int(time.monotonic()) + 5000)
        elif op == 10:
            if h1 != h2:
                c.fd_pipe(h1, h2, rnd.choice((None, 'nonblock', 'unix,dgram')))
        elif op == 11:
            c.fd_open(h1, rnd.choice(('read', 'write', 'read,write')), '/dev/null')
        elif op == 12:
            c.fd_delete(h1)
        elif op == 13:
            c.service_delete(svc)
        else:
            c.service_signal(svc, rnd.choice(('KILL', 'TERM')))

    def test_random_commands(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        raw = RawClient(p)
        self.on_cleanup(raw.close)
        rnd = random.Random(int(os.environ.get('DP_SEED', '1234')))
        errors = 0
        for i in range(400):
            try:
                self.random_step(c, rnd)
            except CommandError:
                errors += 1         # running, no such service, no args...
            if i % 50 == 49:
                c.wait_until(settled)
                self.assertMirrorExact(c, raw)
        self.assertGreater(errors, 0)
        c.wait_until(settled)
        self.assertMirrorExact(c, raw)
        self.assertEqual(c.mirror.generation, 1, 'the mirror never needed a resync')
        self.assertTrue(any('?' == h.description for h in c.mirror.handles.values()),
                        'some pipe lost its peer')
        self.stop_services(c)
        self.assertMirrorExact(c, raw)

    def test_readiness(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        raw = RawClient(p)
        self.on_cleanup(raw.close)
        script = self.write_file('notify.py', NOTIFY_PY)
        c.service_args('sd', sys.executable, script)
        c.service_opts('sd', 'notify')
        c.service_fds('sd', 'null', 'stderr', 'stderr')
        c.service_args('s6', 'sh', '-c', 'echo >&3; exec sleep 1000')
        c.service_fds('s6', 'null', 'stderr', 'stderr', 'notify.fd')
        c.service_start('sd')
        c.service_start('s6')
        c.wait_until(lambda m: m.services['sd'].ready and m.services['s6'].ready)
        sd = c.mirror.services['sd']
        self.assertEqual((sd.status, sd.mainpid), ('serving', sd.pid))
        lines = c.mirror.services['sd'].dump_lines()
        self.assertEqual(lines[-1], 'service.notify\tsd\t%d\t%d\tREADY=1\tSTATUS=serving\t'
                         'MAINPID=%d' % (sd.notify_ts, sd.pid, sd.pid))
        self.assertMirrorExact(c, raw)
        # the replay after a resync gives the same readiness
        c.resync()
        self.assertTrue(c.mirror.services['sd'].ready)
        self.assertEqual(c.mirror.services['sd'].status, 'serving')
        c.service_signal('sd', 'KILL')
        c.wait_until(lambda m: not m.services['sd'].running)
        self.assertFalse(c.mirror.services['sd'].ready)
        self.assertIsNone(c.mirror.services['sd'].status)
        self.assertMirrorExact(c, raw)
        self.stop_services(c)

    def test_resync_after_overflow(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        # the noise maker reads while it writes (the library does), so only c overflows
        other = self.connect(p, mirror=False, queue_events=False)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.conn_event_timeout(0, 60)         # overflowed at once when stuck
        c.service_args('doomed', 'true')
        c.fd_pipe('or', 'ow')
        c.session.events.clear()
        # c does not read while another controller makes lots of events
        for i in range(300):
            other.send('service.tags', 'noisy', 'x' * 3000)
        other.service_delete('doomed')
        other.fd_delete('or')
        other.service_args('later', 'true')
        # now c reads: overflow, then the automatic resync
        c.wait_for(lambda ev: isinstance(ev, daemonproxy.Overflow))
        self.assertFalse(c.mirror.synced)
        c.wait_for(lambda ev: isinstance(ev, Resynced))
        self.assertTrue(c.mirror.synced)
        self.assertGreaterEqual(c.mirror.generation, 2)
        self.assertNotIn('doomed', c.mirror.services)
        self.assertIn('later', c.mirror.services)
        self.assertEqual(c.mirror.handles['ow'].description, '?')
        c.conn_event_timeout(15, 30)
        raw = RawClient(p)
        self.on_cleanup(raw.close)
        self.assertMirrorExact(c, raw)

    def test_resync_after_reconnect(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        other = RawClient(p)
        self.on_cleanup(other.close)
        c.service_args('before', 'true')
        c.send('exit')                      # the daemon closes this connection
        with self.assertRaises(daemonproxy.ConnectionClosed):
            while True:                     # read up to the end
                c.next_event(TIMEOUT)
        other.cmd('service.args\twhile_away\ttrue', 'service.delete\tbefore')
        c.auto_reconnect = True             # the next read reconnects and resyncs
        ev = c.wait_for(lambda ev: isinstance(ev, Resynced))
        self.assertEqual(ev.generation, 2)
        self.assertIn('while_away', c.mirror.services)
        self.assertNotIn('before', c.mirror.services)
        self.assertMirrorExact(c, other)


class Termination(PyLibTest):
    def test_terminate_with_guard(self):
        c = self.spawn()
        c.terminate_guard('+', 5)
        with self.assertRaises(CommandError) as cm:
            c.terminate(0)
        self.assertIn('guard code', cm.exception.message)
        with self.assertRaises(CommandError) as cm:
            c.terminate(0, 6)
        self.assertIn('incorrect', cm.exception.message)
        c.terminate_guard('-', 5)
        c.terminate(7)                      # returns once the daemon is gone
        self.assertTrue(c.closed)
        self.assertEqual(c.process.wait(TIMEOUT), 7)

    def test_exit(self):
        p, d = self.socket_daemon()
        c = self.connect(p)
        c.exit()
        self.assertTrue(c.closed)
        with self.assertRaises(daemonproxy.ConnectionClosed):
            c.echo('x')
        self.assertTrue(d.alive())


class Asyncio(PyLibTest):
    def test_async_socket_client(self):
        p, d = self.socket_daemon()

        async def main():
            c = await daemonproxy.AsyncClient.connect(p, connect_timeout=TIMEOUT,
                                                      timeout=TIMEOUT)
            async with c:
                self.assertTrue(c.mirror.synced)
                got = await asyncio.gather(*[c.echo('e%d' % i) for i in range(50)])
                self.assertEqual(got, ['e%d' % i for i in range(50)])
                with self.assertRaises(CommandError):
                    await c.service_start('nosuch')
                await c.service_args('aj', 'sleep', '0.1')
                await c.service_start('aj')
                down = await c.wait_for(is_state('aj', 'down'))
                self.assertEqual(down.exit_code, 0)
                await c.send('exit')
                rest = [ev async for ev in c]
                self.assertFalse(any(isinstance(ev, daemonproxy.Error) for ev in rest), rest)
            return c
        c = asyncio.run(main())
        self.assertTrue(c.closed)

    def test_async_spawn(self):
        async def main():
            log = open(self.path('a.log'), 'w')
            c = await daemonproxy.AsyncClient.spawn(binary(), stderr=log, timeout=TIMEOUT)
            self.track_pid(c.process.pid)
            try:
                self.assertIn('null', c.mirror.handles)
                self.assertEqual(await c.log_filter(), 'debug')
                dump = await c.statedump()
                self.assertTrue(all(isinstance(ev, FdState) for ev in dump))
                await c.exit()
                self.assertTrue(c.closed)
            finally:
                await c.close()
                log.close()
            return c.process.returncode
        self.assertEqual(asyncio.run(main()), 0)


class BackoffExample(PyLibTest):
    def test_backoff_controller_restarts_with_growing_delays(self):
        env = dict(os.environ, BACKOFF_BASE='1', BACKOFF_MAX='4', BACKOFF_RESET='30')
        c = self.spawn('-c', os.path.join('examples', 'backoff.conf'), cwd=REPO, env=env)
        downs, gaps = {}, []
        deadline = time.monotonic() + 30 + 3 * TIMEOUT
        last_down = None
        while len(gaps) < 4:
            ev = c.next_event(max(0.1, deadline - time.monotonic()))
            self.assertIsNotNone(ev, 'no restart within the deadline; gaps so far %r' % gaps)
            if not isinstance(ev, ServiceState) or ev.name != 'flaky':
                continue
            if ev.state == 'down' and ev.ts is not None:
                last_down = ev.ts
                downs[ev.ts] = ev
            elif ev.state == 'start' and last_down is not None:
                gaps.append(ev.ts - last_down)      # the start the controller asked for
                last_down = None
        # 1, 2, 4, then capped at 4 (a slow controller can only add)
        for got, least in zip(gaps, (1, 2, 4, 4)):
            self.assertGreaterEqual(got, least, gaps)
        self.assertEqual(gaps, sorted(gaps), gaps)
        self.assertGreater(gaps[2], gaps[0], gaps)
        self.assertLessEqual(gaps[3], 4 + 2, gaps)
        self.assertTrue(c.mirror.services['controller'].running)
        self.stop_services(c)
