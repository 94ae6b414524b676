"""docs/protocol.md, Controllers: service controllers, a service whose fds name control.event /
control.cmd / control.socket gets a controller connection; the seed's example: a controller
service restarted by auto_up resyncs with statedump."""

from dp import TIMEOUT, wait_for
from svc_util import SvcTest, PY, CTL, comparable


class ServiceController(SvcTest):
    def setUp(self):
        super().setUp()
        self.ctl = self.script('ctl.py', CTL)

    def rec(self, pid):
        return self.path('rec-%d.txt' % pid)

    def wait_rec(self, pid, line):
        return self.wait_text(self.rec(pid), lambda t: line in t.split('\n'),
                              msg='%r in controller record' % line)

    def ctl_service(self, d, name, mode, fds, auto_up=None):
        self.define(d, name, [PY, self.ctl, mode, self.tmp], fds=fds, auto_up=auto_up)

    def test_event_and_cmd(self):
        d = self.start()
        self.ctl_service(d, 'ctl', 'both', ['control.event', 'control.cmd', 'stderr'])
        pid = self.start_svc(d, 'ctl')
        t = self.wait_rec(pid, 'READY')
        self.assertIn('GOT-ECHO', t.split('\n'))
        self.assertIn('FD0 sock', t.split('\n'))
        self.assertIn('FD01 same', t.split('\n'), 'event+cmd: one socket')
        d.cmd('service.tags\tsomeone\tbcast-42')
        self.wait_rec(pid, 'EV service.tags\tsomeone\tbcast-42')
        # the echo reply went only to the service, not to us
        self.assertFalse([l for l in d.reader.seen if l.startswith('ECHO-')])
        # commands from the service act: it can see and change state
        d.send('service.signal\tctl\tSIGTERM')
        self.expect_state(d, 'ctl', 'down')

    def test_controller_ends_with_service(self):
        d = self.start()
        d.ping()
        n = d.fd_count()
        self.ctl_service(d, 'ctl', 'both', ['control.event', 'control.cmd', 'stderr'])
        pid = self.start_svc(d, 'ctl')
        self.wait_rec(pid, 'READY')
        # one socketpair end, and its dup for the event stream (input and
        # output are watched and closed independently)
        self.assertEqual(d.fd_count(), n + 2, 'one socket for the service controller')
        d.send('service.signal\tctl\tSIGKILL')
        self.expect_state(d, 'ctl', 'down')
        wait_for(lambda: d.fd_count() == n, msg='controller socket closed with its service')
        # and again: restarting does not accumulate anything
        pid = self.start_svc(d, 'ctl')
        self.wait_rec(pid, 'READY')
        d.send('service.signal\tctl\tSIGKILL')
        self.expect_state(d, 'ctl', 'down')
        wait_for(lambda: d.fd_count() == n, msg='controller socket closed with its service')

    def test_controller_closed_by_service(self):
        d = self.start()
        d.ping()
        n = d.fd_count()
        for fds, name in ((['control.event', 'control.cmd'], 'both'),
                          (['control.event'], 'ev'), (['control.cmd'], 'cmd'),
                          (['control.socket'], 'sock')):
            # closes its controller fds, then stays up
            self.define(d, name, ['sh', '-c', 'exec 0<&- 1<&-; exec sleep 30'], fds=fds)
            self.start_svc(d, name)
            wait_for(lambda: d.fd_count() == n, msg='%s: controller closed while the service runs'
                     % name)
            self.assertEqual(self.dump_state(d, name)[2], 'up')
            d.send('service.signal\t%s\tSIGKILL' % name)
            self.expect_state(d, name, 'down')
        self.assertEqual(d.cmd1('echo\tstill-fine'), 'still-fine')

    def test_control_socket_bidirectional(self):
        d = self.start()
        self.ctl_service(d, 'ctl', 'socket', ['control.socket', 'null', 'stderr'])
        pid = self.start_svc(d, 'ctl')
        t = self.wait_rec(pid, 'READY')
        self.assertIn('GOT-ECHO', t.split('\n'))
        self.assertIn('FD0 sock', t.split('\n'))
        d.cmd('service.tags\tsomeone\tvia-socket')
        self.wait_rec(pid, 'EV service.tags\tsomeone\tvia-socket')

    def test_event_only_cannot_write(self):
        d = self.start()
        self.ctl_service(d, 'ev', 'event-only', ['control.event', 'null', 'stderr'])
        pid = self.start_svc(d, 'ev')
        t = self.wait_rec(pid, 'READY')
        self.assertTrue([l for l in t.split('\n') if l.startswith('WRITE-FAILED')],
                        'writes on a control.event-only fd must fail: %r' % t)
        d.cmd('service.tags\tsomeone\tfor-reader')
        t = self.wait_rec(pid, 'EV service.tags\tsomeone\tfor-reader')
        self.assertNotIn('EV LEAK', t)
        self.assertFalse([l for l in self.dump(d) if 'leaked-from-event-only' in l])

    def test_cmd_only_gets_eof(self):
        d = self.start()
        d.cmd('service.args\tother\tsleep\t30')
        self.ctl_service(d, 'cmd', 'cmd-only', ['control.cmd', 'null', 'stderr'])
        pid = self.start_svc(d, 'cmd')
        self.expect_state(d, 'other', 'up')
        t = self.wait_text(self.rec(pid), lambda t: t.endswith('\n'))
        self.assertEqual(t, 'EOF\n', 'reading a control.cmd-only fd gives EOF')

    def test_two_service_controllers(self):
        d = self.start()
        self.ctl_service(d, 'c1', 'both', ['control.event', 'control.cmd', 'stderr'])
        self.ctl_service(d, 'c2', 'socket', ['control.socket'])
        p1 = self.start_svc(d, 'c1')
        p2 = self.start_svc(d, 'c2')
        self.wait_rec(p1, 'READY')
        self.wait_rec(p2, 'READY')
        d.cmd('service.tags\tsomeone\tto-both')
        self.wait_rec(p1, 'EV service.tags\tsomeone\tto-both')
        self.wait_rec(p2, 'EV service.tags\tsomeone\tto-both')
        # c2 sees c1 die
        d.send('service.signal\tc1\tSIGKILL')
        down = self.expect_state(d, 'c1', 'down')
        self.wait_rec(p2, 'EV ' + '\t'.join(down))
        self.wait_rec(p2, 'EV service.tags\tsomeone\tto-both')

    def test_restarted_controller_resyncs(self):
        d = self.start()
        fifo_file = self.path('f.txt')
        d.cmd('fd.pipe\tp.r\tp.w', 'fd.open\tf\twrite,create\t' + fifo_file,
              'fd.socket\ts\tunix,listen\t' + self.path('s.sock'), 'fd.pipe\tsp.a\tsp.b\tdgram')
        self.define(d, 'web', ['sleep', '30'], fds=['null', 'p.w', 'stderr'], tags=['role=web', 'x'],
                    auto_up=[3, 'SIGHUP'])
        self.define(d, 'idle', ['true'], tags=['never'])
        self.define(d, 'gone', ['sh', '-c', 'exit 2'])
        self.start_svc(d, 'web')
        d.send('service.start\tgone')
        self.expect_state(d, 'gone', 'down')
        self.ctl_service(d, 'ctl', 'dump', ['control.event', 'control.cmd', 'stderr'],
                         auto_up=[1, 'always'])
        st = self.dump_state(d, 'ctl')
        self.assertEqual(st[2], 'up', 'auto_up always starts it at once')
        pid1 = int(st[4])
        dump1 = self.wait_text('dump-%d.txt' % pid1)
        self.assertEqual(comparable(dump1.splitlines()), comparable(self.dump(d)))
        # killed by the test's own controller; daemonproxy restarts it
        d.send('service.signal\tctl\tSIGKILL')
        down = self.expect_state(d, 'ctl', 'down')
        self.assertEqual(down[4:7], [str(pid1), 'signal', 'SIGKILL'])
        pid2 = int(self.expect_state(d, 'ctl', 'up', timeout=TIMEOUT + 1)[4])
        self.assertNotEqual(pid1, pid2)
        dump2 = self.wait_text('dump-%d.txt' % pid2).splitlines()
        mine = self.dump(d)
        self.assertEqual(comparable(dump2), comparable(mine))
        # and it is complete: every service and handle is there
        for name in ('web', 'idle', 'gone', 'ctl'):
            self.assertTrue([l for l in dump2 if l.startswith('service.state\t%s\t' % name)], name)
        for name in ('p.r', 'p.w', 'f', 's', 'sp.a', 'sp.b', 'null', 'control.event', 'stderr'):
            self.assertTrue([l for l in dump2 if l.startswith('fd.state\t%s\t' % name)], name)
        self.assertIn('service.state\tctl\tup\t', '\n'.join(dump2))
        self.assertTrue([l for l in dump2 if l.startswith('service.state\tctl\tup\t')
                         and l.split('\t')[4] == str(pid2)])
        with open(self.path('starts.txt')) as f:
            self.assertEqual(f.read().split(), [str(pid1), str(pid2)])

    def test_controller_statedump_large_state(self):
        # statedump "must work with any number of objects": a service
        # controller's socketpair usually accepts two whole 64 KiB output
        # buffers at once, so this dump (~300 KB) needs several resumes.
        d = self.start()
        n = 700
        self.bulk(d, ['service.args\ts%04d\tsleep\t%d' % (i, i) for i in range(n)] +
                  ['service.tags\ts%04d\t%s' % (i, 't' * 300) for i in range(n)] +
                  ['fd.open\th%04d\tread\t/dev/null' % i for i in range(500)])
        self.ctl_service(d, 'ctl', 'dump', ['control.event', 'control.cmd', 'stderr'])
        pid = self.start_svc(d, 'ctl')
        dump = self.wait_text('dump-%d.txt' % pid, msg='the controller service\'s statedump '
                              'to finish').splitlines()
        mine = self.dump(d)
        self.assertEqual(len([l for l in dump if l.startswith('service.state\t')]), n + 1)
        self.assertEqual(comparable(dump), comparable(mine))

    def test_fd_take_from_service_controller(self):
        d = self.start()
        self.ctl_service(d, 'ctl', 'take', ['control.socket', 'null', 'stderr'])
        pid = self.start_svc(d, 'ctl')
        line = d.expect(lambda l: l.startswith('fd.state\tfrom-svc\t'))
        t = self.wait_rec(pid, 'TAKE-DONE')
        self.assertIn('EV ' + line, t.split('\n'))
        self.assertFalse([l for l in t.split('\n') if l.startswith('EV error')], t)
        # the handle is the service's file: a service writes through it
        self.define(d, 'w', ['sh', '-c', 'echo via-taken-fd'], fds=['null', 'from-svc', 'null'])
        d.send('service.start\tw')
        self.expect_state(d, 'w', 'down')
        self.assertEqual(self.read_text('taken-by-service.txt'), 'via-taken-fd\n')

