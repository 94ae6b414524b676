"""The Python library's desired-state and controller-addressing API
against the real daemon (docs/protocol.md, "Desired state"):

- stop(name, timeout): want down, SIGTERM, SIGKILL after the timeout,
  returns the down state; the stop sticks (a start is refused, auto-up
  does not undo it) until want(name, 'up'); blocking and asyncio;
- the mirror's want fields from events and from a statedump, exactly what
  a fresh statedump prints;
- start_in(name, seconds): a duration, turned into the daemon's TS;
- ctl_request(): no controller serves the verb -> CommandError; with a
  daemon that knows ctl.serve, a served request answered info then ok.

Every wait is for an event or a mirror condition, with a deadline.
"""

import asyncio
import os
import sys

import threading

from dp import REPO, TIMEOUT, Client as RawClient, binary
from test_pylib import PyLibTest

sys.path.insert(0, os.path.join(REPO, 'python'))
import daemonproxy  # noqa: E402
from daemonproxy import (  # noqa: E402
    CommandError, ControllerError, CtlReply, CtlRequest, ServiceWant,
)

# Ready (a line on fd 3, notify.fd) once SIGTERM is ignored.
IGNORES_TERM = 'trap "" TERM; echo >&3; while :; do sleep 0.1; done'
FDS = ('null', 'null', 'stderr', 'notify.fd')


class Stop(PyLibTest):
    def test_stop_sticks_until_wanted_up(self):
        p, _ = self.socket_daemon()
        c = self.connect(p)
        raw = RawClient(p)
        self.on_cleanup(raw.close)
        c.service_args('web', 'sleep', '1000')
        c.service_auto_up('web', 1, 'always')
        c.service_args('stubborn', 'sh', '-c', IGNORES_TERM)
        c.service_fds('stubborn', *FDS)
        c.service_start('stubborn')
        c.wait_until(lambda m: m.service('web').running and m.service('stubborn').ready)
        pid = c.mirror.service('web').pid

        st = c.stop('web', TIMEOUT, why='maintenance')
        self.assertEqual((st.state, st.pid, st.reason, st.value), ('down', pid, 'signal',
                                                                   'SIGTERM'))
        web = c.mirror.service('web')
        by = 'uid=%d' % os.getuid()
        self.assertEqual((web.want, web.want_by, web.want_why), ('down', by, 'maintenance'))
        self.assertEqual(web.triggers, ('always',), 'the auto-up rule is kept, only gated')
        with self.assertRaises(CommandError) as cm:
            c.service_start('web')
        self.assertIn('wanted down by %s (maintenance)' % by, cm.exception.message)

        st = c.stop('stubborn', 0.5)
        self.assertEqual((st.state, st.reason, st.value), ('down', 'signal', 'SIGKILL'))
        self.assertEqual(c.stop('stubborn', 0.5).state, 'down', 'stopping a stopped one is fine')

        self.assertMirrorExact(c, raw)      # the want lines too, never resynced
        self.assertEqual(c.mirror.generation, 1)

        c.want('web', 'up', 'done')
        c.wait_until(lambda m: m.service('web').running)
        self.assertEqual(c.mirror.service('web').want, 'up')
        c.want('web', None)
        self.assertIsNone(c.mirror.service('web').want)
        self.assertIsNone(c.mirror.service('web').want_by)

    def test_want_events_are_typed(self):
        c = self.spawn()
        c.service_args('a', 'true')
        c.want('a', 'down', 'x')
        ev = c.wait_for(lambda ev: isinstance(ev, ServiceWant))
        self.assertEqual((ev.name, ev.want, ev.by, ev.why), ('a', 'down', 'stdin', 'x'))
        c.want('a', 'failed')
        ev = c.wait_for(lambda ev: isinstance(ev, ServiceWant))
        self.assertEqual((ev.want, ev.why, ev.held), ('failed', '', True))

    def test_async_stop_and_start_in(self):
        async def run():
            log = open(self.path('spawn.log'), 'w')
            self.on_cleanup(log.close)
            c = await daemonproxy.AsyncClient.spawn(binary(), stderr=log, timeout=TIMEOUT)
            self.track_pid(c.process.pid)
            try:
                await c.service_args('s', 'sh', '-c', IGNORES_TERM)
                await c.service_fds('s', *FDS)
                await c.service_start('s')
                await c.wait_until(lambda m: m.service('s').ready)
                st = await c.stop('s', 0.5, why='async')
                self.assertEqual((st.state, st.value), ('down', 'SIGKILL'))
                self.assertEqual(c.mirror.service('s').want_why, 'async')
                await c.want('s', None)
                down_ts = st.ts
                await c.start_in('s', 2.5)
                pending = c.mirror.service('s').state
                self.assertEqual(pending.state, 'start')
                self.assertGreaterEqual(pending.ts, down_ts + 2, 'TS from a duration')
                await c.wait_until(lambda m: m.service('s').running, TIMEOUT + 4)
                self.assertGreaterEqual(c.mirror.service('s').state.ts, pending.ts)
                await c.stop('s', 0.5)
            finally:
                await c.close()
        asyncio.run(run())


class Requests(PyLibTest):
    def test_no_controller_serves_the_verb(self):
        c = self.spawn()
        with self.assertRaises(CommandError) as cm:
            c.ctl_request('reload')
        self.assertNotIsInstance(cm.exception, ControllerError)

    def test_a_served_request_round_trip(self):
        p, _ = self.socket_daemon()
        server = self.connect(p)
        try:
            server.ctl_serve('ping')
        except CommandError as e:
            self.skipTest('this daemon has no ctl.serve yet: %s' % e.message)
        asker = self.connect(p)
        got = []

        def serve():
            ev = server.wait_for(lambda ev: isinstance(ev, CtlRequest))
            got.append(ev)
            server.ctl_reply(ev.id, 'info', 'working')
            server.ctl_reply(ev.id, 'ok', 'pong', *ev.args)
        # The asker's request waits for the server's replies, which the
        # server sends once it has read the request: one thread answers.
        t = threading.Thread(target=serve)
        t.start()
        try:
            replies = asker.ctl_request('ping', 'a')
        finally:
            t.join(TIMEOUT)
        self.assertEqual(got[0].verb, 'ping')
        self.assertEqual(got[0].args, ('a',))
        self.assertEqual(replies, [CtlReply(got[0].id, 'info', 'working'),
                                   CtlReply(got[0].id, 'ok', 'pong\ta')])
        self.assertFalse(any(isinstance(ev, CtlReply) for ev in asker.events()),
                         "the replies were the call's, not events")

        # refused, then the server goes away with a request pending
        def refuse_then_go():
            ev = server.wait_for(lambda ev: isinstance(ev, CtlRequest))
            server.ctl_reply(ev.id, 'error', 'not now')
            server.wait_for(lambda ev: isinstance(ev, CtlRequest))
            server.close()
        t = threading.Thread(target=refuse_then_go)
        t.start()
        try:
            with self.assertRaises(ControllerError) as cm:
                asker.ctl_request('ping')
            self.assertEqual(cm.exception.message, 'not now')
            with self.assertRaises(ControllerError) as cm:
                asker.ctl_request('ping')
            self.assertEqual(cm.exception.message, 'controller gone')
        finally:
            t.join(TIMEOUT)
