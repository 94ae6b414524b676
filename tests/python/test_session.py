"""session.py: requests and their markers, reply attribution, overflow,
statedump rebuilds, end of file: a scripted daemon talks to a Session."""

import unittest

import _path
from daemonproxy import (
    EVENT_LINE_MAX, CommandError, ConnectionClosed, InvalidArgument, Mirror, ProtocolError,
    ReplyLost, Resynced, Session,
)
from daemonproxy import events as e

_path.check()


class Script:
    """Plays the daemon: reads the session's commands, answers lines."""

    def __init__(self, mirror=True, **kw):
        self.mirror = Mirror() if mirror else None
        self.s = Session(self.mirror, **kw)

    def sent(self):
        """The command lines sent since last time, as lists of fields."""
        data = self.s.data_to_send().decode()
        return [l.split('\t') for l in data.splitlines()]

    def markers(self, sent):
        return [f[1] for f in sent if f[0] == 'echo' and f[1].startswith('_dpy.')]

    def feed(self, *lines):
        self.s.feed(''.join(l + '\n' for l in lines).encode())

    def events(self):
        out = list(self.s.events)
        self.s.events.clear()
        return out


class Requests(unittest.TestCase):
    def test_send_many_queues_all_or_none(self):
        sc = Script()
        sc.s.send_many([('service.start', 'a'), ['service.start', 'b', '12']])
        self.assertEqual(sc.sent(), [['service.start', 'a'], ['service.start', 'b', '12']])
        with self.assertRaises(InvalidArgument):
            sc.s.send_many([('service.start', 'c'), ('service.start', 'bad\tname')])
        self.assertEqual(sc.sent(), [])         # the valid one before it was not queued

    def test_marker_and_reply(self):
        d = Script()
        r = d.s.request(['echo', 'a', 'b'])
        sent = d.sent()
        self.assertEqual(sent[0], ['echo', 'a', 'b'])
        self.assertEqual(sent[1][0], 'echo')
        (m,) = d.markers(sent)
        self.assertFalse(r.done)
        d.feed('service.state\tx\tup\t1\t2\t-\t-\t0\t-', 'a\tb')
        self.assertFalse(r.done)
        d.feed(m)
        self.assertTrue(r.done)
        self.assertEqual(r.result(), ['a\tb'])
        self.assertEqual(d.events(), [e.ServiceState('x', 'up', 1, 2, None, None, 0, None)])

    def test_echo_reply_that_looks_like_an_event(self):
        d = Script()
        r = d.s.request(['echo', 'signal', 'SIGHUP', '1', '1'])
        (m,) = d.markers(d.sent())
        d.feed('signal\tSIGHUP\t1\t1', 'signal\tSIGHUP\t1\t1', m)
        self.assertEqual(r.result(), ['signal\tSIGHUP\t1\t1'])
        self.assertEqual(len(d.events()), 1)        # the second one is an event

    def test_reply_lines_split_anywhere(self):
        d = Script()
        r = d.s.request(['log.filter'])
        (m,) = d.markers(d.sent())
        data = ('log.filter\tinfo\n' + m + '\n').encode()
        for i in range(len(data)):
            d.s.feed(data[i:i + 1])
        self.assertEqual(r.result(), ['log.filter\tinfo'])

    def test_own_error_raises_with_command_and_message(self):
        d = Script()
        r = d.s.request(['service.start', 'some-really-long-service-name-here'])
        (m,) = d.markers(d.sent())
        d.feed("error\tno such service 'some-really-long-service-name-here', for command "
               '"service.start\tsome-really-long..."', m)
        with self.assertRaises(CommandError) as cm:
            r.result()
        self.assertEqual(cm.exception.command,
                         ('service.start', 'some-really-long-service-name-here'))
        self.assertEqual(cm.exception.message,
                         "no such service 'some-really-long-service-name-here'")
        self.assertEqual(d.events(), [])

    def test_own_error_with_excerpt_of_an_earlier_release(self):
        # daemonproxy releases before the original's TABs showed spaces
        d = Script()
        r = d.s.request(['service.start', 'web'])
        (m,) = d.markers(d.sent())
        d.feed("error\tno such service 'web', for command \"service.start web\"", m)
        with self.assertRaises(CommandError) as cm:
            r.result()
        self.assertEqual(cm.exception.message, "no such service 'web'")
        self.assertEqual(d.events(), [])

    def test_fixed_form_errors(self):
        d = Script()
        r = d.s.request(['bogus', 'x'])
        (m,) = d.markers(d.sent())
        d.feed('error\tUnknown command: bogus', m)
        with self.assertRaises(CommandError) as cm:
            r.result()
        self.assertEqual(cm.exception.message, 'Unknown command: bogus')

    def test_broadcast_errors_are_events(self):
        d = Script()
        r = d.s.request(['service.fds', 's1', 'null', 'nope'])
        (m,) = d.markers(d.sent())
        d.feed('service.fds\ts1\tnull\tnope',
               'error\tservice web: exec /x failed: No such file or directory',
               'error\tno such service \'q\', for command "service.start\tq"',
               'warning\tservice s1: no handle named \'nope\' (yet), for command '
               '"service.fds\ts1\tnull\tnope"', m)
        self.assertEqual(r.result(), ['warning\tservice s1: no handle named \'nope\' (yet), '
                                      'for command "service.fds\ts1\tnull\tnope"'])
        self.assertEqual([type(x) for x in d.events()], [e.ServiceFds, e.Error, e.Error])

    def test_pipelined_requests(self):
        d = Script()
        reqs = [d.s.request(['echo', str(i)]) for i in range(3)]
        ms = d.markers(d.sent())
        d.feed('0', ms[0], '1', ms[1], '2', ms[2])
        self.assertEqual([r.result() for r in reqs], [['0'], ['1'], ['2']])
        self.assertEqual(d.s.pending, 0)

    def test_invalid_before_sending(self):
        d = Script()
        with self.assertRaises(InvalidArgument):
            d.s.request(['echo', 'a\tb'])
        self.assertEqual(d.s.data_to_send(), b'')
        self.assertEqual(d.s.pending, 0)

    def test_done_callback(self):
        d = Script()
        seen = []
        r = d.s.request(['echo', 'x'])
        r.add_done_callback(seen.append)
        (m,) = d.markers(d.sent())
        d.feed('x', m)
        self.assertEqual(seen, [r])
        r.add_done_callback(seen.append)
        self.assertEqual(seen, [r, r])


