"""daemonproxy.controller.config: reading and checking the services file
(every error, with file and key), the dependency graph (order, cycles)."""

import os
import sys
import tempfile
import unittest

import _path

_path.check()

if sys.version_info >= (3, 11):
    from daemonproxy.controller.config import ConfigError, find_cycle, load, parse, start_order


def problems(data):
    try:
        parse(data, 'f.toml')
    except ConfigError as e:
        return e.problems
    raise AssertionError('no ConfigError for %r' % (data,))


def svc(**kw):
    d = {'run': ['true']}
    d.update(kw)
    return d


@unittest.skipUnless(sys.version_info >= (3, 11), 'the controller needs tomllib (3.11)')
class Parse(unittest.TestCase):
    def test_defaults(self):
        cfg = parse({'service': {'web': svc()}}, 'f.toml')
        s = cfg.services['web']
        self.assertEqual((s.run, s.restart, s.backoff_base, s.backoff_max, s.backoff_reset),
                         (('true',), 'always', 1, 60, 30))
        self.assertEqual((s.stdin, s.stdout, s.stderr, s.ready, s.stop_signal, s.stop_timeout),
                         ('null', 'stdout', 'stderr', 'up', 'SIGTERM', 10))
        self.assertEqual((cfg.main, cfg.shutdown_timeout, cfg.exit_code), (None, 30, 0))

    def test_everything(self):
        cfg = parse({'controller': {'main': 'web', 'shutdown_timeout': 5, 'exit_code': 3},
                     'service': {'web': svc(env={'A': '1'}, cwd='/srv', log=['cat'],
                                            restart='on-failure', backoff_base=0.5,
                                            backoff_max=8, backoff_reset=0, requires=['db'],
                                            after=['db'], ready=2.5, stop_signal='int',
                                            stop_timeout=1),
                                 'db': svc(ready='notify', stop_signal=15)}}, 'f.toml')
        web = cfg.services['web']
        self.assertEqual((cfg.main, cfg.shutdown_timeout, cfg.exit_code), ('web', 5, 3))
        self.assertEqual((web.env, web.cwd, web.stdout, web.stderr, web.ready, web.stop_signal),
                         ((('A', '1'),), '/srv', 'log', 'log', 2.5, 'SIGINT'))
        self.assertEqual(cfg.services['db'].stop_signal, 'SIGTERM')
        lg = cfg.services['web.log']
        self.assertEqual((lg.run, lg.stdin, lg.logger_of, lg.pipe), (('cat',), 'log', 'web',
                                                                     ('web.log.r', 'web.log.w')))
        self.assertEqual(web.after, ('web.log', 'db'))
        self.assertEqual(cfg.dependencies('web'), ('db', 'web.log'))

    def test_hash_covers_definition_not_policy(self):
        a = parse({'service': {'w': svc()}}).services['w']
        b = parse({'service': {'w': svc(restart='never', stop_timeout=3)}}).services['w']
        c = parse({'service': {'w': svc(env={'X': 'y'})}}).services['w']
        self.assertEqual(a.hash, b.hash)
        self.assertNotEqual(a.hash, c.hash)
        self.assertEqual(len(a.hash), 12)

    def test_errors(self):
        cases = [
            ({'bogus': {}}, 'f.toml: bogus: unknown table'),
            ({'controller': 3}, 'f.toml: controller: must be a table'),
            ({'controller': {'x': 1}}, 'f.toml: controller.x: unknown key'),
            ({'controller': {'main': 'no/pe'}}, 'f.toml: controller.main: must be a service name'),
            ({'controller': {'main': 'x'}}, "f.toml: controller.main: no service named 'x'"),
            ({'controller': {'shutdown_timeout': 0}}, 'f.toml: controller.shutdown_timeout: must be'),
            ({'controller': {'shutdown_timeout': True}}, 'controller.shutdown_timeout: must be'),
            ({'controller': {'exit_code': 256}}, 'f.toml: controller.exit_code: must be an integer'),
            ({'service': 3}, 'f.toml: service: must be tables'),
            ({'service': {'a': 3}}, 'f.toml: service.a: must be a table'),
            ({'service': {'a b': svc()}}, 'f.toml: service.a b: invalid service name'),
            ({'service': {'x' * 32: svc()}}, 'invalid service name'),
            ({'service': {'a': {}}}, 'f.toml: service.a.run: missing'),
            ({'service': {'a': {'run': 'true'}}}, 'f.toml: service.a.run: must be a list of strings'),
            ({'service': {'a': {'run': []}}}, 'f.toml: service.a.run: must not be empty'),
            ({'service': {'a': {'run': ['a\tb']}}}, 'service.a.run: control characters'),
            ({'service': {'a': svc(colour=1)}}, 'f.toml: service.a.colour: unknown key'),
            ({'service': {'a': svc(env=[])}}, 'f.toml: service.a.env: must be a table'),
            ({'service': {'a': svc(env={'1X': 'v'})}}, 'f.toml: service.a.env.1X: invalid variable'),
            ({'service': {'a': svc(env={'X': 1})}}, 'f.toml: service.a.env.X: must be a string'),
            ({'service': {'a': svc(cwd='')}}, 'f.toml: service.a.cwd: must be a directory'),
            ({'service': {'a': svc(stdout='file')}}, 'f.toml: service.a.stdout: must be one of'),
            ({'service': {'a': svc(stderr='log')}}, 'service.a.stderr: "log" needs a log'),
            ({'service': {'a': svc(stdin='log', log=['cat'])}}, 'service.a.stdin: "log" is an output'),
            ({'service': {'a': svc(restart='sometimes')}}, 'f.toml: service.a.restart: must be one of'),
            ({'service': {'a': svc(backoff_base=-1)}}, 'f.toml: service.a.backoff_base: must be'),
            ({'service': {'a': svc(backoff_base=0)}}, 'service.a.backoff_base: must be'),
            ({'service': {'a': svc(backoff_max='1')}}, 'service.a.backoff_max: must be'),
            ({'service': {'a': svc(backoff_base=5, backoff_max=2)}},
             'service.a.backoff_max: must not be less than backoff_base'),
            ({'service': {'a': svc(backoff_reset=-1)}}, 'service.a.backoff_reset: must be'),
            ({'service': {'a': svc(stop_timeout=0)}}, 'service.a.stop_timeout: must be'),
            ({'service': {'a': svc(requires='b')}}, 'f.toml: service.a.requires: must be a list'),
            ({'service': {'a': svc(requires=['b'])}}, "f.toml: service.a.requires: no service named 'b'"),
            ({'service': {'a': svc(after=['b'])}}, "f.toml: service.a.after: no service named 'b'"),
            ({'service': {'a': svc(after=['a'])}}, 'service.a.after: a service cannot wait for itself'),
            ({'service': {'a': svc(ready='soon')}}, 'f.toml: service.a.ready: must be "up"'),
            ({'service': {'a': svc(ready=-1)}}, 'service.a.ready: must be'),
            ({'service': {'a': svc(stop_signal='SIGNOPE')}}, 'f.toml: service.a.stop_signal: unknown signal'),
            ({'service': {'a': svc(stop_signal=True)}}, 'service.a.stop_signal: unknown signal'),
            ({'service': {'a' * 26: svc(log=['cat'])}}, 'needs a name of at most 25 bytes'),
            ({'service': {'a': svc(log=['cat']), 'a.log': svc()}},
             "f.toml: service.a.log: the logger would be named 'a.log'"),
        ]
        for data, want in cases:
            with self.subTest(want=want):
                got = problems(data)
                self.assertTrue(any(want in p for p in got), got)

    def test_only_what_the_daemon_takes(self):
        # issue 18, point 10: every value that reaches a protocol line is
        # checked as the daemon reads it; the message names service and key
        long_arg = 'a' * 4100
        cases = [
            (svc(env={'A\tB': 'x'}), "service.a.env.'A\\tB': invalid variable name"),
            (svc(env={'A\nB': 'x'}), "service.a.env.'A\\nB': invalid variable name"),
            (svc(env={'A\x01': 'x'}), 'service.a.env.'),
            (svc(env={'A B': 'x'}), 'service.a.env.A B: invalid variable name'),
            (svc(env={'a.b': 'x'}), 'service.a.env.a.b: invalid variable name'),
            (svc(env={'\u00c9T\u00c9': 'x'}), 'invalid variable name'),
            (svc(env={'': 'x'}), 'service.a.env.: invalid variable name'),
            (svc(env={'V' * 256: 'x'}), 'invalid variable name'),
            (svc(env={'X': 'a\tb'}), 'service.a.env.X: must be a string without control'),
            (svc(env={'X': 'a\nb'}), 'service.a.env.X: must be a string without control'),
            (svc(env={'X': 'a\rb'}), 'service.a.env.X: must be a string without control'),
            (svc(env={'X': long_arg}), 'service.a.env: the daemon would refuse it: service.env: '
                                       'line of'),
            (svc(stop_signal='RTMIN'), "service.a.stop_signal: unknown signal 'RTMIN'"),
            (svc(stop_signal='SIGRTMIN'), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal='RTMIN+1'), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal='SIGRTMAX'), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal='IOT'), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal='POLL'), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal='TERM\n'), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal=0), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal=65), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal=-15), 'service.a.stop_signal: unknown signal'),
            (svc(stop_signal=15.0), 'service.a.stop_signal: unknown signal'),
            (svc(run=['x', long_arg]), 'service.a.run: the daemon would refuse it: service.args: '
                                       'line of'),
            (svc(cwd='/' + long_arg), 'service.a.cwd: the daemon would refuse it: '
                                      'service.opts: line of'),
            (svc(log=['cat', long_arg]), 'service.a.log: the daemon would refuse it: '
                                         'service.args: line of'),
            (svc(run=['']), 'service.a.run: the program (the first string) must not be empty'),
            (svc(log=['']), 'service.a.log: the program (the first string) must not be empty'),
            (svc(run=['a\x7f', 'b\x1b']), 'service.a.run: control characters'),
            (svc(log=['cat', 'x\ny']), 'service.a.log: control characters'),
            (svc(cwd='/srv\t'), 'service.a.cwd: must be a directory path'),
        ]
        for table, want in cases:
            with self.subTest(want=want):
                got = problems({'service': {'a': table}})
                self.assertTrue(any(('f.toml: ' + want) in p or want in p for p in got), got)
                self.assertFalse(any('\n' in p or '\t' in p for p in got), got)

    def test_signals_as_the_daemon_takes_them(self):
        for value, want in (('TERM', 'SIGTERM'), ('sigint', 'SIGINT'), (15, 'SIGTERM'),
                            ('io', 'SIGIO'), ('SIGPWR', 'SIGPWR'), (34, '34'), ('34', '34'),
                            (64, '64')):
            with self.subTest(value=value):
                cfg = parse({'service': {'a': svc(stop_signal=value)}})
                self.assertEqual(cfg.services['a'].stop_signal, want)

    def test_portable_env_names_pass(self):
        cfg = parse({'service': {'a': svc(env={'_X1': 'v', 'PATH': '/bin', 'a_b': 'x=y=z',
                                               'E': '', 'U': '\u00e9t\u00e9 \x7f'})}})
        self.assertEqual(len(cfg.services['a'].env), 5)

    def test_longest_lines_pass(self):
        # the longest argv that fits the daemon's 4,096-byte line: accepted
        room = 4096 - len('service.args\ta\tx\t\n')
        parse({'service': {'a': svc(run=['x', 'y' * room])}})
        with self.assertRaises(ConfigError):
            parse({'service': {'a': svc(run=['x', 'y' * (room + 1)])}})

    def test_all_problems_reported(self):
        got = problems({'service': {'a': svc(restart='x', ready='y'), 'b': {}}})
        self.assertEqual(len(got), 3, got)

    def test_load_file_errors(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, 's.toml')
            with self.assertRaises(ConfigError) as e:
                load(p)
            self.assertIn('s.toml: cannot read', str(e.exception))
            with open(p, 'w') as f:
                f.write('[service.a\n')
            with self.assertRaises(ConfigError) as e:
                load(p)
            self.assertIn('s.toml: not valid TOML', str(e.exception))
            with open(p, 'w') as f:
                f.write('[service.a]\nrun = ["true"]\n')
            self.assertEqual(list(load(p).services), ['a'])
            self.assertEqual(load(p).path, p)


