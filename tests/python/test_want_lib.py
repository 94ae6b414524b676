"""The library's side of docs/protocol.md "Desired state" and of the
controller-addressing commands (ctl.serve, ctl.request, ctl.reply):
their events parsed and written back, the mirror's want fields, the
command methods' fields, and a ctl.request call answered by replies
that are the call's, not events.  In process: a scripted daemon talks to
a Session."""

import unittest

import _path
from daemonproxy import (
    CommandError, ConnectionClosed, ControllerError, CtlReply, CtlRequest, CtlRequestId, Mirror,
    RawEvent, ReplyLost, ServiceState, ServiceWant, parse_event,
)
from daemonproxy.commands import ctl_request_fields, start_ts_in
from daemonproxy.errors import InvalidArgument
from test_commands import Fake
from test_session import Script

_path.check()


class Parse(unittest.TestCase):
    def test_want_event(self):
        for line, ev in [
                ('service.want\tweb\tdown\tuid=1000\t120\tmaintenance',
                 ServiceWant('web', 'down', 'uid=1000', 120, 'maintenance')),
                ('service.want\tweb\tfailed\tcontroller\t7\t5 failures\tin 60s',
                 ServiceWant('web', 'failed', 'controller', 7, '5 failures\tin 60s')),
                ('service.want\tweb\tup\tstdin\t9\t', ServiceWant('web', 'up', 'stdin', 9, '')),
                ('service.want\tweb\t-\tuid=0\t9\t', ServiceWant('web', None, 'uid=0', 9, ''))]:
            self.assertEqual(parse_event(line), ev)
            self.assertEqual(ev.to_line(), line)
        self.assertTrue(parse_event('service.want\tw\tfailed\tcontroller\t1\t').held)
        self.assertFalse(parse_event('service.want\tw\tup\tcontroller\t1\t').held)
        for bad in ('service.want\tweb\tdown\tuid=0\t12', 'service.want\tweb\tmaybe\tx\t1\t',
                    'service.want\tweb\tup\tx\tsoon\t'):
            self.assertIsInstance(parse_event(bad), RawEvent, bad)

    def test_ctl_lines(self):
        for line, ev in [
                ('ctl.request\t12\tuid=0\treload', CtlRequest(12, 'uid=0', 'reload')),
                ('ctl.request\t3\tstdin\tshutdown\t7', CtlRequest(3, 'stdin', 'shutdown', ('7',))),
                ('ctl.request\t12\treload', CtlRequestId(12, 'reload')),
                ('ctl.reply\t12\tok\treloaded f: 1 changed', CtlReply(12, 'ok',
                                                                   'reloaded f: 1 changed')),
                ('ctl.reply\t12\tinfo', CtlReply(12, 'info')),
                ('ctl.reply\t12\terror\tf:3: bad\tf:4: worse',
                 CtlReply(12, 'error', 'f:3: bad\tf:4: worse'))]:
            self.assertEqual(parse_event(line), ev)
            self.assertEqual(ev.to_line(), line)
        self.assertTrue(CtlReply(1, 'ok').final)
        self.assertTrue(CtlReply(1, 'error').final)
        self.assertFalse(CtlReply(1, 'info').final)
        for bad in ('ctl.request\tx\treload', 'ctl.request\t1', 'ctl.reply\t1\tmaybe\tx',
                    'ctl.reply\t-1\tok\tx', 'ctl.reply\t1'):
            self.assertIsInstance(parse_event(bad), RawEvent, bad)


DUMP = ['service.state\tweb\tdown\t10\t99\texit\t1\t3\t2', 'service.tags\tweb\t',
        'service.args\tweb\tsleep\t9', 'service.fds\tweb\tnull\tnull\tnull',
        'service.auto_up\tweb\t-', 'service.want\tweb\tdown\tuid=0\t11\tgo\taway']