class Dump(unittest.TestCase):
    DUMP = ['fd.state\tnull\tspecial\tread,write\t/dev/null',
            'service.state\ta\tdown\t-\t-\t-\t-\t-\t-',
            'service.tags\ta\t', 'service.args\ta\ttrue', 'service.fds\ta\tnull\tnull\tnull',
            'service.auto_up\ta\t-']

    def test_statedump_rebuilds_mirror(self):
        d = Script()
        d.feed('service.args\told\tx')            # something the dump will not list
        d.events()
        r = d.s.request(['statedump'])
        (m,) = d.markers(d.sent())
        d.feed(*self.DUMP[:3])
        d.feed('orphan\t1\t2\texit\t0\t-', 'error\tservice z: exec failed')
        d.feed(*self.DUMP[3:])
        d.feed(m)
        self.assertEqual(r.result(), self.DUMP)
        self.assertEqual([x.to_line() for x in r.events], self.DUMP)
        self.assertTrue(d.mirror.synced)
        self.assertEqual(d.mirror.dump_lines(), self.DUMP)
        evs = d.events()
        self.assertEqual([type(x) for x in evs], [e.Orphan, e.Error, Resynced])
        self.assertEqual(evs[-1].generation, 1)

    def test_resync_keeps_no_reply(self):
        d = Script()
        r = d.s.resync()
        self.assertIs(d.s.resync(), r)            # one at a time
        (m,) = d.markers(d.sent())
        d.feed(*self.DUMP, m)
        self.assertEqual(r.result(), [])
        self.assertEqual(d.mirror.dump_lines(), self.DUMP)
        self.assertIsNot(d.s.resync(), r)         # done: the next one is new

    def test_odd_lines_inside_a_dump(self):
        d = Script()
        r = d.s.request(['statedump'])
        (m,) = d.markers(d.sent())
        odd = ['service.state	x	up', 'overflowing', 'signal	SIGHUP	x	1']
        d.s.feed(('\n'.join(self.DUMP[:2] + odd + self.DUMP[2:] + [m]) + '\n').encode())
        self.assertEqual(r.result(), self.DUMP)
        self.assertEqual([x.line for x in d.events()[:-1]], odd)

    def test_resync_fast_path_equals_the_general_one(self):
        # a resync applies definition lines without making events; the
        # result must be what applying their events gives, odd lines too
        lines = self.DUMP + ['service.auto_up\ta\tx\talways', 'service.args',
                             'service.auto_up\tb\t-\tjunk', 'service.tags\tb\t',
                             'service.fds\tc\tx\t\ty', 'service.auto_up\tc\t9',
                             'service.auto_up\tc\t-', 'service.env\tc\tA=1',
                             'service.opts\td\tnotify', 'service.auto_up\te\t4\tSIGHUP']
        results = []
        for how in ('resync', 'statedump'):
            d = Script()
            r = d.s.resync() if how == 'resync' else d.s.request(['statedump'])
            (m,) = d.markers(d.sent())
            d.feed(*lines, m)
            self.assertIsNone(r.exception)
            results.append((d.mirror.dump_lines(),
                            [(s.name, s.interval) for s in d.mirror],
                            [x.to_line() for x in d.events()]))
        self.assertEqual(results[0], results[1])
        self.assertEqual(results[0][2][:3], ['service.auto_up\ta\tx\talways', 'service.args',
                                             'service.auto_up\tb\t-\tjunk'])

    def test_without_mirror(self):
        d = Script(mirror=False)
        r = d.s.request(['statedump'])
        (m,) = d.markers(d.sent())
        d.feed(*self.DUMP, m)
        self.assertEqual(r.result(), self.DUMP)
        self.assertEqual(d.events(), [])


