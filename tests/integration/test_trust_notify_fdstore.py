"""docs/protocol.md, "The fd store": what a service may store and name
(issue 18, points 4 and 7).

- A service's stored fds are handles SERVICE..FDNAME (.2, .3... for more
  in one message), a namespace no other object uses.  Every takeover of
  the issue leaves its victim alone (the same fd.state, the same file
  open in daemonproxy, the same fd handed to its service, the log still
  going where the controller said): FDNAME=worker.stored of service app
  against app.worker's stored fd, FDNAME=log against the controller's
  app.log that is log.dest, and against a log.dest that does not exist
  yet.  What would still meet another object's handle is refused with a
  warning: a handle a controller made in the store's namespace, an FDNAME
  that could leave it (with "..", or a '.' at either end).  A handle the
  controller replaced or deleted is no longer the store's: the service can
  neither replace it, nor delete it with FDSTOREREMOVE, nor get it at its
  next start.  All of this survives a re-exec.
- One fd limit: a child is given at most 1024 fds, so the store keeps no
  more than 1024 less the service's own service.fds; one more is refused
  when it is sent, with a warning that names the limit, and the service
  keeps starting with everything stored.  If service.fds grows later, the
  stored fds that no longer fit stay stored but are not handed back (a
  warning says so), and the service still starts.
"""

import os
import re
import resource
import shutil

from test_notify import NOTIFY_VARS, NotifyBase, fd_lines


def dp_files(d):
    """The targets of daemonproxy's fds, as a sorted list."""
    out = []
    for fd in os.listdir('/proc/%d/fd' % d.pid):
        try:
            out.append(os.readlink('/proc/%d/fd/%s' % (d.pid, fd)))
        except OSError:
            pass
    return sorted(out)


class StoreBase(NotifyBase):

    def fd_state(self, d, name):
        """NAME's fd.state line in a statedump (None if there is none)."""
        lines = fd_lines(self.dump(d), name)
        return lines[0] if lines else None

    def stored_handles(self, d, svc):
        """The names of the handles svc stored (by their description)."""
        return [l.split('\t')[1] for l in self.dump(d)
                if l.startswith('fd.state\t') and l.endswith('\tstored by ' + svc)]

    def store(self, d, svc, fdname, fds):
        """Agent svc stores fds as fdname; waits for the fd.state of the
        (first) handle; returns what was sent and the handle's name."""
        info = self.send_notify(svc, 'FDSTORE=1\nFDNAME=' + fdname, fds=fds)['fds']
        line = d.expect(lambda l: l.startswith('fd.state\t') and l.endswith('\tstored by ' + svc))
        return info, line.split('\t')[1]

    def restart(self, d, name):
        self.kill_svc(d, name)
        return self.up(d, name)

    def refused(self, d, svc, mark, what):
        """The store refused what svc sent since mark: one warning each."""
        self.marker(d, svc)
        self.expect_warnings(d, mark, len(what), ', '.join(what))
        w = self.warnings_since(d, mark)
        self.assertEqual(len(w), len(what), w)
        for line in w:
            self.assertRegex(line, r"^warning: service %s: FDSTORE: 1 of 1 fds named '.*' refused: "
                             % re.escape(svc))
        return w


