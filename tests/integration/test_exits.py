"""docs/protocol.md, "Exit history": per service the last 5 exits and a
count of exits since SINCE, in statedump (`service.exits`, after the
service's other lines, only once it exited) and answered to
`service.exits→NAME`; the count starts again at `service.want→NAME→up`,
not at a restart by auto-up or a controller; kept across a re-exec,
forgotten with the service.  And what dpctl makes of it: LAST while a
restart is pending, the EXITS column, the `stopped`/`failed` states from
the want, `dpctl status NAME` in detail, and --json."""

import json
import re

from dp import VALGRIND_DIR
from test_dpctl import DpctlTest

# Exits with 1, 2, 3, ... at its runs: the ring's order is in the codes.
COUNTER = 'n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count; exit $n'


def exits_lines(lines, name):
    return [l.split('\t') for l in lines if l.startswith('service.exits\t%s\t' % name)]


class Exits(DpctlTest):
    def counter(self, d, name):
        self.define(d, name, ['sh', '-c', COUNTER])
        d.cmd('chdir\t' + self.path(''))

    def run_once(self, d, name):
        """service.start NAME (as a controller restarts it) and wait for
        its exit."""
        d.send('service.start\t' + name)
        return self.expect_state(d, name, 'down')

    def dumped(self, d, name):
        """NAME's service.exits fields in a statedump (None if none),
        checked to come after its definition lines and before its
        service.notify and service.cgroup."""
        lines = [l for l in self.dump(d) if l.split('\t')[1:2] == [name]]
        got = exits_lines(lines, name)
        self.assertLessEqual(len(got), 1, lines)
        if got:
            kinds = [l.split('\t')[0] for l in lines]
            i = kinds.index('service.exits')
            self.assertEqual(set(kinds[i + 1:]) - {'service.notify', 'service.cgroup'}, set(),
                             lines)
            self.assertEqual(kinds[:5], ['service.state', 'service.tags', 'service.args',
                                         'service.fds', 'service.auto_up'], lines)
        return got[0] if got else None

    def test_ring_count_and_reset(self):
        d = self.daemon()
        self.define(d, 'idle', ['sleep', '1000'])
        self.counter(d, 'x')
        self.assertIsNone(self.dumped(d, 'x'))
        self.assertEqual(d.cmd('service.exits\tx'), ['service.exits\tx\t0\t-'])
        downs = [self.run_once(d, 'x') for _ in range(7)]
        self.assertEqual([st[6] for st in downs], [str(k) for k in range(1, 8)])
        ex = self.dumped(d, 'x')
        self.assertEqual(ex[2], '7')
        self.assertLessEqual(int(ex[3]), int(downs[0][3]))
        ring = [e.split(',') for e in ex[4:]]
        self.assertEqual([e[1:3] for e in ring], [['exit', str(k)] for k in (7, 6, 5, 4, 3)])
        self.assertEqual([e[0] for e in ring], [st[3] for st in reversed(downs[2:])])
        self.assertEqual([e[3] for e in ring], [st[7] for st in reversed(downs[2:])])
        self.assertEqual(d.cmd('service.exits\tx'), ['\t'.join(ex)])
        # never exited: no line in the dump, and not broadcast: the
        # connection saw no service.exits but the replies it asked for
        self.assertIsNone(self.dumped(d, 'idle'))
        self.assertEqual(exits_lines(d.cmd(), 'x'), [])
        # an operator's start begins the count again, the ring stays ...
        out = d.cmd('service.want\tx\tup')
        self.assertEqual([l for l in out if l.startswith('error')], [])
        want_ts = [l.split('\t') for l in out if l.startswith('service.want\t')][0][4]
        self.expect_state(d, 'x', 'down')
        ex = self.dumped(d, 'x')
        self.assertEqual(ex[2:4], ['1', want_ts])
        self.assertEqual([e.split(',')[2] for e in ex[4:]], ['8', '7', '6', '5', '4'])
        # ... a controller's restart does not
        self.run_once(d, 'x')
        self.assertEqual(self.dumped(d, 'x')[2:4], ['2', want_ts])
        # the service's going takes it
        d.cmd('service.delete\tx')
        self.counter(d, 'x')
        self.assertIsNone(self.dumped(d, 'x'))

    def test_auto_up_restart_counts_on(self):
        d = self.daemon()
        self.define(d, 'loop', ['sh', '-c', 'kill -9 $$'], auto_up=[1, 'always'])
        for _ in range(3):
            self.expect_state(d, 'loop', 'down')
        ex = self.dumped(d, 'loop')
        self.assertGreaterEqual(int(ex[2]), 3)
        self.assertEqual(len(ex) - 4, min(int(ex[2]), 5))
        self.assertEqual({tuple(e.split(',')[1:3]) for e in ex[4:]}, {('signal', 'SIGKILL')})

    def test_query_errors(self):
        d = self.daemon()
        self.define(d, 'x', ['true'])
        for line, msg in (('service.exits\tnope', "no such service 'nope'"),
                          ('service.exits\tbad name', "invalid service name 'bad name'"),
                          ('service.exits\t' + 'n' * 32, 'invalid service name'),
                          ('service.exits', 'expected 1 argument'),
                          ('service.exits\tx\tx', 'expected 1 argument')):
            self.assertCmdError(d, line, msg)
        self.assertTrue(d.alive())

    def test_survives_reexec(self):
        if VALGRIND_DIR:
            self.skipTest('a re-exec leaves valgrind')
        d = self.daemon()
        self.counter(d, 'x')
        for _ in range(6):
            self.run_once(d, 'x')
        d.cmd('service.want\tx\tup')
        self.expect_state(d, 'x', 'down')
        before = self.dumped(d, 'x')
        self.assertEqual(before[2], '1')
        d.send('reexec')
        d.expect(lambda l: l.startswith('reexec\t'))
        self.assertEqual(self.dumped(d, 'x'), before)
        self.run_once(d, 'x')
        after = self.dumped(d, 'x')
        self.assertEqual(after[2:4], ['2', before[3]])
        self.assertEqual(after[5:], before[4:-1])

    # --- dpctl -------------------------------------------------------------

    def test_status_shows_the_loop(self):
        d = self.daemon()
        # restarts after 30 s: the pending restart is what status sees
        self.define(d, 'loop', ['sh', '-c', 'exit 3'], auto_up=[30, 'always'], tags=['web'])
        self.expect_state(d, 'loop', 'down')
        self.expect_state(d, 'loop', 'start')
        self.define(d, 'gone', ['sh', '-c', 'kill -9 $$'])
        self.start_svc(d, 'gone')
        self.expect_state(d, 'gone', 'down')
        d.cmd('service.want\tgone\tfailed\trestart\tlimit')
        self.define(d, 'held', ['sleep', '1000'])
        d.cmd('service.want\theld\tdown')
        rows, order = self.status_rows()
        self.assertEqual(order, ['gone', 'held', 'loop'])
        self.assertEqual(rows['loop'][1:3], ['start', '-'])
        self.assertRegex(rows['loop'][3], r'^in \d+s$')
        self.assertEqual(rows['loop'][4], 'exit 3')
        self.assertRegex(rows['loop'][7], r'^1 in \d+s$')
        self.assertEqual(rows['gone'][1], 'failed')
        self.assertEqual(rows['gone'][4], 'signal SIGKILL')
        self.assertEqual(rows['held'][1], 'stopped')
        self.assertEqual(rows['held'][4:], ['-', '-', '-', '-'])
        # the detail view of one name
        r = self.ok('status', 'gone')
        self.assertEqual(r.lines[0], 'gone')
        keys = [re.match(r'^  ([a-z-]+):', l).group(1) for l in r.lines[1:]
                if re.match(r'^  [a-z-]+:', l)]
        self.assertEqual(keys, ['state', 'want', 'args', 'ready', 'status', 'tags', 'fds',
                                'auto-up', 'exits'])
        text = r.out
        self.assertRegex(text, r'\n  state: +failed for \d+s\n')
        self.assertRegex(text, r'\n  want: +failed, by stdin, \d+s ago: restart limit\n')
        self.assertIn("\n  args:     sh -c 'kill -9 $$'\n", text)
        self.assertRegex(text, r'\n  exits: +1 in \d+s\n +\d+s ago +signal SIGKILL +after \d+s\n$')
        r = self.ok('status', 'loop')
        self.assertRegex(r.out, r'\n  state: +start in \d+s \(a restart: the last run ended '
                                r'with exit 3\)\n')
        self.assertIn('\n  auto-up:  always/30s\n', r.out)
        self.assertIn('\n  tags:     web\n', r.out)
        # JSON: the want and the history, additive
        data = {o['name']: o for o in self.status_json()}
        self.assertEqual(data['gone']['want']['want'], 'failed')
        self.assertEqual(data['gone']['want']['by'], 'stdin')
        self.assertEqual(data['gone']['want']['why'], ['restart', 'limit'])
        self.assertEqual(data['gone']['exits']['count'], 1)
        self.assertEqual([(e['reason'], e['value']) for e in data['gone']['exits']['last']],
                         [('signal', 'SIGKILL')])
        self.assertEqual((data['loop']['state'], data['loop']['reason'], data['loop']['value']),
                         ('start', 'exit', '3'))
        self.assertIsNone(data['held']['exits'])
        # several names, or a pattern: the table still
        self.assertEqual(self.table(self.ok('status', 'loop', 'gone'))[1], ['loop', 'gone'])
        self.assertEqual(self.table(self.ok('status', 'l*'))[1], ['loop'])
        self.assertEqual(json.loads(self.ok('status', '--json', 'loop').out)[0]['name'], 'loop')
