"""docs/protocol.md, "Requests": a connection serves verbs (`ctl.serve`),
any connection asks (`ctl.request→VERB→[ARG…]`, answered with its ID), the
server gets the request as a private line and answers with `ctl.reply`
lines forwarded to the asker alone; a server that goes (or stops serving
the verb) has its requests answered `error→controller gone`; limits; IDs
unique for the daemon's life, across a re-exec."""

import os
import re
import subprocess

import dp

from svc_util import SvcTest


def is_request(l):
    return l.startswith('ctl.request\t')


def is_reply(l):
    return l.startswith('ctl.reply\t')


class RequestTest(SvcTest):
    def daemon(self):
        sock = self.path('s')
        d = self.start('-S', sock)
        d.ping()
        return d, sock

    def pair(self, verbs=('reload',)):
        d, sock = self.daemon()
        srv = self.connect(sock)
        self.assertEqual(srv.cmd('\t'.join(('ctl.serve',) + tuple(verbs))), [])
        return d, sock, srv, self.connect(sock)

    def ask(self, io, *fields):
        """ctl.request; returns the ID its reply gives."""
        out = io.cmd('\t'.join(('ctl.request',) + fields))
        self.assertEqual(len(out), 1, out)
        f = out[0].split('\t')
        self.assertEqual((f[0], f[2:]), ('ctl.request', [fields[0]]), out)
        return f[1]

    # --- routing --------------------------------------------------------
    def test_round_trip_with_info_lines(self):
        d, sock, srv, asker = self.pair(('reload', 'shutdown'))
        rid = self.ask(asker, 'reload', 'a b', 'c')
        self.assertEqual(srv.expect(is_request), 'ctl.request\t%s\tuid=%d\treload\ta b\tc'
                         % (rid, os.getuid()))
        self.assertEqual(srv.cmd('ctl.reply\t%s\tinfo\tchecking\tstep 1' % rid,
                                 'ctl.reply\t%s\tinfo' % rid,
                                 'ctl.reply\t%s\tok\treloaded x: 1 changed' % rid), [])
        self.assertEqual([asker.expect(is_reply) for _ in range(3)],
                         ['ctl.reply\t%s\tinfo\tchecking\tstep 1' % rid,
                          'ctl.reply\t%s\tinfo' % rid,
                          'ctl.reply\t%s\tok\treloaded x: 1 changed' % rid])
        # final: the ID is answered once
        self.assertCmdError(srv, 'ctl.reply\t%s\tok' % rid, 'no such request ID')
        # replies are private: a third connection saw none of it
        other = self.connect(sock)
        self.assertEqual([l for l in other.cmd() if 'ctl.' in l], [])
        # the daemon's own controller (stdin) sees neither request nor reply
        self.assertEqual([l for l in d.cmd() if 'ctl.' in l], [])

    def test_ids_grow_and_error_is_final(self):
        d, sock, srv, asker = self.pair()
        ids = [self.ask(asker, 'reload') for _ in range(3)]
        self.assertEqual([int(i) for i in ids], [1, 2, 3])
        got = [srv.expect(is_request).split('\t')[1] for _ in range(3)]
        self.assertEqual(got, ids)
        srv.cmd('ctl.reply\t2\terror\tbad.toml:3: no such key', 'ctl.reply\t1\tok',
                'ctl.reply\t3\tok')
        self.assertEqual(sorted(asker.expect(is_reply) for _ in range(3)),
                         ['ctl.reply\t1\tok', 'ctl.reply\t2\terror\tbad.toml:3: no such key',
                          'ctl.reply\t3\tok'])
        self.assertCmdError(srv, 'ctl.reply\t2\tinfo\tlate', 'no such request ID')

    def test_no_server(self):
        d, sock = self.daemon()
        c = self.connect(sock)
        line = self.assertCmdError(c, 'ctl.request\treload\tx', "no controller serves 'reload'")
        self.assertIn('for command "ctl.request\treload\tx"', line)
        # an invalid verb is never served
        self.assertCmdError(c, 'ctl.request\tRELOAD', "no controller serves 'RELOAD'")
        # and serving nothing serves nothing
        self.assertEqual(c.cmd('ctl.serve\treload', 'ctl.serve'), [])
        self.assertCmdError(c, 'ctl.request\treload', "no controller serves 'reload'")

    def test_take_over_and_stop_serving(self):
        d, sock, old, asker = self.pair(('reload', 'shutdown'))
        r1 = self.ask(asker, 'reload')
        old.expect(is_request)
        new = self.connect(sock)
        new.cmd('ctl.serve\treload')
        # said in the log, naming both connections
        d.log.expect(re.compile(r"^info: ctl\.serve: client \d+ now serves 'reload' "
                                r"\(was client \d+\)$"))
        # the old server's pending request of that verb: gone; new ones go to new
        self.assertEqual(asker.expect(is_reply), 'ctl.reply\t%s\terror\tcontroller gone' % r1)
        r2 = self.ask(asker, 'reload')
        self.assertEqual(new.expect(is_request).split('\t')[1], r2)
        self.assertCmdError(old, 'ctl.reply\t%s\tok' % r1, 'no such request ID')
        # old still serves shutdown; it stops with an empty ctl.serve
        r3 = self.ask(asker, 'shutdown', '3')
        self.assertEqual(old.expect(is_request).split('\t')[1:], [r3, 'uid=%d' % os.getuid(),
                                                                  'shutdown', '3'])
        old.cmd('ctl.serve')
        self.assertEqual(asker.expect(is_reply), 'ctl.reply\t%s\terror\tcontroller gone' % r3)
        self.assertCmdError(asker, 'ctl.request\tshutdown', "no controller serves 'shutdown'")

    def test_server_disconnect(self):
        d, sock, srv, asker = self.pair()
        rids = [self.ask(asker, 'reload') for _ in range(2)]
        srv.expect(is_request)
        srv.cmd('ctl.reply\t%s\tinfo\tworking' % rids[0])
        asker.expect('ctl.reply\t%s\tinfo\tworking' % rids[0])
        srv.close()
        self.assertEqual(sorted(asker.expect(is_reply) for _ in range(2)),
                         ['ctl.reply\t%s\terror\tcontroller gone' % r for r in rids])
        self.assertCmdError(asker, 'ctl.request\treload', "no controller serves 'reload'")

    def test_asker_disconnect(self):
        d, sock, srv, asker = self.pair()
        rid = self.ask(asker, 'reload')
        srv.expect(is_request)
        asker.close()
        # wait until the daemon has seen the close: a later client's echo
        # comes after it only if the close was read first, so ask it twice
        # (the daemon reads connections in turn) and then answer
        late = self.connect(sock)
        late.ping()
        self.assertEqual(srv.cmd('ctl.reply\t%s\tinfo\tstill' % rid,
                                 'ctl.reply\t%s\tok\tdone' % rid), [])
        self.assertTrue(d.alive())
        self.assertEqual([l for l in late.cmd() if 'ctl.' in l], [])

    def test_controller_service_exit(self):
        """A controller service serves reload, gets a request and exits: the
        asker hears `controller gone`."""
        d, sock = self.daemon()
        prog = self.write_file('ctl.sh', (
            "printf 'ctl.serve\\treload\\nservice.tags\\tctl\\tserving\\n'\n"
            "while read -r line; do\n"
            "  case \"$line\" in ctl.request*) exit 0;; esac\n"
            "done\n"))
        self.define(d, 'ctl', ['sh', prog], fds=['control.event', 'control.cmd', 'stderr'])
        asker = self.connect(sock)
        asker.send('service.start\tctl')
        asker.expect('service.tags\tctl\tserving')
        rid = self.ask(asker, 'reload')
        got = [asker.expect(lambda l: is_reply(l) or l.startswith('service.state\tctl\tdown'))
               for _ in range(2)]
        self.assertIn('ctl.reply\t%s\terror\tcontroller gone' % rid, got)
        self.assertCmdError(asker, 'ctl.request\treload', "no controller serves 'reload'")

    def test_config_file_cannot_serve(self):
        conf = self.write_file('c.conf', 'ctl.serve\treload\n')
        sock = self.path('s')
        d = self.start('-S', sock, '-c', conf)
        d.log.expect(re.compile(r'c\.conf:1: ctl\.serve needs an event stream'))
        self.assertCmdError(self.connect(sock), 'ctl.request\treload', 'no controller serves')

    # --- hostile input ----------------------------------------------------
    def test_bad_ids_and_replies_from_others(self):
        d, sock, srv, asker = self.pair()
        rid = self.ask(asker, 'reload')
        srv.expect(is_request)
        for bad in ('0', '-1', 'abc', '', '1x', '99999999999999999999999', '2',
                    ' %s' % rid, '+%s' % rid):
            with self.subTest(id=bad):
                self.assertCmdError(srv, 'ctl.reply\t%s\tok' % bad, 'no such request ID')
        # the asker, a third client and the daemon's stdin are not the server
        for io in (asker, self.connect(sock), d):
            self.assertCmdError(io, 'ctl.reply\t%s\tok\tforged' % rid, 'no such request ID')
        for bad in ('OK', 'done', '', 'ok ', 'infos'):
            with self.subTest(status=bad):
                self.assertCmdError(srv, 'ctl.reply\t%s\t%s' % (rid, bad), 'invalid status')
        self.assertCmdError(srv, 'ctl.reply\t%s' % rid, 'expected at least 2 arguments')
        self.assertCmdError(srv, 'ctl.request', 'expected at least 1 argument')
        # the request is still there, and answered once
        srv.cmd('ctl.reply\t%s\tok\treal' % rid)
        self.assertEqual(asker.expect(is_reply), 'ctl.reply\t%s\tok\treal' % rid)
        self.assertTrue(d.alive())

    def test_bad_verbs(self):
        d, sock = self.daemon()
        c = self.connect(sock)
        for bad in ('Reload', 'x' * 33, '', 'a b', 'a/b', 're\u00e9'):
            with self.subTest(verb=bad):
                self.assertCmdError(c, 'ctl.serve\tok\t' + bad, 'invalid verb')
        # nothing of a refused ctl.serve was taken
        self.assertCmdError(c, 'ctl.request\tok', "no controller serves 'ok'")
        self.assertEqual(c.cmd('ctl.serve\t' + 'x' * 32 + '\ta.b_c-9'), [])
        many = ['v%d' % i for i in range(65)]
        self.assertCmdError(c, '\t'.join(['ctl.serve'] + many), 'too many served verbs')
        self.assertEqual(c.cmd('\t'.join(['ctl.serve'] + many[:64])), [])
        self.assertCmdError(self.connect(sock), 'ctl.serve\tone.more', 'too many served verbs')

    # --- limits -----------------------------------------------------------------
    def test_pending_limits(self):
        d, sock, srv, asker = self.pair()
        for _ in range(16):
            self.ask(asker, 'reload')
        self.assertCmdError(asker, 'ctl.request\treload', 'too many pending requests')
        # another asker still may, up to 1024 in all
        others = [self.connect(sock) for _ in range(63)]
        for o in others:
            o.cmd(*['ctl.request\treload'] * 16)
        self.assertCmdError(self.connect(sock), 'ctl.request\treload',
                            'too many pending requests')
        # one answered: room for one more
        srv.cmd('ctl.reply\t1\tok')
        asker.expect('ctl.reply\t1\tok')
        self.ask(asker, 'reload')

    def test_10k_round_trips_leak_nothing(self):
        d, sock, srv, asker = self.pair()
        rss0 = None
        for batch in range(625):
            out = asker.cmd(*['ctl.request\treload\t%d' % batch] * 16)
            ids = [l.split('\t')[1] for l in out]
            self.assertEqual(len(ids), 16, out)
            srv.cmd(*['ctl.reply\t%s\tok' % i for i in ids])
            got = [asker.expect(is_reply) for _ in range(16)]
            self.assertEqual(got, ['ctl.reply\t%s\tok' % i for i in ids])
            if batch == 100:
                rss0 = d.rss_kb()
        self.assertEqual(int(ids[-1]), 10000)
        # every request ended: the full per-asker allowance is there again
        asker.cmd(*['ctl.request\treload'] * 16)
        self.assertCmdError(asker, 'ctl.request\treload', 'too many pending requests')
        self.assertLess(d.rss_kb() - rss0, 256)

    # --- re-exec ----------------------------------------------------------------
    def test_reexec_keeps_requests_and_ids(self):
        d, sock, srv, asker = self.pair()
        r1 = self.ask(asker, 'reload')
        srv.expect(is_request)
        d.send('reexec')
        d.expect(lambda l: l.startswith('reexec\t'))
        srv.cmd('ctl.reply\t%s\tok\tafter' % r1)
        self.assertEqual(asker.expect(is_reply), 'ctl.reply\t%s\tok\tafter' % r1)
        r2 = self.ask(asker, 'reload')
        self.assertEqual(int(r2), int(r1) + 1)
        self.assertEqual(srv.expect(is_request).split('\t')[1], r2)
        srv.close()
        self.assertEqual(asker.expect(is_reply), 'ctl.reply\t%s\terror\tcontroller gone' % r2)


DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(dp.binary()), 'dpctl')


def dpctl_bg(sock, *args):
    return subprocess.Popen([DPCTL, '-S', sock] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def finish(p):
    out, err = p.communicate(timeout=dp.TIMEOUT)
    return p.returncode, out.decode(), err.decode()


class DpctlReloadTest(SvcTest):
    def setUp(self):
        super().setUp()
        self.sock = self.path('s')
        self.d = self.start('-S', self.sock)
        self.d.ping()

    def reload_answered(self, *replies):
        """dpctl reload against a client serving reload that answers with
        replies (STATUS, TEXT...)."""
        srv = self.connect(self.sock)
        srv.cmd('ctl.serve\treload')
        p = dpctl_bg(self.sock, 'reload')
        rid = srv.expect(is_request).split('\t')[1]
        srv.send(*['\t'.join(('ctl.reply', rid) + r) for r in replies])
        return finish(p)

    def test_ok_with_progress(self):
        rc, out, err = self.reload_answered(('info', 'reading', 'x.toml'),
                                            ('ok', 'reloaded x.toml: 1 changed, 0 added, '
                                             '0 removed'))
        self.assertEqual((rc, out, err), (0, 'reading x.toml\nreloaded x.toml: 1 changed, '
                                              '0 added, 0 removed\n', ''))

    def test_error(self):
        rc, out, err = self.reload_answered(('error', 'x.toml:3: no such key "bogus"'))
        self.assertEqual((rc, out), (1, ''))
        self.assertEqual(err, 'dpctl: reload: x.toml:3: no such key "bogus"\n')

    def test_nobody_serves_it(self):
        rc, out, err = finish(dpctl_bg(self.sock, 'reload'))
        self.assertEqual(rc, 3)
        self.assertIn('dpctl: no controller serves reload', err)

    def test_no_answer_in_time(self):
        srv = self.connect(self.sock)
        srv.cmd('ctl.serve\treload')
        rc, out, err = finish(dpctl_bg(self.sock, '-t', '0.5', 'reload'))
        self.assertEqual(rc, 4)
        self.assertIn('did not finish the reload within 0.5s', err)
        srv.expect(is_request)

    def test_usage(self):
        rc, out, err = finish(dpctl_bg(self.sock, 'reload', 'now'))
        self.assertEqual(rc, 2)
        self.assertIn('usage: dpctl reload', err)
        rc, out, err = finish(dpctl_bg(self.sock, 'help', 'reload'))
        self.assertEqual(rc, 0)
        self.assertIn('Ask the controller to re-read its configuration', out)
