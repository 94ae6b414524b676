"""mirror.py: the state mirror follows events the way the daemon changes
its state (docs/protocol.md: statedump, events, readiness, handles)."""

import unittest

import _path
from daemonproxy import Mirror
from daemonproxy.events import parse_event

_path.check()

DUMP = '''\
fd.state	control.cmd	special	write	daemonproxy command pipe
fd.state	null	special	read,write	/dev/null
fd.state	r	pipe	from	w
fd.state	s	socket	unix,stream,bind	/tmp/s
fd.state	w	pipe	to	r
service.state	a	up	100	4000	-	-	5	-
service.tags	a	t1
service.args	a	sleep	100
service.fds	a	null	w	stderr
service.auto_up	a	2	always	SIGHUP
service.env	a	X=1	-Y
service.opts	a	notify	fdstore=2
service.notify	a	101	4000	READY=1	STATUS=fine	MAINPID=4001
service.cgroup	a	100	populated
service.state	b	down	-	-	-	-	-	-
service.tags	b	
service.args	b	
service.fds	b	null	null	null
service.auto_up	b	-
service.state	c	down	90	3000	signal	SIGKILL	3	10
service.tags	c	
service.args	c	true
service.fds	c	
service.auto_up	c	-
signal	SIGINT	50	1
signal	SIGHUP	60	2
'''.splitlines()


def feed(m, lines):
    for line in lines:
        m.apply(parse_event(line))


def rebuilt(lines):
    m = Mirror()
    m.begin_rebuild()
    feed(m, lines)
    m.end_rebuild()
    return m


class FromDump(unittest.TestCase):
    def test_dump_round_trip(self):
        m = rebuilt(DUMP)
        self.assertTrue(m.synced)
        self.assertEqual(m.generation, 1)
        self.assertEqual(m.dump_lines(), DUMP)

    def test_contents(self):
        m = rebuilt(DUMP)
        a = m.services['a']
        self.assertTrue(a.running)
        self.assertEqual(a.pid, 4000)
        self.assertTrue(a.ready)
        self.assertEqual((a.status, a.mainpid, a.notify_ts, a.notify_pid),
                         ('fine', 4001, 101, 4000))
        self.assertEqual(a.args, ('sleep', '100'))
        self.assertEqual((a.interval, a.triggers), (2, ('always', 'SIGHUP')))
        self.assertEqual(a.cgroup, 'populated')
        self.assertEqual(m.services['b'].args, ())
        self.assertIsNone(m.services['b'].pid)
        self.assertEqual(m.services['c'].fds, ())
        self.assertEqual(m.services['c'].state.signal, 'SIGKILL')
        self.assertEqual(m.handles['r'].description, 'w')
        self.assertEqual(m.signals['SIGHUP'].count, 2)
        self.assertEqual([s.name for s in m], ['a', 'b', 'c'])
        self.assertIs(m.service('a'), a)
        self.assertIsNone(m.service('zz'))

    def test_now_recomputes_times(self):
        m = rebuilt(DUMP)
        lines = m.dump_lines(now=110)
        self.assertIn('service.state\ta\tup\t100\t4000\t-\t-\t10\t-', lines)
        self.assertIn('service.state\tc\tdown\t90\t3000\tsignal\tSIGKILL\t3\t20', lines)
        self.assertIn('service.state\tb\tdown\t-\t-\t-\t-\t-\t-', lines)


