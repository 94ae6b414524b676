"""dpcontroller --check passes only what the daemon accepts (issue 18,
point 10): a services file whose values would inject protocol lines (TAB,
newline in an environment name), that name a signal the daemon's table
lacks (RTMIN: every stop would end in SIGKILL), or make a command line the
daemon refuses (over 4,096 bytes: the controller would crash-loop) exits 1
with the file, the service and the key named, and prints no plan.  The
last test runs a file that --check passes through the real daemon: every
command it sends is taken without an error."""

import os
import subprocess
import sys
import textwrap
import unittest

from dp import DPTest, REPO, TIMEOUT

ENV = dict(os.environ, PYTHONPATH=os.path.join(REPO, 'python'), PYTHONDONTWRITEBYTECODE='1')
LONG = 'a' * 4100

# (what, the [service.web] table's extra keys, the key --check must name)
VARIANTS = [
    ('TAB in an environment name', 'env = { "A\\tB" = "1" }', "service.web.env.'A\\tB'"),
    ('newline in an environment name', 'env = { "A\\nB" = "1" }', "service.web.env.'A\\nB'"),
    ('control character in an environment name', 'env = { "A\\u0001" = "1" }',
     'service.web.env.'),
    ('space in an environment name', 'env = { "A B" = "1" }', 'service.web.env.A B'),
    ('dot in an environment name', 'env = { "a.b" = "1" }', 'service.web.env.a.b'),
    ('stop_signal RTMIN', 'stop_signal = "RTMIN"', 'service.web.stop_signal'),
    ('stop_signal SIGRTMAX', 'stop_signal = "SIGRTMAX"', 'service.web.stop_signal'),
    ('stop_signal IOT, an alias the daemon lacks', 'stop_signal = "IOT"',
     'service.web.stop_signal'),
    ('a run line over 4096 bytes', 'run = ["sleep", "%s"]' % LONG, 'service.web.run'),
    ('a cwd that makes the line too long', 'cwd = "/%s"' % LONG, 'service.web.cwd'),
    ('an environment line over 4096 bytes', 'env = { X = "%s" }' % LONG, 'service.web.env'),
    ('a logger line over 4096 bytes', 'log = ["cat", "%s"]' % LONG, 'service.web.log'),
    ('an empty program', 'run = [""]', 'service.web.run'),
]


class Check(DPTest):

    def check(self, text):
        path = self.write_file('services.toml', text)
        r = subprocess.run([sys.executable, '-m', 'daemonproxy.controller', '--check', path],
                           env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=4 * TIMEOUT)
        return path, r

    def test_each_variant_refused(self):
        for what, keys, key in VARIANTS:
            with self.subTest(what=what):
                table = keys if keys.startswith('run =') else 'run = ["sleep", "100"]\n' + keys
                path, r = self.check('[service.web]\n%s\n' % table)
                self.assertEqual(r.returncode, 1, (what, r.stdout[:300], r.stderr))
                self.assertEqual(r.stdout, '', 'no plan for a bad file')
                self.assertIn('%s: %s' % (path, key), r.stderr)
                for line in r.stderr.splitlines():
                    self.assertRegex(line, r'dpcontroller: %s: service\.web' % path,
                                     'one line per problem: %r' % r.stderr)

    def test_a_file_that_passes_runs_through_the_daemon(self):
        # the longest values --check takes: every command of the plan is
        # accepted by the real daemon (no error, no line too long)
        room = 4096 - len('service.args\tweb\tsleep\t\n')
        path, r = self.check(textwrap.dedent('''
            [service.web]
            run = ["sleep", "%s"]
            env = { _A1 = "x=y", PATH = "/bin" }
            stop_signal = 34

            [service.db]
            run = ["sleep", "1"]
            stop_signal = "pwr"
        ''' % ('9' * room)))
        self.assertEqual(r.returncode, 0, r.stderr)
        commands = [line for line in r.stdout.splitlines() if line and not line.startswith('#')]
        self.assertIn('service.env\tweb\tPATH=/bin\t_A1=x=y', commands)
        self.assertIn('stop=34/10s', r.stdout)
        self.assertIn('stop=SIGPWR/10s', r.stdout)
        d = self.start()
        for c in commands + ['service.signal\tweb\t34', 'service.signal\tdb\tSIGPWR']:
            out = d.cmd(c)
            self.assertFalse([l for l in out if l.startswith('error') and 'not running' not in l],
                             (c[:60], out))


if __name__ == '__main__':
    unittest.main()