class Overflow(unittest.TestCase):
    def test_overflow_fails_pending_and_resyncs(self):
        d = Script()
        r1 = d.s.request(['echo', 'one'])
        r2 = d.s.request(['statedump'])
        m1, m2 = d.markers(d.sent())
        d.feed('overflow')
        self.assertIsInstance(r1.exception, ReplyLost)
        self.assertIsInstance(r2.exception, ReplyLost)
        self.assertFalse(d.mirror.synced)
        self.assertIsInstance(d.events()[0], e.Overflow)
        sent = d.sent()
        # a bare marker first (the barrier), then the resync
        self.assertEqual(sent[0][0], 'echo')
        self.assertEqual(sent[1], ['statedump'])
        barrier, resync = d.markers(sent)
        # r1's output was discarded; r2's dump ran after the overflow line
        d.feed(*Dump.DUMP[:2])
        self.assertEqual(d.mirror.dump_lines(), [])     # nothing from the lost dump
        self.assertEqual(d.events(), [])
        d.feed(m2, 'signal\tSIGHUP\t1\t1', barrier)
        d.feed(*Dump.DUMP, resync)
        self.assertTrue(d.mirror.synced)
        self.assertEqual(d.mirror.dump_lines(), Dump.DUMP)
        evs = d.events()
        self.assertEqual([type(x) for x in evs], [e.Signal, Resynced])
        self.assertEqual(d.s.pending, 0)

    def test_overflow_without_pending(self):
        d = Script()
        d.feed('overflow')
        sent = d.sent()
        self.assertEqual(sent[0], ['statedump'])
        (m,) = d.markers(sent)
        d.feed(*Dump.DUMP, m)
        self.assertTrue(d.mirror.synced)

    def test_no_auto_resync(self):
        d = Script(auto_resync=False)
        d.feed('overflow')
        self.assertEqual(d.sent(), [])
        self.assertFalse(d.mirror.synced)

    def test_overflow_during_resync_retries(self):
        d = Script()
        r = d.s.resync()
        (m,) = d.markers(d.sent())
        d.feed(*Dump.DUMP[:2], 'overflow')
        self.assertIsInstance(r.exception, ReplyLost)
        r2 = d.s.resync()
        self.assertIsNot(r2, r)
        barrier, m2 = d.markers(d.sent())
        d.feed(barrier, *Dump.DUMP, m2)       # r's marker was discarded
        self.assertTrue(r2.done)
        self.assertIsNone(r2.exception)
        self.assertEqual(d.mirror.dump_lines(), Dump.DUMP)


    def test_overflow_flood_queues_no_flood_of_resyncs(self):
        # a daemon sends `overflow` again only after a drained buffer or
        # RESET seconds: a flood of them is no daemon, and each must not
        # cost a request (and the bytes to send it to a peer that may not read)
        d = Script()
        d.feed(*['overflow'] * 10000)
        self.assertEqual(sum(f == ['statedump'] for f in d.sent()), 4)
        self.assertLessEqual(d.s.pending, 8)
        d.feed(*['overflow'] * 10000)
        self.assertEqual(d.sent(), [])
        # another line: the resync that the last overflow asked for
        d.feed('signal\tSIGHUP\t1\t1')
        sent = d.sent()
        self.assertEqual([f[0] for f in sent], ['echo', 'statedump', 'echo'])
        barrier, m = d.markers(sent)
        d.feed(barrier, *Dump.DUMP, m)
        self.assertTrue(d.mirror.synced)
        self.assertEqual(d.s.pending, 0)


