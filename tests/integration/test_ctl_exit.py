"""An exiting controller service loses none of its last commands
(docs/protocol.md, Controllers: a service controller lives until the service
closes it or exits; Lines and fields: commands run strictly in order).

A controller service typically writes its last commands and exits at once.
Those bytes are already in daemonproxy's end of the socketpair when the
child is reaped, so the connection must be read to its end (and every
complete line executed) before it is closed, whatever order the loop sees
the SIGCHLD and the readable socket in.  Closing it in the reaper loses the
tail of the stream at random, which is why these tests repeat many rounds:

- Rounds: a `sh -c` controller prints 20 `service.args` lines (names made
  unique by its PID) and exits; every round all 20 must be executed.  Three
  variants: a write-only `control.cmd`; a bidirectional `control.socket` on
  fds 0 and 1 (the service never reads the events sent to it, so it may exit
  with some unread: daemonproxy's read then ends in ECONNRESET after the
  data, and its writes fail with EPIPE while commands are still to be run);
  and one that first sends `statedump` (a reply it never reads: its event
  stream is dead while its commands are still to be run).  Each variant runs
  back to back (many rounds, the race as it comes) and "while stopped": the
  test SIGSTOPs daemonproxy, lets another service exit and then the
  controller write and exit, and only continues daemonproxy once both are
  zombies, so that a SIGCHLD is the first thing it sees and the commands
  are still unread: the race's worst case, every round.
- `terminate 0` as the last command of an exiting controller (the original's
  clean-shutdown example): a non-interactive daemon must exit with code 0
  every time, never hang.
"""

import errno
import os
import re
import signal
import subprocess
import time

from dp import TIMEOUT, Timeout, proc_stat_fields, wait_for
from svc_util import SvcTest

ROUNDS = 1000
DUMP_ROUNDS = 200       # each round's dump is bigger: 20 more services
STOPPED_ROUNDS = 20
LINES = 20

ARGS_RE = re.compile(r'^service\.args\tc(\d+)_(\d+)\ttrue$')


def printer_script(first='', gate=None):
    """sh script: optional first command, then LINES service.args lines
    with names unique to this process, then exit.  With gate (a FIFO
    path), it first waits for a line on it."""
    body = 'i=0; while [ $i -lt %d ]; do printf "service.args\\tc%%s_%%s\\ttrue\\n" $$ $i; ' \
           'i=$((i+1)); done' % LINES
    if first:
        body = 'printf "%s\\n"; ' % first + body
    if gate:
        body = 'read go < %s; ' % gate + body
    return body