class Namespace(StoreBase):

    def test_takeovers_of_the_issue_leave_their_victims_alone(self):
        d = self.daemon()
        victim_log = self.path('victim.log')
        self.no_errors(d.cmd('fd.open\tapp.log\twrite,create,append\t' + victim_log,
                             'log.dest\tfd\tapp.log'))
        self.agent(d, 'app', opts=['notify', 'listen-fds', 'fdstore=4'])
        self.agent(d, 'app.worker', opts=['notify', 'listen-fds', 'fdstore=2'])
        self.up(d, 'app')
        self.up(d, 'app.worker')
        mine = self.write_file('worker.txt', 'the worker\'s own')
        (worker,), wname = self.store(d, 'app.worker', 'stored', [['ro', mine]])
        base = self.warm(d, 'app')
        before = {n: self.fd_state(d, n) for n in ('app.log', wname)}
        files = dp_files(d)
        # the issue's FDNAMEs
        evil = self.write_file('evil.txt', 'the attacker\'s')
        self.store(d, 'app', 'worker.stored', [['ro', evil]])
        self.store(d, 'app', 'log', [['pipe-w']])
        for n, line in before.items():
            self.assertEqual(self.fd_state(d, n), line, '%s untouched' % n)
        self.assertEqual([f for f in files if f not in dp_files(d)], [], 'every fd still open')
        self.settle_fds(d, base + 2, 'two more fds, and nothing replaced')
        # in a namespace of their own
        self.assertEqual(wname, 'app.worker..stored')
        self.assertEqual(before[wname],
                         'fd.state\tapp.worker..stored\tspecial\tread\tstored by app.worker')
        self.assertEqual(sorted(self.stored_handles(d, 'app')), ['app..log', 'app..worker.stored'])
        # the log still goes where the controller said
        self.assertCmdError(d, 'bogus.command')
        self.wait_text(victim_log, lambda t: 'bogus.command' in t)
        # app.worker gets its own stored fd back, app its own two
        _, st, _ = self.restart(d, 'app.worker')
        self.assertEqual((st['env'].get('LISTEN_FDS'), st['env'].get('LISTEN_FDNAMES')),
                         ('1', 'stored'))
        self.assertEqual((st['fds']['3']['ino'], st['fds']['3'].get('link')), (worker['ino'], mine))
        _, st, _ = self.restart(d, 'app')
        self.assertEqual(st['env'].get('LISTEN_FDNAMES'), 'worker.stored:log')
        self.assertEqual(st['fds']['3'].get('link'), evil)

    def test_log_dest_that_does_not_exist_yet(self):
        d = self.daemon()
        out = d.cmd('log.dest\tfd\tapp.log')
        self.assertTrue([l for l in out if l.startswith('warning\t')], out)
        self.agent(d, 'app', opts=['notify', 'fdstore=2'])
        self.up(d, 'app')
        self.store(d, 'app', 'log', [['pipe-w']])
        self.assertIsNone(self.fd_state(d, 'app.log'), 'no handle app.log: the log stays paused')
        self.assertEqual(self.stored_handles(d, 'app'), ['app..log'])
        # once the controller makes it, the log goes there
        victim_log = self.path('victim.log')
        self.no_errors(d.cmd('fd.open\tapp.log\twrite,create,append\t' + victim_log))
        self.assertCmdError(d, 'bogus.command')
        self.wait_text(victim_log, lambda t: 'bogus.command' in t)

    def test_colliding_names_refused(self):
        d = self.daemon()
        ctl_file = self.path('ctl.txt')
        self.no_errors(d.cmd('fd.open\tapp..log\twrite,create\t' + ctl_file))
        self.agent(d, 'app', opts=['notify', 'fdstore=8'])
        self.agent(d, 'app.worker', opts=['notify', 'fdstore=2'])
        self.agent(d, 'b', opts=['notify', 'fdstore=8'])
        self.up(d, 'app')
        self.up(d, 'app.worker')
        self.up(d, 'b')
        self.assertEqual(self.store(d, 'app.worker', 'stored',
                                    [['ro', self.write_file('w.txt', 'w')]])[1],
                         'app.worker..stored')
        base = self.warm(d, 'app')
        before = {n: self.fd_state(d, n) for n in ('app..log', 'app.worker..stored')}
        files = dp_files(d)
        f = self.write_file('evil.txt', 'evil')
        # a handle a controller made in app's namespace, and names that
        # would leave it (nested-looking, or meeting another's separator)
        mark = self.log_mark(d)
        for fdname in ('log', 'worker..stored', '.worker..stored', 'x.', '..'):
            self.send_notify('app', 'FDSTORE=1\nFDNAME=' + fdname, fds=[['ro', f]])
        w = self.refused(d, 'app', mark, ['log', 'nested', 'leading dot', 'trailing dot', '..'])
        self.assertIn('fd store did not make', w[0])
        for line in w[1:]:
            self.assertIn('invalid FDNAME', line)
        mark = self.log_mark(d)
        for fdname in ('a..b', '.x', 'x..'):
            self.send_notify('b', 'FDSTORE=1\nFDNAME=' + fdname, fds=[['ro', f]])
        self.refused(d, 'b', mark, ['a..b', '.x', 'x..'])
        self.assertEqual(self.stored_handles(d, 'app') + self.stored_handles(d, 'b'), [])
        for n, line in before.items():
            self.assertEqual(self.fd_state(d, n), line, '%s untouched' % n)
        self.settle_fds(d, base, 'every refused fd closed')
        self.assertEqual(dp_files(d), files)

    def test_replaced_or_deleted_by_a_controller(self):
        d = self.daemon()
        self.agent(d, 'app', opts=['notify', 'listen-fds', 'fdstore=4'])
        self.up(d, 'app')
        self.store(d, 'app', 'web', [['ro', self.write_file('web.txt', 'web')]])
        self.store(d, 'app', 'gone', [['ro', self.write_file('gone.txt', 'gone')]])
        self.store(d, 'app', 'kept', [['ro', self.write_file('kept.txt', 'kept')]])
        ctl_file = self.write_file('ctl.txt', 'ctl')
        self.no_errors(d.cmd('fd.open\tapp..web\tread\t' + ctl_file))
        self.assertEqual([l for l in d.cmd('fd.delete\tapp..gone')
                          if not l.startswith('service.notify')], ['fd.state\tapp..gone\tdeleted'])
        ctl_line = self.fd_state(d, 'app..web')
        self.assertEqual(ctl_line, 'fd.state\tapp..web\tfile\tread\t' + ctl_file)
        mark = self.log_mark(d)
        self.send_notify('app', 'FDSTORE=1\nFDNAME=web', fds=[['ro', ctl_file]])
        self.send_notify('app', 'FDSTOREREMOVE=1\nFDNAME=web')
        self.refused(d, 'app', mark, ['web: the controller\'s now'])
        self.assertEqual(self.fd_state(d, 'app..web'), ctl_line)
        self.assertEqual([l for l in d.reader.seen if l == 'fd.state\tapp..web\tdeleted'], [])
        _, st, _ = self.restart(d, 'app')
        self.assertEqual((st['env'].get('LISTEN_FDS'), st['env'].get('LISTEN_FDNAMES')),
                         ('1', 'kept'))

    def test_ownership_survives_reexec(self):
        d = self.daemon()
        self.agent(d, 'app', opts=['notify', 'listen-fds', 'fdstore=4'])
        self.up(d, 'app')
        self.store(d, 'app', 'web', [['ro', self.write_file('web1.txt', '1')]])
        ctl_file = self.write_file('ctl.txt', 'ctl')
        self.no_errors(d.cmd('fd.open\tapp..ctl\tread\t' + ctl_file))
        d.send('reexec')
        ev = d.expect(lambda l: l.startswith(('reexec\t', 'error\t')))
        self.assertTrue(ev.startswith('reexec\t'), ev)
        mark = self.log_mark(d)
        web2 = self.write_file('web2.txt', '2')
        self.store(d, 'app', 'web', [['ro', web2]])     # its own: replaced
        self.send_notify('app', 'FDSTORE=1\nFDNAME=ctl', fds=[['ro', web2]])
        self.refused(d, 'app', mark, ['ctl'])
        self.assertEqual(self.fd_state(d, 'app..ctl'), 'fd.state\tapp..ctl\tfile\tread\t' + ctl_file)
        _, st, _ = self.restart(d, 'app')
        self.assertEqual(st['env'].get('LISTEN_FDNAMES'), 'web')
        self.assertEqual(st['fds']['3'].get('link'), web2)


