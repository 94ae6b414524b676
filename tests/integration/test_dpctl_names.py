"""dpctl: what a command's NAME operands stand for, and dpctl help COMMAND.

- Names: a pattern (fnmatch: * ? [...]) stands for the services it matches,
  sorted by name; `all` for every service but the controllers (fds naming
  control.*); names and patterns mixed, each service acted on once where it
  is first named; a pattern matching nothing is exit 3 naming it, the others
  still acted on; `all` of no services does nothing (0).  For status, start,
  stop, restart, signal and wait, against the real daemon.
- help: `dpctl help COMMAND` is `dpctl COMMAND --help`: the synopsis (the
  line --help lists and the man page's item), the description of dpctl(1)'s
  COMMANDS block word for word, the options; `dpctl help` is `dpctl --help`;
  an unknown command or two of them is a usage error (2).
"""

import os
import re

import dp
from test_dpctl import DpctlTest, man_items, NOSVC, TIMEDOUT, USAGE_CODE


class Names(DpctlTest):
    SERVICES = ['db', 'web1', 'web10', 'web2']

    def setUp(self):
        super().setUp()
        self.d = self.daemon()
        for name in self.SERVICES:
            self.define(self.d, name, ['sleep', '60'])
        # a controller: its fds name control.*; `all` leaves it alone
        self.define(self.d, 'ctl', ['sleep', '60'], fds=['control.event', 'control.cmd', 'stderr'])
        self.ctl_pid = self.start_svc(self.d, 'ctl')

    def running(self):
        rows, _ = self.status_rows()
        return sorted(n for n, row in rows.items() if row[1] == 'up')

    def test_patterns_sorted_each_once_in_the_order_named(self):
        r = self.ok('start', 'web?', 'db', 'web1')
        self.assertEqual([l.split(':')[0] for l in r.lines], ['web1', 'web2', 'db'], r)
        self.assertTrue(all(re.match(r'^\S+: up, pid \d+$', l) for l in r.lines), r)
        self.assertEqual(self.running(), ['ctl', 'db', 'web1', 'web2'])
        r = self.ok('status', 'web*')
        _, order = self.table(r)
        self.assertEqual(order, ['web1', 'web10', 'web2'])
        r = self.ok('stop', 'web[12]', '*1*')
        self.assertEqual(r.lines, ['web1: stopped (signal SIGTERM)',
                                   'web2: stopped (signal SIGTERM)',
                                   'web10: was not running'], r)
        r = self.ok('restart', 'd?')
        self.assertEqual([l.split(':')[0] for l in r.lines], ['db', 'db'], r)

    def test_all_leaves_out_the_controllers(self):
        r = self.ok('start', 'all')
        self.assertEqual([l.split(':')[0] for l in r.lines], self.SERVICES, r)
        r = self.ok('stop', 'all')
        self.assertEqual(r.lines, ['%s: stopped (signal SIGTERM)' % n for n in self.SERVICES], r)
        self.assertEqual(self.running(), ['ctl'])
        self.assertTrue(dp.proc_alive(self.ctl_pid))
        rows, order = self.table(self.ok('status', 'all'))
        self.assertEqual(order, self.SERVICES)
        # named, or matched by a pattern, a controller is acted on
        r = self.ok('stop', 'c*')
        self.assertEqual(r.lines, ['ctl: stopped (signal SIGTERM)'], r)

    def test_no_match_is_exit_3_and_the_rest_is_done(self):
        r = self.dpctl('start', 'nothing*', 'db')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("dpctl: no service matches 'nothing*'", r.err)
        self.assertEqual([l.split(':')[0] for l in r.lines], ['db'], r)
        for args in (['status', 'x?'], ['stop', '[xy]*'], ['restart', 'x*'],
                     ['signal', 'HUP', 'x*'], ['wait', 'x*', 'up']):
            r = self.dpctl(*args)
            self.assertEqual(r.rc, NOSVC, r)
            pattern = next(a for a in args if re.search(r'[*?[]', a))
            self.assertIn("no service matches '%s'" % pattern, r.err)
        self.assertEqual(self.running(), ['ctl', 'db'])
        # an unknown name typed out is reported as before
        r = self.dpctl('stop', 'nope', 'd*')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("no such service 'nope'", r.err)
        self.assertEqual(r.lines, ['db: stopped (signal SIGTERM)'], r)

    def test_signal_and_wait(self):
        self.ok('start', 'web*')
        r = self.dpctl('-t', '0', 'wait', 'web*', 'down')
        self.assertEqual(r.rc, TIMEDOUT, r)
        self.assertEqual(sorted(re.findall(r'dpctl: (\S+): not down', r.err)),
                         ['web1', 'web10', 'web2'], r)
        r = self.ok('signal', 'KILL', 'web1*', 'web*')
        self.assertEqual((r.out, r.err), ('', ''), r)
        self.expect_all(self.d, ['service.state\t%s\tdown' % n for n in ('web1', 'web10', 'web2')])
        self.ok('wait', 'web*', 'down', '-t', '0')
        self.assertEqual(self.running(), ['ctl'])

    def test_all_of_none_and_bad_patterns(self):
        self.ok('stop', 'ctl')
        for n in self.SERVICES + ['ctl']:
            self.d.cmd('service.delete\t' + n)
        r = self.ok('stop', 'all')
        self.assertEqual((r.out, r.err), ('', ''), r)
        for args in (['stop', 'w*\tx'], ['status', 'a*\nb'], ['wait', '*\x7f', 'up'],
                     ['start', '*' * 256]):
            r = self.dpctl(*args)
            self.assertEqual(r.rc, USAGE_CODE, r)