class Bounds(unittest.TestCase):
    """Nothing the peer sends grows a buffer past one line: what
    daemonproxy never sends ends the session with ProtocolError."""

    def test_longest_line_taken_longer_refused(self):
        d = Script(mirror=False)
        line = 'x' * (EVENT_LINE_MAX - 1)          # 8192 bytes with its newline
        d.feed(line)
        self.assertEqual(d.events(), [e.RawEvent(line)])
        r = d.s.request(['echo', 'x'])
        with self.assertRaisesRegex(ProtocolError, 'a line of more than 8192 bytes: the peer is '
                                    "not speaking daemonproxy's protocol"):
            d.feed('y' * EVENT_LINE_MAX)
        self.assertTrue(d.s.closed)
        self.assertIs(r.exception, d.s.failure)
        with self.assertRaises(ProtocolError):
            d.s.feed(b'fine\n')                     # and it stays refused
        self.assertEqual(d.events(), [])

    def test_event_queue_bounded_mirror_exact(self):
        """A peer faster than the reader: at most max_events wait, the rest
        are counted into one EventsDropped at their place, and the mirror
        applied every one."""
        d = Script(max_events=10)
        d.feed(*['service.args\ts%d\ttrue' % i for i in range(25)])
        q = list(d.s.events)
        self.assertEqual(len(q), 10)
        self.assertEqual(d.s.dropped, 15)
        self.assertEqual(len(d.mirror.services), 25)
        d.s.events.popleft()
        d.feed('service.args\tlate\ttrue')
        q = d.events()
        self.assertEqual([type(x) for x in q[-2:]], [e.EventsDropped, e.ServiceArgs])
        self.assertEqual(q[-2].count, 15)
        self.assertEqual(q[-1].name, 'late')
        self.assertEqual(d.s.dropped, 0)
        # without a queue: nothing kept, nothing counted
        d = Script(queue_events=False)
        d.feed(*['service.args\ts%d\ttrue' % i for i in range(25)])
        self.assertEqual((len(d.s.events), d.s.dropped), (0, 0))

    def test_event_queue_bounded_in_bytes(self):
        """Long lines fill the queue's byte budget before its count: the
        queue holds at most max_event_bytes of lines, and consuming frees
        it again."""
        d = Script(max_event_bytes=100000)
        line = 'service.args\tbig\t' + 'x' * 8000
        d.feed(*[line] * 50)
        q = d.s.events
        self.assertEqual(len(q), 12)          # 12 lines of 8018 bytes fit in 100000
        self.assertLessEqual(q.nbytes, 100000)
        self.assertEqual(d.s.dropped, 38)
        q.popleft()
        self.assertEqual(q.nbytes, 11 * (len(line) + 1))
        d.feed(line)
        self.assertEqual(type(q[-2]), e.EventsDropped)
        self.assertEqual(q[-2].count, 38)
        q.clear()
        self.assertEqual(q.nbytes, 0)

    def test_reply_lines_of_a_command_bounded(self):
        """Lines a command's reply could not have (a peer repeating them)
        are not kept beyond 64."""
        d = Script(mirror=False)
        r = d.s.request(['log.filter'])
        marker = d.markers(d.sent())[0]
        d.feed(*['log.filter\tinfo'] * 10000)
        d.feed(marker)
        self.assertTrue(r.done)
        self.assertEqual(len(r.reply), 64)

    def test_partial_line_held_below_the_limit(self):
        for piece in (1, 1000, 4096, 8191, 8192, 70000):
            with self.subTest(piece=piece):
                s = Session()
                most = 0
                with self.assertRaises(ProtocolError):
                    for _ in range(3 * EVENT_LINE_MAX // piece + 2):
                        s.feed(b'z' * piece)
                        most = max(most, s.buffered)
                self.assertLess(most, EVENT_LINE_MAX)
                self.assertEqual(s.buffered, 0)

    def test_dribbled_line_of_the_limit(self):
        s = Session()
        for _ in range(EVENT_LINE_MAX - 1):
            s.feed(b'a')                           # not a copy of the whole each time
        self.assertEqual(s.buffered, EVENT_LINE_MAX - 1)
        s.feed(b'\n')
        self.assertEqual(s.events.popleft(), e.RawEvent('a' * (EVENT_LINE_MAX - 1)))

    def test_bytes_not_characters(self):
        s = Session()
        ok = '\u00e9' * ((EVENT_LINE_MAX - 1) // 2)     # 8190 bytes, 4095 characters
        s.feed((ok + '\n').encode())
        self.assertEqual(s.events.popleft(), e.RawEvent(ok))
        with self.assertRaises(ProtocolError):
            s.feed(('\u00e9' * (EVENT_LINE_MAX // 2) + '\nnext\n').encode())

    def test_control_characters(self):
        for bad in (b'\r', b'\x00', b'\x1b', b'\x0b', b'\x7f\x01'):
            with self.subTest(bad=bad):
                s = Session()
                with self.assertRaisesRegex(ProtocolError, 'a control character'):
                    s.feed(b'fd.state\tnull' + bad + b'\n')
        s = Session()
        s.feed(b'a\tb\x7f\xff\n')                      # TAB, DEL and any byte above are fine
        self.assertEqual(s.events.popleft().to_line(), 'a\tb\x7f\udcff')

    def test_not_daemonproxy_at_all(self):
        s = Session()
        r = s.request(['statedump'])
        with self.assertRaises(ProtocolError) as cm:
            s.feed(b'HTTP/1.0 400 Bad Request\r\nServer: supervisor\r\n\r\n')
        self.assertIn("the peer is not speaking daemonproxy's protocol", str(cm.exception))
        self.assertEqual(cm.exception.received, b'HTTP/1.0 400 Bad Request\r')
        self.assertIs(r.exception, cm.exception)

    def test_refused_at_end_of_file(self):
        s = Session()
        s.feed(b'x\x01')
        with self.assertRaises(ProtocolError):
            s.feed_eof()

    def test_reset_forgets_the_failure(self):
        s = Session()
        with self.assertRaises(ProtocolError):
            s.feed(b'\x00\n')
        s.reset()
        self.assertIsNone(s.failure)
        self.assertFalse(s.closed)
        s.feed(b'ok\n')
        self.assertEqual(s.events.popleft(), e.RawEvent('ok'))


class EndOfFile(unittest.TestCase):
    def test_pending_fail(self):
        d = Script()
        r = d.s.request(['echo', 'x'])
        d.sent()
        d.s.feed(b'service.args\ta\tb')          # partial last line still counts
        d.s.feed_eof()
        self.assertIsInstance(r.exception, ConnectionClosed)
        self.assertTrue(d.s.closed)
        self.assertEqual(d.events(), [e.ServiceArgs('a', ('b',))])

    def test_final_requests(self):
        d = Script()
        t = d.s.request(['terminate', '0'], 'final')
        x = d.s.request_final(['exit'])
        d.sent()
        d.s.feed_eof()
        self.assertIsNone(t.exception)
        self.assertIsNone(x.exception)

    def test_final_request_that_failed(self):
        d = Script()
        t = d.s.request(['terminate', '0'], 'final')
        (m,) = d.markers(d.sent())
        d.feed('error\texit guard is set: guard code required, for command "terminate 0"', m)
        self.assertIsInstance(t.exception, CommandError)

    def test_reset(self):
        d = Script()
        r = d.s.request(['echo', 'x'])
        d.s.reset()
        self.assertIsInstance(r.exception, ConnectionClosed)
        self.assertEqual(d.s.data_to_send(), b'')
        self.assertFalse(d.s.closed)


if __name__ == '__main__':
    unittest.main()