@unittest.skipUnless(sys.version_info >= (3, 11), 'the controller needs tomllib (3.11)')
class Graph(unittest.TestCase):
    def test_order(self):
        cfg = parse({'service': {'web': svc(requires=['db'], after=['cache']),
                                 'db': svc(), 'cache': svc(after=['db']),
                                 'job': svc()}})
        self.assertEqual(start_order(cfg), [['db', 'job'], ['cache'], ['web']])
        self.assertEqual(cfg.dependents(), {'web': [], 'db': ['web', 'cache'],
                                            'cache': ['web'], 'job': []})

    def test_cycle_reported(self):
        got = problems({'service': {'a': svc(requires=['b']), 'b': svc(after=['c']),
                                    'c': svc(requires=['a']), 'd': svc()}})
        self.assertEqual(len(got), 1, got)
        self.assertIn('dependency cycle: ', got[0])
        cycle = got[0].split('dependency cycle: ')[1].split(' -> ')
        self.assertEqual(cycle[0], cycle[-1])
        self.assertEqual(sorted(cycle[:-1]), ['a', 'b', 'c'])

    def test_no_cycle_in_diamond(self):
        cfg = parse({'service': {'a': svc(requires=['b', 'c']), 'b': svc(requires=['d']),
                                 'c': svc(requires=['d']), 'd': svc()}})
        self.assertIsNone(find_cycle(cfg))
        self.assertEqual(start_order(cfg), [['d'], ['b', 'c'], ['a']])

    def test_long_chain(self):
        n = 3000
        services = {'s%d' % i: svc(requires=['s%d' % (i - 1)] if i else []) for i in range(n)}
        cfg = parse({'service': services})
        self.assertEqual(len(start_order(cfg)), n)