class Help(DpctlTest):
    def man_block(self):
        """dpctl(1)'s COMMANDS block: {command: [synopsis, description lines]}."""
        text = open(os.path.join(dp.REPO, 'docs', 'dpctl.1')).read()
        block = text.split('.\\" BEGIN help')[1].split('\n', 1)[1].split('.\\" END help')[0]
        entries, order = {}, []
        for line in block.split('\n'):
            if not line or line.startswith('.'):
                continue
            line = line.replace('\\-', '-')
            if line.startswith(' '):
                entries[order[-1]].append(line[4:])
            else:
                order.append(line.split()[0])
                entries[order[-1]] = [line]
        return entries, order

    def test_help_command_is_the_manual(self):
        nowhere = self.path('none.sock')
        entries, order = self.man_block()
        full = self.dpctl('--help', sock=nowhere)
        listed = [l.strip() for l in full.out.split('Commands:\n')[1].split('\n\n')[0].split('\n')]
        self.assertEqual(listed, [entries[c][0] for c in order])
        items = man_items(os.path.join(dp.REPO, 'docs', 'dpctl.1'), 'COMMANDS')
        self.assertEqual([e[0].lower() for e in (entries[c] for c in order)], items)
        options = full.out.split('\nOptions:\n')[1]
        for c in order:
            with self.subTest(command=c):
                r = self.dpctl('help', c, sock=nowhere)
                self.assertEqual((r.rc, r.err), (0, ''), r)
                self.assertEqual(r.out, self.dpctl(c, '--help', sock=nowhere).out)
                lines = r.out.split('\n')
                self.assertEqual(lines[0], 'Usage: dpctl [-S PATH] [-t SECONDS] '
                                 '[--trust-uid USER] ' + entries[c][0])
                desc = r.out.split('\n\n')[1].split('\n')
                self.assertEqual(desc, entries[c][1:])
                self.assertTrue(r.out.endswith('\nOptions:\n' + options), r)
                for opt in re.findall(r'--[a-z]+', entries[c][0]):
                    self.assertIn(opt, '\n'.join(entries[c][1:]), 'help %s explains %s' % (c, opt))

    def test_help_alone_and_errors(self):
        nowhere = self.path('none.sock')
        r = self.dpctl('help', sock=nowhere)
        self.assertEqual((r.rc, r.err, r.out), (0, '', self.dpctl('--help', sock=nowhere).out))
        for args in (['help', 'frobnicate'], ['help', 'stop', 'start'], ['help', '--json']):
            r = self.dpctl(*args, sock=nowhere)
            self.assertEqual((r.rc, r.out), (USAGE_CODE, ''), r)
            self.assertTrue(r.err.startswith('dpctl: '), r)