class Services(unittest.TestCase):
    def test_created_by_definition_events_with_defaults(self):
        m = Mirror()
        feed(m, ['service.args\tx\tsleep\t1'])
        self.assertEqual(m.services['x'].dump_lines(), [
            'service.state\tx\tdown\t-\t-\t-\t-\t-\t-',
            'service.tags\tx\t',
            'service.args\tx\tsleep\t1',
            'service.fds\tx\tnull\tnull\tnull',
            'service.auto_up\tx\t-'])
        for ln in ('service.fds\ty\t', 'service.tags\tz\t', 'service.auto_up\tw\t-',
                   'service.env\tv\tA=1', 'service.opts\tu\tnotify'):
            feed(m, [ln])
        self.assertEqual(sorted(m.services), ['u', 'v', 'w', 'x', 'y', 'z'])
        self.assertEqual(m.services['y'].fds, ())

    def test_delete(self):
        m = rebuilt(DUMP)
        feed(m, ['service.state\tb\tdeleted\t-\t-\t-\t-\t-\t-'])
        self.assertNotIn('b', m.services)
        feed(m, ['service.state\tb\tdeleted\t-\t-\t-\t-\t-\t-'])    # twice: harmless

    def test_auto_up_keeps_interval_when_disabled(self):
        m = Mirror()
        feed(m, ['service.auto_up\tx\t5\talways', 'service.auto_up\tx\t-'])
        self.assertEqual(m.services['x'].auto_up.to_line(), 'service.auto_up\tx\t-')
        self.assertEqual(m.services['x'].interval, 5)

    def test_readiness_from_live_notifications(self):
        m = Mirror()
        feed(m, ['service.args\tweb\td',
                 'service.state\tweb\tstart\t10\t-\t-\t-\t-\t-',
                 'service.state\tweb\tup\t10\t77\t-\t-\t0\t-'])
        web = m.services['web']
        self.assertFalse(web.ready)
        feed(m, ['service.notify\tweb\t11\t77\tSTATUS=starting'])
        self.assertFalse(web.ready)
        self.assertEqual(web.status, 'starting')
        feed(m, ['service.notify\tweb\t12\t78\tREADY=1\tMAINPID=78'])
        self.assertTrue(web.ready)
        self.assertEqual(web.mainpid, 78)
        self.assertEqual(web.dump_lines()[-1],
                         'service.notify\tweb\t12\t78\tREADY=1\tSTATUS=starting\tMAINPID=78')
        feed(m, ['service.notify\tweb\t13\t77\tRELOADING=1'])
        self.assertFalse(web.ready)
        self.assertEqual(web.readiness, 'RELOADING=1')
        feed(m, ['service.notify\tweb\t14\t77\tREADY=1\tMAINPID=x\tMAINPID=1'])
        self.assertTrue(web.ready)
        self.assertEqual(web.mainpid, 78)       # invalid MAINPIDs are ignored
        # forgotten when the service goes down, and not listed then
        feed(m, ['service.state\tweb\tdown\t20\t77\texit\t0\t10\t0'])
        self.assertFalse(web.ready)
        self.assertEqual((web.status, web.mainpid, web.notify_ts), (None, None, None))
        self.assertFalse(any(l.startswith('service.notify') for l in web.dump_lines()))
        feed(m, ['service.state\tweb\tup\t21\t90\t-\t-\t0\t-'])
        self.assertFalse(web.ready)

    def test_mainpid_forgotten_at_its_orphan_event(self):
        m = Mirror()
        feed(m, ['service.args\tweb\td',
                 'service.state\tweb\tup\t10\t77\t-\t-\t0\t-',
                 'service.notify\tweb\t11\t80\tMAINPID=80\tSTATUS=s'])
        web = m.services['web']
        feed(m, ['orphan\t12\t81\texit\t0\tweb', 'orphan\t12\t80\texit\t0\t-'])
        self.assertEqual(web.mainpid, 80)       # another pid, or no service named
        feed(m, ['orphan\t12\t80\tsignal\tSIGKILL\tweb'])
        self.assertIsNone(web.mainpid)
        self.assertEqual(web.status, 's')
        self.assertEqual(web.dump_lines()[-1], 'service.notify\tweb\t11\t80\t-\tSTATUS=s')

    def test_notify_of_unknown_service_ignored(self):
        m = Mirror()
        feed(m, ['service.notify\tghost\t1\t2\tREADY=1', 'service.cgroup\tghost\t1\tempty'])
        self.assertEqual(m.services, {})

    def test_cgroup(self):
        m = rebuilt(DUMP)
        feed(m, ['service.cgroup\ta\t130\tempty'])
        self.assertEqual((m.services['a'].cgroup, m.services['a'].cgroup_ts), ('empty', 130))
        feed(m, ['service.state\ta\tdown\t131\t4000\texit\t0\t31\t0'])
        self.assertEqual(m.services['a'].cgroup, 'empty')