if __name__ == '__main__':
    unittest.main()


@unittest.skipUnless(sys.version_info >= (3, 11), 'the controller needs tomllib (3.11)')
class Check(unittest.TestCase):
    """dpcontroller --check FILE: exit 0 and the plan, or 1 and the problems."""

    def run_check(self, path, bindir=None):
        import subprocess
        env = dict(os.environ, PYTHONPATH=_path.PYTHON_DIR)
        if bindir is not None:
            env['PATH'] = bindir + ':' + env.get('PATH', os.defpath)
        return subprocess.run([sys.executable, '-m', 'daemonproxy.controller', '--check', path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              timeout=60, universal_newlines=True)

    def test_example_file_is_valid(self):
        # web's logger is dplog (log = true), which --check looks for in
        # PATH: a stand-in, as the Python tests do not build it
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'dplog'), 'w') as f:
                f.write('#!/bin/sh\n')
            os.chmod(os.path.join(d, 'dplog'), 0o755)
            p = self.run_check(os.path.join(_path.REPO, 'examples', 'services.toml'), d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('# start wave 1: db web.log\n', p.stdout)
        self.assertIn('fd.pipe\tweb.log.r\tweb.log.w\n', p.stdout)
        self.assertIn('service.opts\tdb\tnotify\n', p.stdout)

    def test_bad_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'bad.toml')
            with open(path, 'w') as f:
                f.write('[service.a]\nrun = ["x"]\nrequires = ["a2"]\n'
                        '[service.a2]\nrun = ["y"]\nafter = ["a"]\n')
            p = self.run_check(path)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, '')
        self.assertRegex(p.stderr, r'^\S+ dpcontroller: .*bad\.toml: service\.a2?: '
                                   r'dependency cycle: a2? -> a2? -> a2?\n')