class MirrorWant(unittest.TestCase):
    def test_from_a_dump_and_back(self):
        for fast in (True, False):
            m = Mirror()
            m.begin_rebuild()
            for line in DUMP:
                if fast:
                    self.assertTrue(m.apply_fields(line.split('\t')), line)
                else:
                    m.apply(parse_event(line))
            m.end_rebuild()
            s = m.service('web')
            self.assertEqual((s.want, s.want_by, s.want_since, s.want_why),
                             ('down', 'uid=0', 11, 'go\taway'))
            self.assertTrue(s.held)
            self.assertEqual(m.dump_lines(), DUMP)

    def test_events_set_and_clear(self):
        m = Mirror()
        m.apply(ServiceState('web', 'down'))
        m.apply(ServiceWant('nosuch', 'down', 'uid=0', 1))
        self.assertIsNone(m.service('nosuch'), 'a want never creates a service')
        m.apply(ServiceWant('web', 'failed', 'controller', 5, 'limit'))
        s = m.service('web')
        self.assertEqual((s.want, s.want_by, s.want_since, s.want_why),
                         ('failed', 'controller', 5, 'limit'))
        m.apply(ServiceWant('web', 'up', 'uid=1000', 6))
        self.assertEqual((s.want, s.want_by, s.held), ('up', 'uid=1000', False))
        m.apply(ServiceWant('web', None, 'uid=1000', 7))
        self.assertEqual((s.want, s.want_by, s.want_since, s.want_why),
                         (None, None, None, None))
        self.assertFalse(any(l.startswith('service.want') for l in m.dump_lines()))

    def test_a_session_dump_rebuilds_the_want(self):
        sc = Script()
        req = sc.s.request(['statedump'])
        marker = sc.markers(sc.sent())[0]
        sc.feed(*DUMP + [marker])
        req.result()
        self.assertEqual(sc.mirror.service('web').want, 'down')
        self.assertEqual([e for e in sc.events() if isinstance(e, ServiceWant)], [],
                         'a dump line is the reply, not an event')


class Commands(unittest.TestCase):
    def test_fields(self):
        c = Fake()
        c.want('web', 'down', 'maintenance window')
        c.want('web', 'up')
        c.want('web', None)
        c.want('web', '-')
        c.want('web', 'failed', 'x' * 255)
        c.ctl_serve('reload', 'shutdown')
        c.ctl_serve()
        c.ctl_reply(12, 'ok', 'reloaded', 'f')
        c.ctl_reply(12, 'info')
        self.assertEqual([s for s, _ in c.sent], [
            'service.want\tweb\tdown\tmaintenance window', 'service.want\tweb\tup',
            'service.want\tweb\t-', 'service.want\tweb\t-',
            'service.want\tweb\tfailed\t' + 'x' * 255,
            'ctl.serve\treload\tshutdown', 'ctl.serve', 'ctl.reply\t12\tok\treloaded\tf',
            'ctl.reply\t12\tinfo'])
        self.assertEqual(ctl_request_fields('shutdown', ['3']), ['ctl.request', 'shutdown', '3'])

    def test_refused_before_sending(self):
        c = Fake()
        for call in (lambda: c.want('web', 'sideways'), lambda: c.want('web', 'down', 'a\tb'),
                     lambda: c.want('web', 'down', 'x' * 256), lambda: c.want('w b', 'up'),
                     lambda: c.ctl_serve('Reload'), lambda: c.ctl_serve('x' * 33),
                     lambda: c.ctl_reply(1, 'done'), lambda: c.ctl_reply(-1, 'ok'),
                     lambda: ctl_request_fields('re load', []),
                     lambda: c.start_in('web', float('nan')), lambda: c.start_in('web', 'soon'),
                     lambda: c.start_in('web', True)):
            self.assertRaises(InvalidArgument, call)
        self.assertEqual(c.sent, [])

    def test_start_in_is_a_duration(self):
        self.assertEqual(start_ts_in(2.5, now=100.2), 103, 'rounded up: never early')
        self.assertEqual(start_ts_in(1, now=100.0), 101)
        self.assertIsNone(start_ts_in(0, now=100.0), 'now')
        self.assertIsNone(start_ts_in(-3, now=100.0))
        c = Fake()
        c.start_in('web', 0)
        c.start_in('web', 30)
        self.assertEqual(c.sent[0][0], 'service.start\tweb')
        self.assertRegex(c.sent[1][0], r'^service\.start\tweb\t\d+$')


