"""Review of issue 20 (hostile inputs): `dpctl shutdown` must end
everything within its bound through the daemon's own shutdown whenever the
controller's ordered stop cannot happen: the verb's server goes away with
the request pending (`controller gone`: a hostile client that took over
`ctl.serve shutdown`, or a controller that crashed), or the 1024 pending
requests are all taken (`too many pending requests`)."""

import os

from svc_util import SvcTest
from test_shutdown import dpctl_bg, finish, gone, TIMEOUT


def is_request(l):
    return l.startswith('ctl.request\t')


class ReviewShutdownTest(SvcTest):
    def daemon(self):
        sock = self.path('s')
        d = self.start('-S', sock)
        self.define(d, 'stubborn', ['sh', '-c', "trap '' TERM; sleep 1000 & wait"])
        pid = self.start_svc(d, 'stubborn')
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            procs = [pid] + [int(x) for x in f.read().split()]
        return d, sock, procs

    def assertNativeShutdown(self, d, procs, p, why):
        rc, out, err = finish(p, TIMEOUT + 15)
        self.assertEqual((rc, err), (0, ''))
        self.assertEqual(out, 'daemonproxy has shut down (%s: SIGTERM to every service, '
                              'SIGKILL after 1s)\n' % why)
        self.assertEqual(d.wait(), 3)
        self.assertEqual([x for x in procs if not gone(x)], [])

    def test_server_gone_with_the_request_pending(self):
        d, sock, procs = self.daemon()
        thief = self.connect(sock)
        thief.cmd('ctl.serve\tshutdown')
        p = dpctl_bg(sock, '-t', '1', 'shutdown', '3')
        thief.expect(is_request)
        thief.close()
        self.assertNativeShutdown(d, procs, p, 'the controller went away')

    def test_all_pending_requests_taken(self):
        d, sock, procs = self.daemon()
        srv = self.connect(sock)
        srv.cmd('ctl.serve\thog\tshutdown')
        askers = [self.connect(sock) for _ in range(64)]
        for a in askers:
            a.cmd(*['ctl.request\thog'] * 16)
        self.assertCmdError(self.connect(sock), 'ctl.request\thog',
                            'too many pending requests')
        p = dpctl_bg(sock, '-t', '1', 'shutdown', '3')
        self.assertNativeShutdown(d, procs, p, 'too many pending requests')