class Limit(StoreBase):
    LIMIT = 1024

    def fill(self, d, svc, n):
        """Store n fds in messages of up to 253 (FDNAMEs f0, f1...)."""
        k = 0
        while n > 0:
            m = min(n, 253)
            self.send_notify(svc, 'FDSTORE=1\nFDNAME=f%d' % k, fds=[['dup', m]])
            n -= m
            k += 1
        self.marker(d, svc)

    def daemon_with_room(self):
        """A daemon whose children may open more than 1024 fds (they get
        its own soft limit): with 1,024 inherited, a Python one needs more."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 2048
        if soft != resource.RLIM_INFINITY and soft < want:
            if (hard != resource.RLIM_INFINITY and hard < want) or not shutil.which('prlimit'):
                self.skipTest('RLIMIT_NOFILE %s:%s leaves a child no room over 1024 fds'
                              % (soft, hard))
            env = {k: v for k, v in os.environ.items() if k not in NOTIFY_VARS}
            self.d = self.start(prefix=['prlimit', '--nofile=%d:%s' % (want, hard)], env=env)
            return self.d
        return self.daemon()

    def test_full_store_keeps_starting(self):
        d = self.daemon_with_room()
        self.agent(d, 'big', opts=['notify', 'listen-fds', 'fdstore=1024'])
        self.up(d, 'big')
        room = self.LIMIT - 3      # null, null, stderr
        self.fill(d, 'big', room)
        self.assertEqual(len(self.stored_handles(d, 'big')), room)
        mark = self.log_mark(d)
        self.send_notify('big', 'FDSTORE=1\nFDNAME=extra', fds=[['dup', 1]])
        self.marker(d, 'big')
        # it starts, every time, with all it stored
        for _ in range(2):
            self.kill_svc(d, 'big')
            d.send('service.start\tbig')
            f = d.expect(lambda l: l.startswith(('service.state\tbig\tup\t', 'error\t')))
            self.assertTrue(f.startswith('service.state'), f)
            st = self.start_rec(int(f.split('\t')[4]))
            self.pids['big'] = int(f.split('\t')[4])
            self.assertEqual(len(st['fds']), self.LIMIT)
            self.assertEqual(st['env'].get('LISTEN_FDS'), str(room))
        # the one too many was refused when it came, saying why
        w = self.warnings_since(d, mark)
        self.assertEqual(len(w), 1, w)
        self.assertIn("FDSTORE: 1 of 1 fds named 'extra' refused: a child can be given at most "
                      "1024 fds, and service.fds has 3", w[0])
        self.assertEqual(len(self.stored_handles(d, 'big')), room)
        # service.fds grows: what no longer fits stays stored, not handed back
        self.no_errors(d.cmd('service.fds\tbig\tnull\tnull\tstderr\tnull\tnull'))
        mark = self.log_mark(d)
        _, st, _ = self.restart(d, 'big')
        self.assertEqual(len(st['fds']), self.LIMIT)
        self.assertEqual(st['env'].get('LISTEN_FDS'), str(self.LIMIT - 3))
        self.expect_warnings(d, mark, 1, 'stored fds not handed back')
        self.assertIn('service big: 2 stored fds not handed back: with 5 in service.fds, '
                      'a child can be given at most 1024', self.warnings_since(d, mark)[0])
        self.assertEqual(len(self.stored_handles(d, 'big')), room)
        self.assertEqual(self.dump_state(d, 'big')[2], 'up')