def open_writer(fifo):
    """A write fd on fifo once it has a reader, else None."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return None
        raise


def zombie(pid):
    try:
        return proc_stat_fields(pid)[0] == 'Z'
    except (OSError, IndexError):
        return False


class LastCommands(SvcTest):

    def rounds(self, fds, first='', rounds=ROUNDS, stopped=False):
        d = self.start()
        gates = None
        if stopped:
            gates = (self.path('gate.ctl'), self.path('gate.early'))
            for g in gates:
                os.mkfifo(g, 0o600)
            # a service that exits (and so raises SIGCHLD) just before the
            # controller does
            self.define(d, 'early', ['sh', '-c', 'read go < ' + gates[1]])
        self.define(d, 'ctl', ['sh', '-c', printer_script(first, gates and gates[0])], fds=fds)
        for r in range(rounds):
            self.one_round(d, r, gates)
        # and the daemon is still fine
        self.assertEqual(d.cmd1('echo\tafter-rounds'), 'after-rounds')

    def exit_while_stopped(self, d, gates, pids):
        """With daemonproxy stopped, let service `early` exit, then the
        controller write its commands and exit: when daemonproxy goes on,
        the SIGCHLD is its first news and the commands are still unread."""
        os.kill(d.pid, signal.SIGSTOP)
        try:
            for gate, pid in zip(reversed(gates), reversed(pids)):
                fd = wait_for(lambda: open_writer(gate), msg='service %d opening its gate' % pid)
                os.write(fd, b'go\n')
                os.close(fd)
                wait_for(lambda: zombie(pid), msg='service %d to exit' % pid)
        finally:
            os.kill(d.pid, signal.SIGCONT)

    def one_round(self, d, r, gates=None):
        if gates:
            d.send('service.start\tearly')
        d.send('service.start\tctl')
        pid = early = None
        down = None
        early_down = None if gates else True
        names = {}          # pid -> set of indexes seen
        errors = []
        deadline = time.monotonic() + TIMEOUT

        def done():
            return (pid is not None and down is not None and early_down is not None
                    and len(names.get(pid, ())) == LINES)
        while not done():
            try:
                line = d.readline(max(0.0, deadline - time.monotonic()))
            except Timeout:
                got = sorted(names.get(pid, ()))
                self.fail('round %d (controller pid %s): timed out; down event %r; '
                          '%d of %d service.args executed (indexes %r); errors %r'
                          % (r, pid, down, len(got), LINES, got, errors))
            self.assertIsNotNone(line, 'daemon EOF in round %d' % r)
            f = line.split('\t')
            m = ARGS_RE.match(line)
            if m:
                names.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
            elif line.startswith('service.state\tearly\tup\t'):
                early = int(f[4])
            elif line.startswith('service.state\tearly\tdown\t'):
                early_down = f
            elif line.startswith('service.state\tctl\tup\t'):
                self.assertIsNone(pid, 'two up events in round %d' % r)
                pid = int(f[4])
                if gates:
                    self.assertIsNotNone(early, 'service early is up before ctl')
                    self.exit_while_stopped(d, gates, (pid, early))
            elif line.startswith('service.state\tctl\tdown\t'):
                self.assertIsNotNone(pid, 'down before up in round %d: %r' % (r, line))
                down = f
                self.assertEqual(f[4:7], [str(pid), 'exit', '0'], line)
            elif line.startswith('error\t') or line.startswith('warning\t'):
                errors.append(line)
        self.assertEqual(errors, [], 'round %d' % r)
        stray = set(names) - {pid}
        self.assertFalse(stray, 'round %d: service.args from other runs %r' % (r, stray))

    def test_cmd_only_rounds(self):
        self.rounds(['null', 'control.cmd', 'stderr'])

    def test_control_socket_rounds(self):
        # fd 0 and fd 1 are the same bidirectional socket; the service never
        # reads the events daemonproxy sends it
        self.rounds(['control.socket', 'control.socket', 'stderr'])

    def test_statedump_then_commands_rounds(self):
        # the statedump reply goes to a reader that exits without reading
        # it (and grows each round: 20 more services); the commands after
        # it must still all run
        self.rounds(['control.event', 'control.cmd', 'stderr'], first='statedump',
                    rounds=DUMP_ROUNDS)

    # The same with the exits and the commands pending together when
    # daemonproxy next looks (as on a loaded machine), SIGCHLD first:
    # fewer rounds, each one takes the race's worst case.

    def test_cmd_only_exit_while_stopped(self):
        self.rounds(['null', 'control.cmd', 'stderr'], rounds=STOPPED_ROUNDS, stopped=True)

    def test_control_socket_exit_while_stopped(self):
        self.rounds(['control.socket', 'control.socket', 'stderr'], rounds=STOPPED_ROUNDS,
                    stopped=True)

    def test_statedump_then_commands_exit_while_stopped(self):
        self.rounds(['control.event', 'control.cmd', 'stderr'], first='statedump',
                    rounds=STOPPED_ROUNDS, stopped=True)


class TerminateLast(SvcTest):
    """The original's clean-shutdown controller ends with `terminate 0`."""

    RUNS = 40
    PARALLEL = 10

    def test_terminate_as_last_command(self):
        conf = self.write_file('term.conf',
                               'service.args\tt\tsh\t-c\tprintf "terminate\\t0\\n"\n'
                               'service.fds\tt\tnull\tcontrol.cmd\tstderr\n'
                               'service.start\tt\n')
        results = []
        for first in range(0, self.RUNS, self.PARALLEL):
            batch = [self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL)
                     for _ in range(min(self.PARALLEL, self.RUNS - first))]
            deadline = time.monotonic() + TIMEOUT
            for d in batch:
                try:
                    results.append(d.wait(max(0.1, deadline - time.monotonic())))
                except Timeout:
                    results.append('hung')
                    d.kill()
                    d.wait()
        bad = [r for r in results if r != 0]
        self.assertEqual(bad, [], '%d of %d daemons did not exit 0 after their controller '
                         'service sent "terminate 0" and exited: %r'
                         % (len(bad), len(results), results))