class Handles(unittest.TestCase):
    def test_replace_and_delete(self):
        m = rebuilt(DUMP)
        feed(m, ['fd.state\ts\tfile\tread\t/etc/passwd'])
        self.assertEqual(m.handles['s'].type, 'file')
        feed(m, ['fd.state\ts\tdeleted'])
        self.assertNotIn('s', m.handles)

    def pipes(self, *lines):
        m = Mirror()
        feed(m, lines)
        return {k: v.description for k, v in m.handles.items()}

    def test_deleted_peer_shows_question_mark(self):
        self.assertEqual(self.pipes('fd.state\tr\tpipe\tfrom\tw', 'fd.state\tw\tpipe\tto\tr',
                                    'fd.state\tr\tdeleted'), {'w': '?'})

    def test_replaced_peer_shows_question_mark(self):
        # fd.pipe r w; fd.pipe q r  (as the daemon broadcasts it)
        self.assertEqual(self.pipes('fd.state\tr\tpipe\tfrom\tw', 'fd.state\tw\tpipe\tto\tr',
                                    'fd.state\tq\tpipe\tfrom\tr', 'fd.state\tr\tpipe\tto\tq'),
                         {'q': 'r', 'r': 'q', 'w': '?'})

    def test_replaced_by_a_file(self):
        self.assertEqual(self.pipes('fd.state\tr\tpipe\tfrom\tw', 'fd.state\tw\tpipe\tto\tr',
                                    'fd.state\tw\tfile\tread\t/x'), {'r': '?', 'w': '/x'})

    def test_same_pair_again_and_swapped(self):
        self.assertEqual(self.pipes('fd.state\ta\tpipe\tfrom\tb', 'fd.state\tb\tpipe\tto\ta',
                                    'fd.state\ta\tpipe\tfrom\tb', 'fd.state\tb\tpipe\tto\ta'),
                         {'a': 'b', 'b': 'a'})
        self.assertEqual(self.pipes('fd.state\tx\tpipe\tfrom\ty', 'fd.state\ty\tpipe\tto\tx',
                                    'fd.state\ty\tpipe\tfrom\tx', 'fd.state\tx\tpipe\tto\ty'),
                         {'x': 'y', 'y': 'x'})

    def test_one_end_moves(self):
        # fd.pipe a b; fd.pipe a c: b loses its peer, a now pairs with c
        self.assertEqual(self.pipes('fd.state\ta\tpipe\tfrom\tb', 'fd.state\tb\tpipe\tto\ta',
                                    'fd.state\ta\tpipe\tfrom\tc', 'fd.state\tc\tpipe\tto\ta'),
                         {'a': 'c', 'b': '?', 'c': 'a'})
        # fd.pipe a b; fd.pipe b c
        self.assertEqual(self.pipes('fd.state\ta\tpipe\tfrom\tb', 'fd.state\tb\tpipe\tto\ta',
                                    'fd.state\tb\tpipe\tfrom\tc', 'fd.state\tc\tpipe\tto\tb'),
                         {'a': '?', 'b': 'c', 'c': 'b'})

    def test_socketpair(self):
        self.assertEqual(self.pipes('fd.state\tx\tpipe\tunix,stream,to\ty',
                                    'fd.state\ty\tpipe\tunix,stream,to\tx',
                                    'fd.state\ty\tdeleted'), {'x': '?'})


class Signals(unittest.TestCase):
    def test_counts_and_clear(self):
        m = rebuilt(DUMP)
        feed(m, ['signal\tSIGHUP\t70\t3'])
        self.assertEqual(m.signals['SIGHUP'].count, 3)
        m.clear_signal('SIGHUP', 2)
        self.assertEqual(m.signals['SIGHUP'].count, 1)
        m.clear_signal('SIGHUP', 5)
        self.assertNotIn('SIGHUP', m.signals)
        m.clear_signal('SIGUSR2', 1)            # not pending: nothing
        self.assertEqual(m.dump_lines()[-1], 'signal\tSIGINT\t50\t1')

    def test_dump_order_is_the_daemons(self):
        m = Mirror()
        feed(m, ['signal\tSIGQUIT\t1\t1', 'signal\tSIGINT\t2\t1', 'signal\tSIGUSR1\t3\t1'])
        self.assertEqual([l.split('\t')[1] for l in m.dump_lines()],
                         ['SIGINT', 'SIGUSR1', 'SIGQUIT'])


class Rebuild(unittest.TestCase):
    def test_rebuild_forgets_what_is_gone(self):
        m = rebuilt(DUMP)
        small = [l for l in DUMP if '\tc\t' not in l and '\ts\t' not in l]
        m.begin_rebuild()
        self.assertTrue(m.rebuilding)
        self.assertIn('c', m.services)          # readers see the old picture meanwhile
        feed(m, small)
        m.end_rebuild()
        self.assertEqual(m.dump_lines(), small)
        self.assertEqual(m.generation, 2)

    def test_events_interleaved_with_the_dump(self):
        # The dump passed 'a' already when 'a' went down, and had not
        # reached 'c' when 'c' was deleted: the result is exact anyway.
        head = DUMP[:14]                        # handles and service a
        tail = [l for l in DUMP[14:] if '\tc\t' not in l]
        m = Mirror()
        m.begin_rebuild()
        feed(m, head)
        feed(m, ['service.state\ta\tdown\t140\t4000\texit\t1\t40\t0',
                 'service.state\tc\tdeleted\t-\t-\t-\t-\t-\t-',
                 'fd.state\tr\tdeleted'])
        feed(m, tail)
        m.end_rebuild()
        a = m.services['a']
        self.assertEqual(a.state.state, 'down')
        self.assertFalse(a.ready)
        self.assertNotIn('c', m.services)
        self.assertEqual(m.handles['w'].description, '?')

    def test_abort(self):
        m = rebuilt(DUMP)
        m.begin_rebuild()
        feed(m, DUMP[:3])
        m.abort_rebuild()
        self.assertFalse(m.synced)
        self.assertFalse(m.rebuilding)
        self.assertEqual(m.dump_lines(), DUMP)   # the old picture, marked out of date

    def test_other_events_ignored(self):
        m = Mirror()
        feed(m, ['overflow', 'error\tx', 'warning\ty', 'orphan\t1\t2\texit\t0\t-', 'hello'])
        self.assertEqual(m.dump_lines(), [])


if __name__ == '__main__':
    unittest.main()