class Calls(unittest.TestCase):
    """A ctl.request: the daemon's reply names the ID, the controller's
    ctl.reply lines answer it (before or after our marker)."""

    def ask(self, sc, verb='reload'):
        req = sc.s.request(ctl_request_fields(verb, []))
        marker = sc.markers(sc.sent())[0]
        return req, marker

    def test_info_then_ok(self):
        sc = Script()
        req, marker = self.ask(sc)
        # a reply may come before the marker: it is the call's already
        sc.feed('ctl.request\t7\treload', 'ctl.reply\t7\tinfo\treading f', marker,
                'service.state\tx\tdown\t-\t-\t-\t-\t-\t-', 'ctl.reply\t8\tok\tnot ours',
                'ctl.reply\t7\tok\treloaded f: 0 changed, 0 added, 0 removed')
        self.assertEqual(req.result(), ['ctl.request\t7\treload'])
        call = req.call
        self.assertTrue(call.done)
        call.result()
        self.assertEqual(call.events, [
            CtlReply(7, 'info', 'reading f'),
            CtlReply(7, 'ok', 'reloaded f: 0 changed, 0 added, 0 removed')])
        self.assertEqual([type(e).__name__ for e in sc.events()], ['ServiceState', 'CtlReply'],
                         "the call's replies are not events; another ID's is")

    def test_error_raises_controller_error(self):
        sc = Script()
        req, marker = self.ask(sc)
        sc.feed('ctl.request\t3\treload', marker, 'ctl.reply\t3\tinfo\tf:1: bad',
                'ctl.reply\t3\terror\tf: 1 problem')
        with self.assertRaises(ControllerError) as cm:
            req.call.result()
        self.assertIsInstance(cm.exception, CommandError)
        self.assertEqual(cm.exception.message, 'f: 1 problem')
        self.assertEqual(cm.exception.command, ('ctl.request', 'reload'))
        self.assertEqual([r.status for r in cm.exception.replies], ['info', 'error'])

    def test_no_controller_is_the_commands_error(self):
        sc = Script()
        req, marker = self.ask(sc)
        sc.feed('error\tno controller serves \'reload\', for command "ctl.request\treload"', marker)
        self.assertRaises(CommandError, req.result)
        self.assertIsNone(req.call)

    def test_served_requests_are_events(self):
        sc = Script()
        req = sc.s.request(['echo', 'x'])
        marker = sc.markers(sc.sent())[0]
        sc.feed('ctl.request\t4\tuid=1000\tshutdown\t3', 'x', marker)
        req.result()
        self.assertEqual(sc.events(), [CtlRequest(4, 'uid=1000', 'shutdown', ('3',))])

    def test_end_of_file_and_overflow_fail_a_call(self):
        sc = Script()
        req, marker = self.ask(sc)
        sc.feed('ctl.request\t1\treload', marker)
        sc.s.feed_eof()
        self.assertRaises(ConnectionClosed, req.call.result)
        sc = Script()
        req, marker = self.ask(sc)
        sc.feed('ctl.request\t1\treload', marker, 'overflow')
        self.assertRaises(ReplyLost, req.call.result)

    def test_info_replies_are_bounded(self):
        sc = Script()
        req, marker = self.ask(sc)
        sc.feed('ctl.request\t1\treload', marker, *['ctl.reply\t1\tinfo\tx'] * 3000)
        sc.feed('ctl.reply\t1\tok\tdone')
        self.assertEqual(len(req.call.events), 1025)
        self.assertEqual(req.call.events[-1], CtlReply(1, 'ok', 'done'))

    def test_a_forgotten_call_leaves_its_replies_to_the_events(self):
        sc = Script()
        req, marker = self.ask(sc)
        sc.feed('ctl.request\t1\treload', marker)
        sc.s.forget_call(req.call)
        sc.feed('ctl.reply\t1\tok\tlate')
        self.assertFalse(req.call.done)
        self.assertEqual(sc.events(), [CtlReply(1, 'ok', 'late')])


if __name__ == '__main__':
    unittest.main()
