"""dpcontroller's day-2 operations (issue 20), without a daemon (over the
fake client of test_controller_policy): what --check finds on the host
(check_runnable), the requests it serves (reload, shutdown), a bad file
at start (wait for a reload, still honour SIGTERM and shutdown), the
container main's default restart rule, and a change's stop that ends
during a shutdown."""

import os
import sys
import tempfile
import unittest

import _path

_path.check()

from daemonproxy import ServiceState, Signal                        # noqa: E402
from daemonproxy.events import CtlRequest, CtlRequestId, parse_event  # noqa: E402
from test_controller_policy import NEED, FakeClient                 # noqa: E402

if sys.version_info >= (3, 11):
    from daemonproxy.controller.check import check_runnable
    from daemonproxy.controller.config import Config, parse
    from daemonproxy.controller.controller import NOTICE_FIRST, Controller, Timer
    from daemonproxy.controller.policy import make_tags
    from daemonproxy.controller.requests import REPLY_TEXT_MAX, reply_command, shutdown_code
    from daemonproxy.controller.unit import Phase


def request(id_, verb, *args, by='uid=0'):
    """The event a served request arrives as (the library parses it)."""
    return parse_event('\t'.join(('ctl.request', str(id_), by, verb) + args))


@NEED
class Runnable(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(lambda: __import__('shutil').rmtree(self.dir))
        self.bin = os.path.join(self.dir, 'bin')
        os.mkdir(self.bin)
        for name, mode in (('prog', 0o755), ('noexec', 0o644)):
            p = os.path.join(self.bin, name)
            with open(p, 'w') as f:
                f.write('#!/bin/sh\n')
            os.chmod(p, mode)

    def check(self, services, path=None):
        cfg = parse({'service': services}, 's.toml')
        return check_runnable(cfg, self.bin if path is None else path)

    def test_all_problems_at_once_with_their_keys(self):
        got = self.check({
            'ok': {'run': ['prog']},
            'api': {'run': ['nosuch']},
            'web': {'run': ['prog'], 'cwd': os.path.join(self.dir, 'gone')},
            'talk': {'run': ['prog'], 'log': ['nologger', '/var/log/x']},
            'abs': {'run': [os.path.join(self.bin, 'noexec')]},
            'rel': {'run': ['noexec']},
            'dir': {'run': [self.bin]},
        })
        self.assertEqual(got, [
            "s.toml: service.api.run: 'nosuch': not found in PATH=%s" % self.bin,
            "s.toml: service.web.cwd: %r: no such directory" % os.path.join(self.dir, 'gone'),
            "s.toml: service.talk.log: 'nologger': not found in PATH=%s" % self.bin,
            "s.toml: service.abs.run: %r: not executable" % os.path.join(self.bin, 'noexec'),
            "s.toml: service.rel.run: 'noexec': found as %s, which is not executable"
            % os.path.join(self.bin, 'noexec'),
            "s.toml: service.dir.run: %r: is a directory" % self.bin,
        ])

    def test_the_search_path_is_the_one_the_exec_uses(self):
        # no cwd: daemonproxy's execvpe searches its own PATH, whatever env says
        self.assertEqual(self.check({'a': {'run': ['prog'], 'env': {'PATH': '/nowhere'}}}), [])
        # with cwd too (daemonproxy's cwd=, no chain-loader searching env's PATH)
        self.assertEqual(
            self.check({'a': {'run': ['prog'], 'cwd': self.dir, 'env': {'PATH': '/nowhere'}}}),
            [])
        self.assertEqual(self.check({'a': {'run': ['prog'], 'cwd': self.dir}}), [])
        # a relative path is relative to cwd; a cwd that is a file is no directory
        self.assertEqual(self.check({'a': {'run': ['bin/prog'], 'cwd': self.dir}}), [])
        self.assertEqual(self.check({'a': {'run': ['prog'], 'cwd': os.path.join(self.bin,
                                                                              'prog')}}),
                         ["s.toml: service.a.cwd: %r: not a directory"
                          % os.path.join(self.bin, 'prog')])
        # a missing cwd hides no missing program (only a path relative to it)
        gone = os.path.join(self.dir, 'gone')
        self.assertEqual(self.check({'a': {'run': ['nosuch'], 'cwd': gone},
                                     'b': {'run': ['bin/x'], 'cwd': gone}}),
                         ["s.toml: service.a.cwd: %r: no such directory" % gone,
                          "s.toml: service.a.run: 'nosuch': not found in PATH=%s" % self.bin,
                          "s.toml: service.b.cwd: %r: no such directory" % gone])


@NEED
class MainRestart(unittest.TestCase):
    def test_main_defaults_to_never_an_explicit_rule_is_kept(self):
        cfg = parse({'controller': {'main': 'app'},
                     'service': {'app': {'run': ['a']}, 'db': {'run': ['d']}}})
        self.assertEqual((cfg.services['app'].restart, cfg.services['db'].restart),
                         ('never', 'always'))
        cfg = parse({'controller': {'main': 'app'},
                     'service': {'app': {'run': ['a'], 'restart': 'always'}}})
        self.assertEqual(cfg.services['app'].restart, 'always')

    def run_main(self, services, *events):
        """A controller in container mode (main: app) fed events; returns
        the fake client and the controller."""
        dp = FakeClient()
        c = Controller(dp, parse({'controller': {'main': 'app'}, 'service': services},
                                 'f.toml'), log=lambda s, m: None)
        c.reconcile()
        for ev in events:
            c.handle(dp.event(ev))
            c.flush()
        return dp, c

    def test_main_exit_7_stops_everything_then_terminate_7(self):
        dp, c = self.run_main({'app': {'run': ['a'], 'requires': ['db']}, 'db': {'run': ['d']}},
                              ServiceState('db', 'up', 100, 10),
                              ServiceState('app', 'up', 101, 11),
                              ServiceState('app', 'down', 101, 12, 'exit', 7, 1, 0),
                              ServiceState('db', 'down', 100, 12, 'signal', 'SIGTERM', 2, 0))
        stop = dp.sent.index(('service.signal', 'db', 'SIGTERM', 'group'))
        self.assertNotIn(('service.start', 'app'), dp.sent[stop:])
        self.assertEqual(dp.sent[-1], ('terminate', '7'))

    def test_main_that_can_never_start_ends_with_1(self):
        dp, c = self.run_main({'app': {'run': ['a'], 'requires': ['db']},
                               'db': {'run': ['d'], 'restart': 'never', 'ready': 'notify'},
                               'side': {'run': ['s']}},
                              ServiceState('side', 'up', 99, 10),
                              ServiceState('db', 'up', 100, 10),
                              ServiceState('db', 'down', 100, 12, 'exit', 3, 2, 0),
                              ServiceState('side', 'down', 99, 12, 'signal', 'SIGTERM', 2, 0))
        self.assertIn(('service.signal', 'side', 'SIGTERM', 'group'), dp.sent)
        self.assertNotIn(('service.start', 'app'), dp.sent)
        self.assertEqual(dp.sent[-1], ('terminate', '1'))

@NEED
class Requests(unittest.TestCase):
    def test_parse(self):
        r = request(12, 'shutdown', '3', by='uid=1000')
        self.assertIsInstance(r, CtlRequest)
        self.assertEqual((r.id, r.by, r.verb, r.args), (12, 'uid=1000', 'shutdown', ('3',)))
        self.assertEqual(request(1, 'reload').args, ())
        # the asker's answer is another event; the rest are no requests
        self.assertIsInstance(parse_event('ctl.request\t12\treload'), CtlRequestId)
        for line in ('ctl.request\tx\tuid=0\treload', 'ctl.requestx\t1\tuid=0\treload',
                     'echo\tctl.request\t1\tuid=0\treload'):
            self.assertNotIsInstance(parse_event(line), CtlRequest, line)

    def test_reply_is_one_field_of_bounded_size(self):
        r = request(4, 'reload')
        self.assertEqual(reply_command(r, 'ok', 'a\tb\nc'), ('ctl.reply', '4', 'ok', 'a b c'))
        self.assertEqual(reply_command(r, 'ok'), ('ctl.reply', '4', 'ok'))
        self.assertLessEqual(len(reply_command(r, 'error', 'x' * 10000)[3]), REPLY_TEXT_MAX)

    def test_shutdown_code(self):
        self.assertEqual(shutdown_code((), 5), (5, ''))
        self.assertEqual(shutdown_code(('255',), 0), (255, ''))
        for bad in (('256',), ('-1',), ('x',), ('1', '2')):
            self.assertIsNone(shutdown_code(bad, 0)[0], bad)


class ControllerCase(unittest.TestCase):
    def setUp(self):
        self.lines = []
        self.dp = FakeClient()
        self.dir = tempfile.mkdtemp()
        self.addCleanup(lambda: __import__('shutil').rmtree(self.dir))
        self.path = os.path.join(self.dir, 'services.toml')

    def write(self, text):
        with open(self.path, 'w') as f:
            f.write(text)

    def make(self, cfg=None, broken=None):
        c = Controller(self.dp, cfg if cfg is not None else Config(self.path),
                       log=lambda s, m: self.lines.append('%s: %s' % (s, m)), broken=broken)
        return c

    def feed(self, c, ev):
        c.handle(self.dp.event(ev))
        c.run_timers()
        c.flush()

    def replies(self, id_):
        return [f[2:] for f in self.dp.sent if f[:2] == ('ctl.reply', str(id_))]

    def managed(self, name, pid, svc_hash='0123456789ab'):
        """name runs (pid), defined by an earlier controller."""
        from daemonproxy.events import ServiceTags
        self.dp.event(ServiceTags(name, make_tags(svc_hash)))
        self.dp.event(ServiceState(name, 'up', pid, 10))


@NEED
class Serve(ControllerCase):
    GOOD = '[service.a]\nrun = ["sleep", "1"]\n'

    def start(self, text):
        self.write(text)
        from daemonproxy.controller.config import load
        c = self.make(load(self.path))
        c.send('ctl.serve', 'reload', 'shutdown')
        c.reconcile()
        c.flush()
        return c

    def test_serves_reload_and_shutdown(self):
        self.start(self.GOOD)
        self.assertEqual(self.dp.sent[0], ('ctl.serve', 'reload', 'shutdown'))

    def test_reload_good_then_bad(self):
        c = self.start(self.GOOD)
        self.write(self.GOOD.replace('"1"', '"2"') + '[service.b]\nrun = ["sleep", "3"]\n')
        self.feed(c, request(7, 'reload', by='uid=1000'))
        self.assertEqual(self.replies(7), [('ok', 'reloaded %s: 1 changed, 1 added, 0 removed'
                                            % self.path)])
        self.assertIn('controller: uid=1000 asked: reload', self.lines)
        self.write('[service.a]\nrun = 3\n[service.c\n')
        before = len(self.dp.sent)
        self.feed(c, request(8, 'reload'))
        (status, text), = self.replies(8)
        self.assertEqual(status, 'error')
        self.assertIn('%s: not valid TOML' % self.path, text)
        self.assertIn('line 3', text)
        self.assertEqual(self.dp.sent[before:], [('ctl.reply', '8', 'error', text)],
                         'a bad file changes nothing')

    def test_reload_warns_of_what_cannot_run(self):
        c = self.start(self.GOOD)
        self.write('[service.a]\nrun = ["sleep", "1"]\ncwd = "/no/such/dir"\n')
        self.feed(c, request(9, 'reload'))
        got = self.replies(9)
        self.assertEqual(got[0], ('info', "warning: %s: service.a.cwd: '/no/such/dir': no such "
                                  "directory" % self.path))
        self.assertEqual(got[1][0], 'ok')

    def test_shutdown_replies_first_then_stops_then_terminates(self):
        c = self.start(self.GOOD)
        self.feed(c, ServiceState('a', 'up', 100, 10))
        self.feed(c, request(3, 'shutdown', '4', by='uid=0'))
        i = self.dp.sent.index(('ctl.reply', '3', 'ok', 'shutting down'))
        self.assertEqual(self.dp.sent[i + 1:], [('service.tags', 'controller', 'dpc.shutdown=4')]
                         if c.own else [('service.signal', 'a', 'SIGTERM', 'group')])
        self.feed(c, ServiceState('a', 'down', 100, 11, 'signal', 'SIGTERM', 1, 0))
        self.assertEqual(self.dp.sent[-1], ('terminate', '4'))
        self.feed(c, request(5, 'shutdown', 'x'))
        self.assertEqual(self.replies(5)[0][0], 'error')

    def test_unknown_verb_and_reload_during_shutdown(self):
        c = self.start(self.GOOD)
        self.feed(c, request(1, 'frobnicate'))
        self.assertEqual(self.replies(1)[0][0], 'error')
        self.feed(c, ServiceState('a', 'up', 100, 10))
        self.feed(c, Signal('SIGTERM', 1, 1))
        self.feed(c, request(2, 'reload'))
        self.assertEqual(self.replies(2),
                         [('error', 'shutting down (exit code 0): not reloading')])


@NEED
class BadFileAtStart(ControllerCase):
    PROBLEMS = ['f: service.a.run: must be a list of strings']

    def broken(self):
        self.write('[service.a]\nrun = 3\n')
        c = self.make(broken=list(self.PROBLEMS))
        c.wait_for_file()
        c.reconcile()
        c.flush()
        return c

    def test_running_services_are_left_alone_then_sigterm_stops_them(self):
        self.managed('web', 100)
        self.managed('db', 101)
        c = self.broken()
        self.assertEqual([f for f in self.dp.sent if f[0] != 'signal.clear'], [],
                         'a bad file touches nothing')
        self.feed(c, ServiceState('web', 'down', 100, 12, 'exit', 1, 2, 0))
        self.assertEqual([f for f in self.dp.sent if f[0] == 'service.start'], [],
                         'nothing is restarted while the file is bad')
        self.dp.event(ServiceState('web', 'up', 102, 13))
        self.feed(c, Signal('SIGTERM', 5, 1))
        self.assertIn(('service.signal', 'web', 'SIGTERM', 'group'), self.dp.sent)
        self.assertIn(('service.signal', 'db', 'SIGTERM', 'group'), self.dp.sent)
        self.feed(c, ServiceState('web', 'down', 102, 14, 'signal', 'SIGTERM', 1, 0))
        self.feed(c, ServiceState('db', 'down', 101, 14, 'signal', 'SIGTERM', 4, 0))
        self.assertEqual(self.dp.sent[-1], ('terminate', '0'))

    def test_shutdown_request_while_waiting(self):
        c = self.broken()
        self.feed(c, request(6, 'shutdown', '2'))
        self.assertEqual(self.replies(6), [('ok', 'shutting down')])
        self.assertEqual(self.dp.sent[-1], ('terminate', '2'))

    def test_notices_at_growing_intervals(self):
        c = self.broken()
        self.assertEqual(len(self.lines), 1)
        self.assertIn('refusing to start with a bad file', self.lines[0])
        gaps = []
        for _ in range(5):
            due = c.timer_due[(Timer.NOTICE, 'controller')]
            gaps.append(due)
            c.timer_due[(Timer.NOTICE, 'controller')] = 0
            c.timers = [(0, 0, Timer.NOTICE, 'controller')]
            c.run_timers()
        self.assertEqual(len(self.lines), 6)
        self.assertTrue(all('still waiting for a valid %s' % self.path in l
                            for l in self.lines[1:]), self.lines)
        self.assertEqual([int(l.rsplit(' ', 1)[1][:-1]) for l in self.lines[1:]],
                         [2 * NOTICE_FIRST, 4 * NOTICE_FIRST, 8 * NOTICE_FIRST,
                          16 * NOTICE_FIRST, 32 * NOTICE_FIRST])

    def test_reload_with_a_good_file_runs_it_and_adopts(self):
        from daemonproxy.controller.config import load
        self.write('[service.web]\nrun = ["sleep", "1"]\n[service.new]\nrun = ["sleep", "2"]\n')
        h = load(self.path).services['web'].hash
        self.managed('web', 100, h)
        self.write('[service.web]\nrun = 3\n')
        c = self.make(broken=list(self.PROBLEMS))
        c.wait_for_file()
        c.reconcile()
        c.flush()
        self.feed(c, request(2, 'reload'))
        self.assertEqual(self.replies(2)[0][0], 'error')
        self.write('[service.web]\nrun = ["sleep", "1"]\n[service.new]\nrun = ["sleep", "2"]\n')
        self.feed(c, request(3, 'reload'))
        self.assertEqual(self.replies(3), [('ok', 'loaded %s: 2 services' % self.path)])
        self.assertIsNone(c.broken)
        self.assertNotIn((Timer.NOTICE, 'controller'), c.timer_due)
        starts = [f for f in self.dp.sent if f[0] == 'service.start']
        self.assertEqual(starts, [('service.start', 'new')], 'web adopted, new started')
        self.assertEqual(c.units['web'].phase, Phase.READY)


@NEED
class ChangeDuringShutdown(ControllerCase):
    def test_a_change_stop_that_ends_in_a_shutdown_lets_the_next_step_run(self):
        """web requires db; web's definition changed (its stop goes on)
        when the shutdown begins: once web is down, db is stopped at
        once, not at the shutdown deadline."""
        self.write('[service.db]\nrun = ["sleep", "1"]\n'
                   '[service.web]\nrun = ["sleep", "2"]\nrequires = ["db"]\n')
        from daemonproxy.controller.config import load
        c = self.make(load(self.path))
        c.reconcile()
        c.flush()
        for ev in (ServiceState('db', 'up', 100, 10), ServiceState('web', 'up', 101, 10)):
            self.feed(c, ev)
        self.write('[service.db]\nrun = ["sleep", "1"]\n'
                   '[service.web]\nrun = ["sleep", "3"]\nrequires = ["db"]\n')
        c.reload()
        c.flush()
        self.assertEqual(c.units['web'].stop_purpose, 'change')
        self.feed(c, Signal('SIGTERM', 5, 1))
        self.assertNotIn(('service.signal', 'db', 'SIGTERM', 'group'), self.dp.sent)
        self.feed(c, ServiceState('web', 'down', 101, 12, 'signal', 'SIGTERM', 2, 0))
        self.assertIn(('service.signal', 'db', 'SIGTERM', 'group'), self.dp.sent)
        self.feed(c, ServiceState('db', 'down', 100, 12, 'signal', 'SIGTERM', 2, 0))
        self.assertEqual(self.dp.sent[-1], ('terminate', '0'))


if __name__ == '__main__':
    unittest.main()
