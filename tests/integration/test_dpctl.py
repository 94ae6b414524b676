"""dpctl, the command-line client, against the real daemon.

- The command line: --help / COMMAND --help / --version (stdout, exit 0);
  usage errors (unknown command or option, missing argument, a field with
  TAB or newline, a bad -t) exit 2 before any connection is made; options
  after the command; -t with decimals and 0.
- The socket: -S, else $DAEMONPROXY_SOCKET, else the default (euid 0:
  /run/daemonproxy.sock; else $XDG_RUNTIME_DIR/daemonproxy.sock when
  absolute; else /tmp/daemonproxy-UID/daemonproxy.sock); `daemonproxy
  --default-socket` listens where dpctl looks.  (Who may squat that path,
  and the peer check: test_trust_dpctl.)  Cannot connect: exit 5 naming the path, with
  a hint; connection lost (daemon killed, or a listener that closes): exit 6;
  a listener that never answers: the command ends (4 or 6).
- status: the table (header, sorted rows, aligned columns, STATE PID SINCE
  LAST READY AUTO-UP EXITS as specified, human durations checked in a time
  namespace), named services in the given order, unknown names (exit 3),
  --json (every key, mirroring the statedump; odd bytes in STATUS= still
  valid UTF-8 JSON), 1,000 services.
- start / stop / restart: outcome lines, readiness (sd_notify and
  notify.fd), already up, pending starts, exit before ready (1), no args (1),
  unknown (3), ready timeout (4); stop records the service wanted down
  (its auto-up rule kept, only gated), escalates to SIGKILL after -t (to
  the cgroup with --cgroup); restart keeps the auto-up rule.  (More on the
  desired state: test_dpctl_want.)
- signal (name forms, --group, errors), wait (up/down/ready, at once,
  later, -t 0, timeout 4, unknown or deleted 3), watch (an echo first, its
  reply not shown; raw lines exactly as the daemon sends them, human lines
  with today's wall-clock time, -t ends it with 0, a dying daemon gives 6), dump (same as a statedump), send
  (replies, errors exit 1, exit/terminate succeed, TAB/newline exit 2).
- reexec: the daemon replaced in place (same pid and services, dpctl
  watch and the other controllers stay connected and hear the event), a
  copy of the binary by absolute and relative PATH, refusals (missing, not
  executable, a directory) and failed checks (exit 1, the daemon as it
  was), -t passing first (4) while another attempt is refused, no daemon (5).

The daemon runs with -v so that its log shows when dpctl's connection
arrives and what it sent; tests wait on that (and on events), never on
fixed sleeps.  Every process started here is killed at cleanup.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import dp
from dp import TIMEOUT, LineReader, Timeout, wait_for
from svc_util import PY, SvcTest

DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(dp.binary()), 'dpctl')

# Bound for a dpctl run that should end by itself (a loaded box is slow).
RUN_TIMEOUT = 30

HEADER = ['NAME', 'STATE', 'PID', 'SINCE', 'LAST', 'READY', 'AUTO-UP', 'EXITS']
ROW_RE = re.compile(r'^(\S+) +(up|down|start|stopped|failed) +(\d+|-) +((?:in )?\S+)'
                    r' +(exit \d+|signal SIG[A-Z0-9+-]+|-) +(yes|no|-) +(\S+) +(\d+ in \S+|-) *$')
JSON_KEYS = {'name', 'state', 'pid', 'ts', 'since', 'uptime', 'downtime', 'reason', 'value',
             'ready', 'status', 'mainpid', 'auto_up', 'args', 'fds', 'tags', 'env', 'opts',
             'want', 'exits'}
USAGE_CODE, FAIL, NOSVC, TIMEDOUT, NOCONN, LOST = 2, 1, 3, 4, 5, 6

# A service with a notification channel.  argv: MODE TRIGGER [STATUS_HEX]
# MODE sd: sd_notify READY=1 to $NOTIFY_SOCKET; fd: a newline on fd 3
# (notify.fd).  STATUS_HEX (sd only): a datagram sent at once.  READY is
# sent once the file TRIGGER exists ('-': at once).
NOTIFY_SVC = r'''
import os, socket, sys, time
mode, trigger = sys.argv[1], sys.argv[2]

def sd(msg):
    a = os.environ['NOTIFY_SOCKET']
    addr = b'\0' + a[1:].encode('latin-1') if a.startswith('@') else a
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg, addr)
    s.close()

if len(sys.argv) > 3:
    sd(bytes.fromhex(sys.argv[3]))
while trigger != '-' and not os.path.exists(trigger):
    time.sleep(0.02)
if mode == 'sd':
    sd(b'READY=1')
else:
    os.write(3, b'\n')
while True:
    time.sleep(60)
'''

# argv: ARMED [fork]. Ignores SIGTERM; with fork, a child (which inherits
# the SIG_IGN) also sleeps; writes "PID CHILDPID" to ARMED once set up.
TERM_IGNORER = r'''
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = 0
if len(sys.argv) > 2 and sys.argv[2] == 'fork':
    child = os.fork()
    if child == 0:
        while True:
            time.sleep(60)
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write('%d %d' % (os.getpid(), child))
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
while True:
    time.sleep(60)
'''

# argv: ARMED.  Exits 0 on SIGTERM.
TERM_EXIT0 = r'''
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
open(sys.argv[1], 'w').close()
while True:
    time.sleep(60)
'''

# argv: LOG ARMED.  Appends the name of each HUP/USR1/USR2 it gets to LOG.
SIG_RECORDER = r'''
import os, signal, sys, time
log = sys.argv[1]
def h(sig, frame):
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(fd, (signal.Signals(sig).name + '\n').encode())
    os.close(fd)
for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, h)
open(sys.argv[2], 'w').close()
while True:
    time.sleep(60)
'''

# argv: ARMED.  Forks a child; writes the child's pid to ARMED.
FORKER = r'''
import os, sys, time
child = os.fork()
if child == 0:
    while True:
        time.sleep(60)
with open(sys.argv[1] + '.tmp', 'w') as f:
    f.write(str(child))
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
while True:
    time.sleep(60)
'''


def human(secs):
    """The SINCE format of the spec: 5s, 2m05s, 1h02m, 3d04h."""
    if secs < 60:
        return '%ds' % secs
    if secs < 3600:
        return '%dm%02ds' % (secs // 60, secs % 60)
    if secs < 86400:
        return '%dh%02dm' % (secs // 3600, secs % 3600 // 60)
    return '%dd%02dh' % (secs // 86400, secs % 86400 // 3600)


def field(v):
    """A statedump field as the JSON value it stands for."""
    return None if v == '-' else v


def int_field(v):
    return None if v == '-' else int(v)


def man_items(path, section):
    """The items (.TP headers, outside .RS blocks) of a man page's section,
    as plain lower-case text: fonts dropped, \\- as -."""
    lines = open(path).read().split('\n')
    out, inside, depth = [], False, 0
    for i, line in enumerate(lines):
        if line.startswith('.SH'):
            inside = line[4:].strip('" ') == section
        elif inside and line.startswith('.RS'):
            depth += 1
        elif inside and line.startswith('.RE'):
            depth -= 1
        elif inside and depth == 0 and line.startswith('.TP'):
            out.append(roff_plain(lines[i + 1]).lower())
    return out


def roff_plain(line):
    """One roff line as text: a font macro's arguments joined (they
    alternate fonts, with no space between), font escapes dropped."""
    m = re.match(r'^\.(?:B|I|BR|BI|RB|IB|IR|RI)\s+(.*)$', line)
    if m:
        args, cur, quoted = [], '', False
        for ch in m.group(1):
            if ch == '"':
                quoted = not quoted
            elif ch == ' ' and not quoted:
                args.append(cur)
                cur = ''
            else:
                cur += ch
        line = ''.join(args + [cur])
    return re.sub(r'\\f[BIRP]', '', line).replace('\\-', '-').strip()


class Run:
    def __init__(self, argv, rc, outb, errb):
        self.argv, self.rc, self.outb, self.errb = argv, rc, outb, errb
        self.out = outb.decode('latin-1')
        self.err = errb.decode('latin-1')
        self.lines = self.out.splitlines()

    def __repr__(self):
        return 'dpctl %r: exit %r, stdout %r, stderr %r' % (self.argv[1:], self.rc,
                                                            self.out[-1500:], self.err[-1500:])


class DpctlTest(SvcTest):
    def setUp(self):
        super().setUp()
        if not os.access(DPCTL, os.X_OK):
            self.fail('dpctl binary %s does not exist' % DPCTL)
        self.sock = self.path('dp.sock')
        self.base_env = {k: v for k, v in os.environ.items() if k != 'DAEMONPROXY_SOCKET'}
        self.bg = []
        self.on_cleanup(self._kill_bg)

    def _kill_bg(self):
        for p in self.bg:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError, OSError):
                pass

    # --- the daemon --------------------------------------------------------
    def daemon(self, *args, sock=True, env=None):
        """daemonproxy -i -v [-S sock] ARGS, answering on its socket."""
        extra = ['-S', self.sock] if sock else []
        d = self.start('-v', *(extra + list(args)), env=env)
        d.ping()
        return d

    def define(self, d, name, args, fds=None, tags=None, auto_up=None, opts=None, env=None):
        """Define a service; auto_up last, so that a start it causes sees
        the rest of the definition."""
        cmds = ['\t'.join(['service.args', name] + list(args))]
        for kind, val in (('fds', fds), ('tags', tags), ('env', env), ('opts', opts),
                          ('auto_up', auto_up)):
            if val is not None:
                cmds.append('\t'.join(['service.' + kind, name] + [str(x) for x in val]))
        out = d.cmd(*cmds)
        self.assertEqual([l for l in out if l.startswith('error\t')], [], 'defining %s' % name)
        return out

    def notify_service(self, d, name, mode='sd', trigger='-', status=None, auto_up=None):
        """A service with a readiness channel (sd_notify or notify.fd)."""
        prog = self.script('notify_svc.py', NOTIFY_SVC)
        args = [PY, prog, mode, trigger] + ([status.hex()] if status is not None else [])
        if mode == 'sd':
            self.define(d, name, args, opts=['notify'], auto_up=auto_up)
        else:
            self.define(d, name, args, fds=['null', 'null', 'stderr', 'notify.fd'],
                        auto_up=auto_up)

    def armed(self, name):
        """Wait for a script's ARMED file; returns its content."""
        return self.wait_text(self.path(name), lambda t: True)

    def term_ignorer(self, d, name, fork=False):
        """Start a service that ignores SIGTERM; returns [pid, child pid or 0]."""
        prog = self.script('term_ignorer.py', TERM_IGNORER)
        armed = self.path(name + '.armed')
        self.define(d, name, [PY, prog, armed] + (['fork'] if fork else []))
        pid = self.start_svc(d, name)
        pids = [int(x) for x in self.armed(armed).split()]
        self.assertEqual(pids[0], pid)
        return pids

    def expect_all(self, d, prefixes, pred=lambda l: True):
        """Wait for one event starting with each prefix, in any order."""
        left = set(prefixes)
        while left:
            line = d.expect(lambda l: pred(l) and any(l.startswith(x) for x in left))
            left -= {x for x in left if line.startswith(x)}

    def dump(self, io):
        """statedump lines only (without the events that came before)."""
        mark = dp.new_marker('dump')
        out = io.cmd('echo\t' + mark, 'statedump')
        return out[out.index(mark) + 1:]

    def dump_lines(self, d, kind, name):
        return [l.split('\t') for l in self.dump(d)
                if l.startswith(kind + '\t') and l.split('\t')[1] == name]

    def auto_up_line(self, d, name):
        (f,) = self.dump_lines(d, 'service.auto_up', name)
        return f

    def want_line(self, d, name):
        """The service.want fields of NAME in a statedump without its TS,
        or None."""
        got = self.dump_lines(d, 'service.want', name)
        return got[0][:4] + got[0][5:] if got else None

    # --- dpctl ---------------------------------------------------------------
    def argv(self, args, sock):
        if sock is True:
            sock = self.sock
        return [DPCTL] + (['-S', sock] if sock else []) + [str(a) for a in args]

    def env(self, env):
        e = dict(self.base_env)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def dpctl(self, *args, sock=True, env=None, timeout=RUN_TIMEOUT, prefix=(), check_err=True,
              **kw):
        """Run dpctl to completion; returns a Run.  Its stderr, if any, must
        start with 'dpctl: '."""
        argv = list(prefix) + self.argv(args, sock)
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=self.env(env), timeout=timeout, **kw)
        except subprocess.TimeoutExpired as e:
            raise Timeout('dpctl %r did not finish within %ds (stdout %r, stderr %r)'
                          % (argv[1:], timeout, e.stdout, e.stderr))
        r = Run(argv, p.returncode, p.stdout, p.stderr)
        if check_err:
            self.assertStderr(r)
        return r

    def assertStderr(self, r):
        """A message on stderr starts with 'dpctl: ' (every line of it:
        test_stderr_lines_prefixed)."""
        if r.err:
            self.assertTrue(r.err.startswith('dpctl: '), 'stderr without "dpctl: ": %r' % (r,))

    def dpctl_bg(self, *args, sock=True, env=None):
        """Start dpctl in the background (stdout/stderr pipes).  SIGINT is
        set back to its default, as for a dpctl typed at a terminal: a suite
        started in the background by a non-interactive shell inherits it
        ignored, and the watch tests interrupt dpctl with it."""
        argv = ['env', '--default-signal=INT'] + self.argv(args, sock)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(env))
        self.bg.append(p)
        return p

    def finish(self, p, timeout=RUN_TIMEOUT):
        """Wait for a background dpctl; returns a Run."""
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise Timeout('dpctl %r did not finish within %ds (stdout %r, stderr %r)'
                          % (p.args[3:], timeout, out, err))
        r = Run(p.args, p.returncode, out, err)
        self.assertStderr(r)
        return r

    def ok(self, *args, **kw):
        r = self.dpctl(*args, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def client_of(self, d, start):
        """Wait for a client connection logged after log index start; returns
        its number."""
        i = d.log.expect(re.compile(r'client \d+: controller connected'), start=start)
        return re.search(r'client (\d+):', d.log.snapshot()[i]).group(1)

    def settled(self, d, start, p):
        """dpctl p has connected (after log index start), sent a command, and
        the daemon has answered it: p is now waiting for something."""
        n = self.client_of(d, start)
        d.log.expect(re.compile(r'client %s: command: ' % n), start=start)
        d.ping()
        d.ping()
        if p.poll() is not None:
            self.fail('dpctl %r ended early: %r' % (p.args[3:], self.finish(p)))
        return n

    # --- status parsing ----------------------------------------------------
    def table(self, r):
        """({name: row fields}, [names in order]) of a status output;
        checks the header, each row's form and the alignment."""
        lines = r.lines
        self.assertTrue(lines, r)
        self.assertEqual(lines[0].split(), HEADER, r)
        rows, order, matches = {}, [], []
        for l in lines[1:]:
            m = ROW_RE.match(l)
            self.assertTrue(m, 'bad status row %r in %r' % (l, r))
            rows[m.group(1)] = list(m.groups())
            order.append(m.group(1))
            matches.append(m)
        # aligned columns: STATE and LAST start at the header's offsets in
        # every row (NAME and STATE are left-aligned text, LAST is text)
        h = lines[0]
        for m in matches:
            self.assertEqual(m.start(2), h.index('STATE'), 'STATE column not aligned: %r' % (r,))
            self.assertEqual(m.start(5), h.index('LAST'), 'LAST column not aligned: %r' % (r,))
        return rows, order

    def status_rows(self, *names, **kw):
        r = self.ok('status', *names, **kw)
        self.assertEqual(r.err, '', r)
        return self.table(r)

    def status_json(self, *names, rc=0, **kw):
        r = self.dpctl('status', '--json', *names, **kw)
        self.assertEqual(r.rc, rc, r)
        try:
            data = json.loads(r.outb.decode('utf-8'))
        except (UnicodeDecodeError, ValueError) as e:
            self.fail('status --json is not UTF-8 JSON (%s): %r' % (e, r))
        self.assertIsInstance(data, list, r)
        for o in data:
            self.assertEqual(set(o), JSON_KEYS, 'keys of %r' % o)
        return data


# ---------------------------------------------------------------------------

class CommandLine(DpctlTest):
    COMMANDS = ['status', 'start', 'stop', 'restart', 'signal', 'wait', 'watch', 'dump', 'send']

    def test_help(self):
        nowhere = self.path('none.sock')
        r = self.dpctl('--help', sock=nowhere)
        self.assertEqual((r.rc, r.err), (0, ''), r)
        self.assertIn('Usage', r.out)
        for c in self.COMMANDS:
            self.assertRegex(r.out, r'\b%s\b' % c, 'the help names %s' % c)
        for c in self.COMMANDS:
            r = self.dpctl(c, '--help', sock=nowhere)
            self.assertEqual((r.rc, r.err), (0, ''), r)
            self.assertIn(c, r.out, r)
            self.assertTrue(r.out.endswith('\n'), r)

    def test_help_matches_man_page(self):
        # --help and dpctl(1) are two texts (a summary and a manual): each
        # command's synopsis, each option and each exit status must be the
        # same in both, so that neither drifts (docs/design.md, "Claims")
        r = self.dpctl('--help', sock=self.path('none.sock'))
        self.assertEqual(r.rc, 0, r)
        man = os.path.join(dp.REPO, 'docs', 'dpctl.1')
        text = r.out.split('\n')

        def block(title):
            start = text.index(title) + 1
            end = text.index('', start)
            return [l for l in text[start:end] if l.startswith('  ') and not
                    l.startswith('   ')]
        commands = [l.strip().lower() for l in block('Commands:')]
        options = [re.split(r'\s{2,}', l.strip())[0].lower() for l in block('Options:')]
        self.assertEqual(commands, man_items(man, 'COMMANDS'))
        self.assertEqual(sorted(options), sorted(man_items(man, 'OPTIONS')))
        codes = re.findall(r'(\d) [a-z]', r.out.split('Exit status:')[1])
        self.assertEqual(codes, man_items(man, 'EXIT STATUS'))

    def test_version(self):
        r = self.dpctl('--version', sock=self.path('none.sock'))
        self.assertEqual((r.rc, r.err), (0, ''), r)
        m = re.match(r'^dpctl (\S+)\n', r.out)
        self.assertTrue(m, r)
        dv = subprocess.run([dp.binary(), '--version'], stdout=subprocess.PIPE,
                            timeout=RUN_TIMEOUT).stdout.decode()
        self.assertIn(' %s' % m.group(1), dv.splitlines()[0],
                      'dpctl and daemonproxy share the version')

    def usage_errors(self):
        return [
            ['frobnicate'], ['--bogus', 'status'], ['status', '--bogus'], ['-x', 'status'],
            ['start'], ['stop'], ['restart'], ['signal'], ['signal', 'HUP'], ['wait'],
            ['wait', 'web'], ['wait', 'web', 'sideways'], ['send'],
            ['-t'], ['status', '-t'], ['-t', 'abc', 'status'], ['-t', '-1', 'status'],
            ['-t', '', 'status'], ['-t', '1x', 'wait', 'web', 'up'], ['status', '-S'],
            ['send', 'echo', 'a\tb'], ['send', 'echo\tx'], ['send', 'echo', 'a\nb'],
            ['start', 'we\tb'], ['stop', 'we\nb'], ['status', 'a\tb'], ['wait', 'a\tb', 'up'],
            ['signal', 'HUP', 'a\nb'], ['signal', 'H\tUP', 'web'],
            ['status', '--trust-uid'], ['--trust-uid', 'no-such-user-xyz', 'status'],
            ['--trust-uid=', 'status'], ['--trust-uid', '4294967295', 'status'],
        ]

    def test_usage_errors_exit_2_without_connecting(self):
        # a listener that records whether anyone connected
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.on_cleanup(lst.close)
        lst.bind(self.sock)
        lst.listen(64)
        lst.setblocking(False)
        for args in self.usage_errors():
            with self.subTest(args=args):
                r = self.dpctl(*args, timeout=60)
                try:
                    conn, _ = lst.accept()
                    conn.close()
                    connected = True
                except BlockingIOError:
                    connected = False
                self.assertEqual(r.rc, USAGE_CODE, r)
                self.assertTrue(r.err.startswith('dpctl: '), r)
                self.assertFalse(connected, 'dpctl %r connected before reporting a usage error'
                                 % (args,))

    def test_stderr_lines_prefixed(self):
        """Every line dpctl writes to stderr starts with 'dpctl: '."""
        nowhere = self.path('none.sock')
        for args in (['frobnicate'], ['status', '--bogus'], ['start'], ['-t', 'x', 'status'],
                     ['status']):
            r = self.dpctl(*args, sock=nowhere)
            self.assertNotEqual(r.rc, 0, r)
            for l in r.err.splitlines():
                self.assertTrue(l.startswith('dpctl: '), 'stderr line %r of %r' % (l, r))

    def test_usage_errors_with_and_without_daemon(self):
        nowhere = self.path('none.sock')
        r = self.dpctl(sock=nowhere, check_err=False)
        self.assertEqual((r.rc, r.out), (USAGE_CODE, ''), 'no command: %r' % (r,))
        for args in (['frobnicate'], ['start'], ['-t', 'abc', 'status'], ['send', 'a\tb'],
                     ['wait', 'web', 'sideways']):
            r = self.dpctl(*args, sock=nowhere)
            self.assertEqual(r.rc, USAGE_CODE, r)
            self.assertEqual(r.out, '', r)
        # and with one: nothing happens
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        before = self.dump(d)
        for args in (['start', 'web', '--bogus'], ['stop', 'web', '-t', 'x'],
                     ['send', 'service.start', 'web\t']):
            self.assertEqual(self.dpctl(*args).rc, USAGE_CODE)
        self.assertEqual(self.dump(d), before)

    def test_options_after_command(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        # -S after the command
        r = self.ok('status', '-S', self.sock, sock=None)
        self.assertEqual(r.lines[0].split(), HEADER)
        r = self.ok('status', '--json', '-S', self.sock, sock=None)
        self.assertEqual([o['name'] for o in json.loads(r.out)], ['web'])
        pid = self.start_svc(d, 'web')
        r = self.ok('stop', '-t', '2', 'web')
        self.assertEqual(r.lines, ['web: stopped (signal SIGTERM)'])
        r = self.ok('wait', 'web', 'down', '-t', '0')
        self.assertFalse(dp.proc_alive(pid))

    def test_timeout_values(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        for t in ('0', '0.5', '1.25', '3'):
            self.assertEqual(self.dpctl('-t', t, 'wait', 'web', 'down').rc, 0, t)
        self.assertEqual(self.dpctl('-t', '0.5', 'wait', 'web', 'up').rc, TIMEDOUT)
        self.assertEqual(self.dpctl('-t', '0', 'wait', 'web', 'up').rc, TIMEDOUT)


class Socket(DpctlTest):
    def test_env_socket_and_S(self):
        d = self.daemon()
        d.cmd('service.args\tweb\tsleep\t30')
        r = self.ok('status', sock=None, env={'DAEMONPROXY_SOCKET': self.sock})
        self.assertEqual(list(self.table(r)[0]), ['web'])
        # -S beats the environment
        nowhere = self.path('none.sock')
        self.ok('status', sock=self.sock, env={'DAEMONPROXY_SOCKET': nowhere})
        r = self.dpctl('status', sock=nowhere, env={'DAEMONPROXY_SOCKET': self.sock})
        self.assertEqual(r.rc, NOCONN, r)
        self.assertIn(nowhere, r.err)

    def test_default_socket(self):
        path = self.path('default.sock')
        env = self.env({'DAEMONPROXY_SOCKET': path})
        d = self.daemon('--default-socket', sock=False, env=env)
        wait_for(lambda: dp.try_connect(path), msg='--default-socket listening at %s' % path)
        d.cmd('service.args\tweb\tsleep\t30')
        r = self.ok('status', sock=None, env={'DAEMONPROXY_SOCKET': path})
        self.assertEqual(list(self.table(r)[0]), ['web'])
        r = self.ok('send', 'echo', 'via', 'default', sock=None, env={'DAEMONPROXY_SOCKET': path})
        self.assertEqual(r.out, 'via\tdefault\n')

    def default_path_in_message(self, env, expected, **kw):
        if dp.try_connect(expected):
            self.skipTest('a daemon listens at %s on this machine' % expected)
        if expected.startswith('/tmp/') and os.path.lexists(os.path.dirname(expected)):
            self.skipTest('%s exists on this machine' % os.path.dirname(expected))
        r = self.dpctl('status', sock=None, env=env, **kw)
        self.assertEqual(r.rc, NOCONN, r)
        self.assertIn('cannot connect to %s' % expected, r.err, r)

    def test_default_path_root(self):
        if os.geteuid() != 0:
            self.skipTest('needs euid 0')
        for xdg in (None, self.tmp, ''):
            self.default_path_in_message({'DAEMONPROXY_SOCKET': '', 'XDG_RUNTIME_DIR': xdg},
                                         '/run/daemonproxy.sock')
            self.default_path_in_message({'DAEMONPROXY_SOCKET': None, 'XDG_RUNTIME_DIR': xdg},
                                         '/run/daemonproxy.sock')

    def test_default_path_user(self):
        uid = os.geteuid()
        kw = {}
        if uid == 0:
            uid = 65534

            def drop():
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            kw['preexec_fn'] = drop
            r = self.dpctl('--version', sock=None, **kw)
            if r.rc != 0:
                self.skipTest('dpctl does not run as uid 65534: %r' % r)
        xdg = self.path('xdg')
        self.default_path_in_message({'DAEMONPROXY_SOCKET': '', 'XDG_RUNTIME_DIR': xdg},
                                     xdg + '/daemonproxy.sock', **kw)
        for bad in ('', 'relative/dir', None):
            self.default_path_in_message({'DAEMONPROXY_SOCKET': None, 'XDG_RUNTIME_DIR': bad},
                                         '/tmp/daemonproxy-%d/daemonproxy.sock' % uid, **kw)

    def test_cannot_connect_nonexistent(self):
        nowhere = self.path('no/such/dir.sock')
        for args in (['status'], ['status', '--json'], ['start', 'web'], ['stop', 'web'],
                     ['wait', 'web', 'up'], ['watch'], ['dump'], ['send', 'echo', 'x'],
                     ['signal', 'HUP', 'web'], ['restart', 'web']):
            r = self.dpctl(*args, sock=nowhere)
            self.assertEqual(r.rc, NOCONN, r)
            self.assertIn('dpctl: cannot connect to %s: No such file or directory' % nowhere,
                          r.err, r)
            self.assertTrue('-S' in r.err or 'DAEMONPROXY_SOCKET' in r.err,
                            'a hint on what to check: %r' % r)
            self.assertEqual(r.out, '', r)

    def test_cannot_connect_no_listener(self):
        f = self.write_file('plain.sock', 'not a socket\n')
        r = self.dpctl('status', sock=f)
        self.assertEqual(r.rc, NOCONN, r)
        self.assertIn('cannot connect to %s' % f, r.err)
        # a socket file nobody listens on any more
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock)
        s.close()
        r = self.dpctl('status')
        self.assertEqual(r.rc, NOCONN, r)
        self.assertIn('cannot connect to %s' % self.sock, r.err)

    def listener(self, behaviour):
        """A fake daemon on self.sock: 'silent' accepts and never answers,
        'close' accepts and closes at once."""
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(self.sock)
        lst.listen(8)
        conns = []
        stop = threading.Event()

        def run():
            lst.settimeout(0.1)
            while not stop.is_set():
                try:
                    c, _ = lst.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                if behaviour == 'close':
                    c.close()
                else:
                    conns.append(c)
        t = threading.Thread(target=run, daemon=True)
        t.start()

        def close():
            stop.set()
            t.join(5)
            lst.close()
            for c in conns:
                c.close()
        self.on_cleanup(close)

    def test_silent_listener_ends(self):
        self.listener('silent')
        for args in (['-t', '1', 'status'], ['-t', '1', 'wait', 'web', 'up'],
                     ['-t', '1', 'send', 'echo', 'x']):
            r = self.dpctl(*args)
            self.assertIn(r.rc, (TIMEDOUT, LOST), r)
            self.assertEqual(r.out, '', r)

    def test_listener_that_closes(self):
        self.listener('close')
        for args in (['status'], ['wait', 'web', 'up'], ['dump']):
            r = self.dpctl(*args)
            self.assertEqual(r.rc, LOST, r)
            self.assertIn('dpctl: connection to daemonproxy lost', r.err)

    def test_daemon_killed_during_wait(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        i = len(d.log.snapshot())
        p = self.dpctl_bg('wait', 'web', 'up', '-t', '30')
        self.settled(d, i, p)
        d.kill()
        d.wait()
        r = self.finish(p)
        self.assertEqual(r.rc, LOST, r)
        self.assertIn('dpctl: connection to daemonproxy lost', r.err)

    def test_daemon_killed_during_stop(self):
        d = self.daemon()
        pid, _ = self.term_ignorer(d, 'stubborn')
        self.on_cleanup(lambda: os.kill(pid, signal.SIGKILL) if dp.proc_alive(pid) else None)
        i = len(d.log.snapshot())
        p = self.dpctl_bg('stop', '-t', '60', 'stubborn')
        n = self.client_of(d, i)
        d.log.expect(re.compile(r'client %s: command: service\.signal\tstubborn\t' % n), start=i)
        d.kill()
        d.wait()
        r = self.finish(p)
        self.assertEqual(r.rc, LOST, r)
        self.assertIn('connection to daemonproxy lost', r.err)


class Status(DpctlTest):
    def test_empty(self):
        self.daemon()
        r = self.ok('status')
        self.assertEqual(len(r.lines), 1, r)
        self.assertEqual(r.lines[0].split(), HEADER)
        self.assertEqual(self.status_json(), [])

    def test_table(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'], auto_up=[1, 'always'])
        web = int(self.dump_lines(d, 'service.state', 'web')[0][4])
        self.define(d, 'crash', ['sh', '-c', 'exit 3'])
        self.define(d, 'killed', ['sleep', '30'])
        self.define(d, 'never', ['sleep', '30'], auto_up=[5, 'SIGUSR1', 'SIGHUP'])
        self.define(d, 'later', ['sleep', '30'])
        self.define(d, 'L' * 31, ['sleep', '30'])
        self.start_svc(d, 'crash')
        self.expect_state(d, 'crash', 'down')
        self.start_svc(d, 'killed')
        d.send('service.signal\tkilled\tKILL')
        self.expect_state(d, 'killed', 'down')
        d.cmd('service.start\tlater\t%d' % (int(time.monotonic()) + 100000))
        rows, order = self.status_rows()
        self.assertEqual(order, ['L' * 31, 'crash', 'killed', 'later', 'never', 'web'])
        self.assertEqual(rows['web'][1:3], ['up', str(web)])
        self.assertRegex(rows['web'][3], r'^\d+s$')
        self.assertEqual(rows['web'][4:], ['-', '-', 'always/1s', '-'])
        self.assertEqual(rows['crash'][1], 'down')
        self.assertEqual(rows['crash'][4:7], ['exit 3', '-', '-'])
        self.assertRegex(rows['crash'][7], r'^1 in \d+s$')
        self.assertRegex(rows['crash'][3], r'^\d+s$')
        self.assertEqual(rows['killed'][1], 'down')
        self.assertEqual(rows['killed'][4:7], ['signal SIGKILL', '-', '-'])
        self.assertRegex(rows['killed'][7], r'^1 in \d+s$')
        self.assertEqual(rows['later'][1], 'start')
        self.assertEqual(rows['later'][2], '-')
        au = self.auto_up_line(d, 'never')
        self.assertEqual(rows['never'][1:],
                         ['down', '-', '-', '-', '-', ','.join(au[3:]) + '/%ss' % au[2], '-'])
        self.assertEqual(au[2], '5')
        # a pending start's TS is ahead: "in" and the same human format
        self.assertIn(rows['later'][3], {'in ' + human(100000 - k) for k in range(0, 90)})

    def test_named_in_order_and_unknown(self):
        d = self.daemon()
        for n in ('alpha', 'beta', 'zeta'):
            self.define(d, n, ['sleep', '30'])
        rows, order = self.status_rows('zeta', 'alpha')
        self.assertEqual(order, ['zeta', 'alpha'])
        r = self.dpctl('status', 'beta', 'nope', 'alpha')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("dpctl: no such service 'nope'", r.err)
        self.assertEqual(self.table(r)[1], ['beta', 'alpha'])
        data = self.status_json('zeta', 'nope', 'beta', rc=NOSVC)
        self.assertEqual([o['name'] for o in data], ['zeta', 'beta'])

    def test_since_durations(self):
        """SINCE in the spec's forms, seen by dpctl in a time namespace
        whose monotonic clock is ahead of the daemon's."""
        if subprocess.run(['unshare', '--time', '--monotonic', '1', 'true'],
                          stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest('unshare --time is not available')
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        self.start_svc(d, 'web')
        for off in (0, 5, 125, 3720, 3 * 86400 + 4 * 3600):
            r = self.ok('status', prefix=['unshare', '--time', '--monotonic', str(off),
                                                  '--boottime', str(off)])
            since = self.table(r)[0]['web'][3]
            self.assertIn(since, {human(off + k) for k in range(0, 90)},
                          'SINCE %r for a state %d+ seconds old' % (since, off))
        self.assertEqual(human(125), '2m05s')
        self.assertEqual(human(3720), '1h02m')

    def test_ready_column(self):
        d = self.daemon()
        trig = self.path('go')
        self.notify_service(d, 'sdn', 'sd', trig)
        self.notify_service(d, 'fdn', 'fd', trig)
        self.notify_service(d, 'idle', 'sd', trig)
        self.define(d, 'plain', ['sleep', '30'])
        for n in ('sdn', 'fdn', 'plain'):
            self.start_svc(d, n)
        rows, _ = self.status_rows()
        self.assertEqual({n: rows[n][5] for n in rows},
                         {'sdn': 'no', 'fdn': 'no', 'plain': '-', 'idle': '-'})
        data = {o['name']: o for o in self.status_json()}
        self.assertEqual({n: data[n]['ready'] for n in data},
                         {'sdn': False, 'fdn': False, 'plain': None, 'idle': None})
        self.write_file('go', '')
        self.expect_all(d, ['service.notify\t%s\t' % n for n in ('sdn', 'fdn')],
                        lambda l: l.endswith('\tREADY=1'))
        rows, _ = self.status_rows()
        self.assertEqual({n: rows[n][5] for n in rows},
                         {'sdn': 'yes', 'fdn': 'yes', 'plain': '-', 'idle': '-'})
        data = {o['name']: o for o in self.status_json()}
        self.assertEqual({n: data[n]['ready'] for n in data},
                         {'sdn': True, 'fdn': True, 'plain': None, 'idle': None})

    def test_json_mirrors_statedump(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'], fds=['null', 'stderr', 'stderr'],
                    tags=['role=web', 'x y'], auto_up=[3, 'always'], env=['A=1', '-B'],
                    opts=['listen-fds'])
        self.define(d, 'crash', ['sh', '-c', 'exit 7'])
        self.define(d, 'killed', ['sleep', '30'])
        self.define(d, 'never', ['true'])
        self.start_svc(d, 'crash')
        self.expect_state(d, 'crash', 'down')
        self.start_svc(d, 'killed')
        d.send('service.signal\tkilled\tSIGTERM')
        self.expect_state(d, 'killed', 'down')
        dump = self.dump(d)
        data = self.status_json()
        off = time.time() - time.monotonic()
        self.assertEqual([o['name'] for o in data], ['crash', 'killed', 'never', 'web'])
        by = {o['name']: o for o in data}
        for name, o in by.items():
            lines = {l.split('\t')[0]: l.split('\t')[2:] for l in dump
                     if l.startswith('service.') and l.split('\t')[1] == name}
            st = lines['service.state']
            self.assertEqual(o['state'], st[0], name)
            self.assertEqual(o['ts'], int_field(st[1]), name)
            if st[0] == 'up':
                self.assertEqual(o['pid'], int(st[2]), name)
            else:
                self.assertIn(o['pid'], (None, int_field(st[2])), name)
            self.assertEqual(o['reason'], field(st[3]), name)
            self.assertEqual(o['value'], field(st[4]), name)
            self.assertEqual(o['uptime'], int_field(st[5]), name)
            if st[6] == '-':
                self.assertIsNone(o['downtime'], name)
            else:
                self.assertIsInstance(o['downtime'], int, name)
                self.assertGreaterEqual(o['downtime'], int(st[6]), name)
            if o['ts'] is None:
                self.assertIsNone(o['since'], name)
            else:
                self.assertIsInstance(o['since'], float, name)
                self.assertLess(abs(o['since'] - (o['ts'] + off)), 2.5, (name, o, off))
            self.assertEqual(o['args'], lines['service.args'], name)
            self.assertEqual(o['fds'], lines['service.fds'], name)
            self.assertEqual(o['tags'], [t for t in lines['service.tags'] if t], name)
            self.assertEqual(o['env'], lines.get('service.env', []), name)
            self.assertEqual(o['opts'], lines.get('service.opts', []), name)
            au = lines['service.auto_up']
            if au == ['-']:
                self.assertIsNone(o['auto_up'], name)
            else:
                self.assertEqual(o['auto_up'], {'interval': int(au[0]), 'triggers': au[1:]}, name)
            self.assertIsNone(o['status'], name)
            self.assertIsNone(o['mainpid'], name)
            self.assertIsNone(o['ready'], name)
        self.assertEqual(by['web']['tags'], ['role=web', 'x y'])
        self.assertEqual(by['web']['env'], ['A=1', '-B'])
        self.assertEqual(by['web']['opts'], ['listen-fds'])
        self.assertEqual(by['web']['auto_up'], {'interval': 3, 'triggers': ['always']})
        self.assertEqual((by['crash']['reason'], by['crash']['value']), ('exit', '7'))
        self.assertEqual((by['killed']['reason'], by['killed']['value']), ('signal', 'SIGTERM'))
        self.assertEqual(by['never']['state'], 'down')
        self.assertEqual(by['never']['args'], ['true'])

    def test_json_status_text_and_odd_bytes(self):
        d = self.daemon()
        raw = b'STATUS=caf\xc3\xa9 \xff\xfe "q" \\ \xe2\x82 end'
        self.notify_service(d, 'odd', 'sd', '-', status=raw)
        pid = self.start_svc(d, 'odd')
        d.expect(lambda l: l.startswith('service.notify\todd\t') and l.endswith('READY=1'))
        r = self.dpctl('status', '--json')
        self.assertEqual(r.rc, 0, r)
        (o,) = json.loads(r.outb.decode('utf-8'))      # strict: valid UTF-8
        self.assertEqual(o['ready'], True)
        self.assertEqual(o['pid'], pid)
        self.assertRegex(o['status'], '^caf\u00e9 \ufffd+ "q" \\\\ \ufffd+ end$')
        self.assertNotIn('STATUS=', o['status'])
        d.send('service.signal\todd\tKILL')
        self.expect_state(d, 'odd', 'down')
        (o,) = self.status_json()
        self.assertIsNone(o['status'])
        self.assertIsNone(o['ready'])
        # STATUS= and MAINPID= without READY=1: not ready
        prog = self.script('mp.py', r'''
import os, socket, sys, time
a = os.environ['NOTIFY_SOCKET']
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b'STATUS=serving\nMAINPID=%d' % os.getpid(), b'\0' + a[1:].encode())
while True:
    time.sleep(60)
''')
        self.define(d, 'mp', [PY, prog], opts=['notify'])
        pid = self.start_svc(d, 'mp')
        d.expect(lambda l: l.startswith('service.notify\tmp\t'))
        (o,) = self.status_json('mp')
        self.assertEqual((o['status'], o['mainpid'], o['ready']), ('serving', pid, False))
        rows, _ = self.status_rows()
        self.assertEqual(rows['mp'][5], 'no')

    def test_json_escaping(self):
        """Quotes, backslashes, DEL, UTF-8 and invalid bytes in fields:
        still JSON, the valid text unchanged, invalid bytes U+FFFD."""
        d = self.daemon()
        odd = ['a"b', 'c\\d', 'x\x7fy', 'caf\xc3\xa9', 'bad\xff', '/\xe2\x80\xa8']
        # d.send encodes latin-1: each character above is one byte
        self.define(d, 'odd', ['true'] + odd, tags=odd, env=['V=' + odd[0]])
        (o,) = self.status_json()
        want = ['a"b', 'c\\d', 'x\x7fy', 'caf\u00e9', 'bad\ufffd', '/\u2028']
        self.assertEqual(o['args'], ['true'] + want)
        self.assertEqual(o['tags'], want)
        self.assertEqual(o['env'], ['V=a"b'])

    def test_thousand_services(self):
        d = self.daemon()
        names = ['svc%04d' % i for i in range(1000)]
        self.bulk(d, ['service.args\t%s\tsleep\t30' % n for n in reversed(names)])
        self.bulk(d, ['service.auto_up\t%s\t7\tSIGUSR2' % n for n in names[::100]])
        for n in names[:3]:
            self.start_svc(d, n)
        rows, order = self.status_rows()
        self.assertEqual(order, names)
        for n in names:
            self.assertEqual(rows[n][1], 'up' if n in names[:3] else 'down', n)
            self.assertEqual(rows[n][6], 'SIGUSR2/7s' if n in names[::100] else '-', n)
        data = self.status_json()
        self.assertEqual([o['name'] for o in data], names)
        self.assertEqual(sum(1 for o in data if o['state'] == 'up'), 3)
        r = self.ok('dump')
        self.assertEqual(len([l for l in r.lines if l.startswith('service.state\t')]), 1000)


class Start(DpctlTest):
    def test_start_plain_and_several(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        r = self.ok('start', 'web')
        m = re.match(r'^web: up, pid (\d+)$', r.out.rstrip('\n'))
        self.assertTrue(m, r)
        st = self.dump_lines(d, 'service.state', 'web')[0]
        self.assertEqual(st[2:5], ['up', st[3], m.group(1)])
        self.assertTrue(dp.proc_alive(int(m.group(1))))
        r = self.ok('start', 'web')
        self.assertEqual(r.lines, ['web: already up, pid %s' % m.group(1)])
        # several, in the order given
        for n in ('b', 'a'):
            self.define(d, n, ['sleep', '30'])
        r = self.ok('start', 'b', 'a', 'web')
        self.assertEqual(len(r.lines), 3, r)
        self.assertRegex(r.lines[0], r'^b: up, pid \d+$')
        self.assertRegex(r.lines[1], r'^a: up, pid \d+$')
        self.assertEqual(r.lines[2], 'web: already up, pid %s' % m.group(1))
        rows, _ = self.status_rows()
        self.assertEqual((rows['a'][1], rows['b'][1]), ('up', 'up'))

    def test_start_replaces_pending(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        d.cmd('service.start\tweb\t%d' % (int(time.monotonic()) + 5000))
        self.assertEqual(self.dump_lines(d, 'service.state', 'web')[0][2], 'start')
        r = self.ok('start', 'web')
        self.assertRegex(r.out, r'^web: up, pid \d+\n$')
        st = self.dump_lines(d, 'service.state', 'web')[0]
        self.assertEqual(st[2], 'up')
        self.assertEqual(st[4], r.out.split()[-1])

    def ready_start(self, mode):
        d = self.daemon()
        trig = self.path('go')
        self.notify_service(d, 'web', mode, trig)
        i = len(d.log.snapshot())
        p = self.dpctl_bg('start', 'web')
        pid = int(self.expect_state(d, 'web', 'up')[4])
        self.settled(d, i, p)
        rows, _ = self.status_rows()
        self.assertEqual(rows['web'][5], 'no')
        self.assertIsNone(p.poll(), 'start waits for readiness')
        self.write_file('go', '')
        r = self.finish(p)
        self.assertEqual((r.rc, r.lines), (0, ['web: up, pid %d, ready' % pid]), r)
        self.assertEqual(self.status_rows()[0]['web'][5], 'yes')
        # already ready: at once
        r = self.ok('start', 'web')
        self.assertRegex(r.lines[0], r'^web: already up, pid %d\b' % pid)
        return d

    def test_start_waits_for_sd_notify(self):
        self.ready_start('sd')

    def test_start_waits_for_notify_fd(self):
        self.ready_start('fd')

    def test_already_up_waits_for_ready(self):
        d = self.daemon()
        trig = self.path('go')
        self.notify_service(d, 'web', 'sd', trig)
        pid = self.start_svc(d, 'web')
        i = len(d.log.snapshot())
        p = self.dpctl_bg('start', 'web')
        self.settled(d, i, p)
        self.write_file('go', '')
        r = self.finish(p)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r'^web: already up, pid %d\b' % pid)

    def test_ready_timeout(self):
        d = self.daemon()
        self.notify_service(d, 'web', 'sd', self.path('never'))
        r = self.dpctl('start', '-t', '1', 'web')
        self.assertEqual(r.rc, TIMEDOUT, r)
        self.assertTrue(r.err.startswith('dpctl: '), r)
        self.assertEqual(self.dump_lines(d, 'service.state', 'web')[0][2], 'up')

    def test_exits_before_ready(self):
        d = self.daemon()
        self.define(d, 'crash', ['sh', '-c', 'exit 3'], opts=['notify'])
        r = self.dpctl('start', 'crash')
        self.assertEqual(r.rc, FAIL, r)
        self.assertIn('crash: exited (exit 3)', r.out + r.err)
        self.define(d, 'suicide', ['sh', '-c', 'kill -KILL $$'], fds=['null', 'null', 'null',
                                                                      'notify.fd'])
        r = self.dpctl('start', 'suicide')
        self.assertEqual(r.rc, FAIL, r)
        self.assertRegex(r.out + r.err, r'suicide: exited \(.*SIGKILL')

    def test_start_errors(self):
        """No args, exec failure: the daemon's error, 1; unknown: 3."""
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        d.cmd('service.tags\tbare\tx')
        r = self.dpctl('start', 'bare')
        self.assertEqual(r.rc, FAIL, r)
        self.assertIn('no args configured', r.err)
        self.define(d, 'bad', [self.path('no-such-program')])
        r = self.dpctl('start', 'bad')
        self.assertEqual(r.rc, FAIL, r)
        self.assertIn('exec', r.out + r.err)
        r = self.dpctl('start', 'nope')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("dpctl: no such service 'nope'", r.err)
        self.assertEqual(self.dump_lines(d, 'service.state', 'web')[0][2], 'down')


class Stop(DpctlTest):
    def test_stop_term(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'], auto_up=[1, 'always'])
        pid = int(self.dump_lines(d, 'service.state', 'web')[0][4])
        r = self.ok('stop', 'web')
        self.assertEqual(r.lines, ['web: stopped (signal SIGTERM)'])
        self.assertEqual(r.err, '')
        self.assertFalse(dp.proc_alive(pid))
        self.assertEqual(self.auto_up_line(d, 'web'), ['service.auto_up', 'web', '1', 'always'])
        self.assertEqual(self.want_line(d, 'web'),
                         ['service.want', 'web', 'down', 'uid=%d' % os.geteuid(), ''])
        st = self.dump_lines(d, 'service.state', 'web')[0]
        self.assertEqual(st[2:7], ['down', st[3], str(pid), 'signal', 'SIGTERM'])
        # nothing restarts it: the daemon's events end with that down
        d.ping()
        states = [l for l in d.reader.seen if l.startswith('service.state\tweb\t')]
        self.assertTrue(states[-1].startswith('service.state\tweb\tdown\t'), states)

    def test_stop_exit0_on_term(self):
        d = self.daemon()
        prog = self.script('t0.py', TERM_EXIT0)
        self.define(d, 'web', [PY, prog, self.path('armed')])
        self.start_svc(d, 'web')
        self.armed('armed')
        r = self.ok('stop', 'web')
        self.assertEqual(r.lines, ['web: stopped (exit 0)'])

    def test_stop_escalates(self):
        d = self.daemon()
        pid, _ = self.term_ignorer(d, 'web')
        t0 = time.monotonic()
        r = self.ok('stop', '-t', '1', 'web')
        self.assertGreaterEqual(time.monotonic() - t0, 1, 'gave it -t seconds')
        self.assertEqual(len(r.lines), 1, r)
        self.assertRegex(r.lines[0], r'^web: did not stop within 1(\.0+)?s; killed '
                                     r'\(signal SIGKILL\)$')
        st = self.dump_lines(d, 'service.state', 'web')[0]
        self.assertEqual(st[2:7], ['down', st[3], str(pid), 'signal', 'SIGKILL'])
        self.assertFalse(dp.proc_alive(pid))

    def test_stop_crash_looping(self):
        """A service that auto-up restarts waits in `start`: stop cancels
        that start and holds auto-up back (the rule stays)."""
        d = self.daemon()
        self.define(d, 'loop', ['sh', '-c', 'exit 1'], auto_up=[1000, 'always'])
        # started within the command (up), then exited: now a start pending
        wait_for(lambda: self.dump_lines(d, 'service.state', 'loop')[0][2] == 'start',
                 msg='loop waiting to be restarted')
        r = self.ok('stop', 'loop')
        self.assertEqual(self.dump_lines(d, 'service.state', 'loop')[0][2], 'down')
        self.assertEqual(self.auto_up_line(d, 'loop'),
                         ['service.auto_up', 'loop', '1000', 'always'])
        self.assertEqual(self.want_line(d, 'loop')[2], 'down')
        self.assertEqual(r.lines, ['loop: was not running; its pending start is cancelled'])

    def test_stop_not_running(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        r = self.ok('stop', 'web')
        self.assertEqual(r.lines, ['web: was not running'])
        self.define(d, 'later', ['sleep', '30'], auto_up=[3, 'SIGUSR2'])
        d.cmd('service.start\tlater\t%d' % (int(time.monotonic()) + 5000))
        r = self.ok('stop', 'later')
        self.assertEqual(r.lines, ['later: was not running; its pending start is cancelled'])
        self.assertEqual(self.dump_lines(d, 'service.state', 'later')[0][2], 'down')
        self.assertEqual(self.auto_up_line(d, 'later'),
                         ['service.auto_up', 'later', '3', 'SIGUSR2'])
        self.assertEqual(self.want_line(d, 'later')[2], 'down')

    def test_stop_several_and_unknown(self):
        d = self.daemon()
        for n in ('a', 'b', 'c'):
            self.define(d, n, ['sleep', '30'])
        self.start_svc(d, 'a')
        self.start_svc(d, 'c')
        r = self.ok('stop', 'c', 'b', 'a')
        self.assertEqual(r.lines, ['c: stopped (signal SIGTERM)', 'b: was not running',
                                   'a: stopped (signal SIGTERM)'])
        r = self.dpctl('stop', 'nope')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("dpctl: no such service 'nope'", r.err)

    def test_stop_kills_cgroup(self):
        import test_containment as tc
        found = tc.cgroup2_mount()
        if not found or not os.access(found[0], os.W_OK):
            self.skipTest('no writable cgroup v2 mount')
        cg = os.path.join(found[0], 'dpt-dpctl-%d-%s' % (os.getpid(), os.path.basename(self.tmp)))
        try:
            os.mkdir(cg)
        except OSError as e:
            self.skipTest('cannot create a cgroup: %s' % e)

        def remove():
            # the daemon first (it could recreate a service's cgroup)
            for dd in self._daemons:
                dd.kill()
                dd.wait()
            tc.remove_cgroup_tree(cg)
        self.addCleanup(remove)
        if not os.path.exists(os.path.join(cg, 'cgroup.kill')):
            self.skipTest('no cgroup.kill')
        d = self.daemon('--cgroup', cg)
        pid, child = self.term_ignorer(d, 'web', fork=True)
        self.assertTrue(dp.proc_alive(child))
        r = self.ok('stop', '-t', '1', 'web')
        self.assertRegex(r.out, r'^web: did not stop within 1(\.0+)?s; killed \(signal SIGKILL\)\n$')
        wait_for(lambda: not dp.proc_alive(child), msg='the child in the cgroup killed too')
        wait_for(lambda: not tc.cg_populated(os.path.join(cg, 'web.service')),
                 msg='cgroup empty')


class Restart(DpctlTest):
    def test_restart_restores_auto_up(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'], auto_up=[2, 'always'])
        pid = int(self.dump_lines(d, 'service.state', 'web')[0][4])
        before = self.auto_up_line(d, 'web')
        r = self.ok('restart', 'web')
        self.assertEqual(len(r.lines), 2, r)
        self.assertEqual(r.lines[0], 'web: stopped (signal SIGTERM)')
        m = re.match(r'^web: up, pid (\d+)$', r.lines[1])
        self.assertTrue(m, r)
        new = int(m.group(1))
        self.assertNotEqual(new, pid)
        self.assertEqual(self.auto_up_line(d, 'web'), before)
        st = self.dump_lines(d, 'service.state', 'web')[0]
        self.assertEqual((st[2], st[4]), ('up', str(new)))
        self.assertFalse(dp.proc_alive(pid))

    def test_restart_without_auto_up_and_not_running(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        r = self.ok('restart', 'web')
        self.assertEqual(r.lines[0], 'web: was not running')
        self.assertRegex(r.lines[-1], r'^web: up, pid \d+$')
        self.assertEqual(self.auto_up_line(d, 'web'), ['service.auto_up', 'web', '-'])
        self.define(d, 'sig', ['sleep', '30'], auto_up=[4, 'SIGUSR2', 'SIGQUIT'])
        before = self.auto_up_line(d, 'sig')
        self.start_svc(d, 'sig')
        self.ok('restart', 'sig')
        self.assertEqual(self.auto_up_line(d, 'sig'), before)
        r = self.dpctl('restart', 'nope')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("no such service 'nope'", r.err)

    def test_restart_notify_service(self):
        d = self.daemon()
        self.notify_service(d, 'web', 'sd', '-', auto_up=[1, 'always'])
        st = self.dump_lines(d, 'service.state', 'web')[0]
        self.assertEqual(st[2], 'up')
        pid = int(st[4])
        r = self.ok('restart', 'web')
        self.assertEqual(r.lines[0], 'web: stopped (signal SIGTERM)')
        m = re.match(r'^web: up, pid (\d+), ready$', r.lines[1])
        self.assertTrue(m, r)
        self.assertNotEqual(int(m.group(1)), pid)


class Signal(DpctlTest):
    def test_signal_forms(self):
        d = self.daemon()
        prog = self.script('rec.py', SIG_RECORDER)
        log = self.path('sig.log')
        self.define(d, 'web', [PY, prog, log, self.path('armed')])
        self.start_svc(d, 'web')
        self.armed('armed')
        expected = []
        for sig, name in (('HUP', 'SIGHUP'), ('SIGUSR1', 'SIGUSR1'), ('1', 'SIGHUP'),
                          ('usr2', 'SIGUSR2')):
            r = self.dpctl('signal', sig, 'web')
            self.assertEqual((r.rc, r.out, r.err), (0, '', ''), r)
            expected.append(name)
            self.wait_text(log, lambda t: t.split() == expected)

    def test_signal_group_and_several(self):
        d = self.daemon()
        prog = self.script('forker.py', FORKER)
        kids = {}
        for n in ('solo', 'grp'):
            self.define(d, n, [PY, prog, self.path(n + '.armed')])
            kids[n] = (self.start_svc(d, n), int(self.armed(n + '.armed')))
        # without --group: the main process only
        r = self.dpctl('signal', 'TERM', 'solo')
        self.assertEqual((r.rc, r.out, r.err), (0, '', ''), r)
        self.expect_state(d, 'solo', 'down')
        self.assertTrue(dp.proc_alive(kids['solo'][1]), 'its child is not signalled')
        os.kill(kids['solo'][1], signal.SIGKILL)
        # --group: the whole process group
        r = self.dpctl('signal', '--group', 'KILL', 'grp')
        self.assertEqual((r.rc, r.out, r.err), (0, '', ''), r)
        self.expect_state(d, 'grp', 'down')
        wait_for(lambda: not dp.proc_alive(kids['grp'][1]), msg='the whole group killed')
        # several names
        for n in ('a', 'b'):
            self.define(d, n, ['sleep', '30'])
            self.start_svc(d, n)
        self.ok('signal', 'TERM', 'a', 'b')
        self.expect_all(d, ['service.state\t%s\tdown\t' % n for n in ('a', 'b')])

    def test_signal_errors(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        r = self.dpctl('signal', 'HUP', 'web')
        self.assertEqual(r.rc, FAIL, r)
        self.assertIn('not running', r.err)
        self.start_svc(d, 'web')
        r = self.dpctl('signal', 'BOGUS', 'web')
        self.assertEqual(r.rc, FAIL, r)
        self.assertIn("invalid signal", r.err)
        r = self.dpctl('signal', '--cgroup', 'TERM', 'web')
        self.assertEqual(r.rc, FAIL, r)     # no --cgroup on the daemon: its error
        r = self.dpctl('signal', 'HUP', 'nope')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("no such service 'nope'", r.err)
        self.assertEqual(self.dump_lines(d, 'service.state', 'web')[0][2], 'up')


class Wait(DpctlTest):
    def test_conditions_that_hold(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        self.ok('wait', 'web', 'down')
        self.ok('-t', '0', 'wait', 'web', 'down')
        self.start_svc(d, 'web')
        for cond in ('up', 'ready'):
            r = self.ok('-t', '0', 'wait', 'web', cond)
            self.assertEqual((r.out, r.err), ('', ''))
        self.assertEqual(self.dpctl('-t', '0', 'wait', 'web', 'down').rc, TIMEDOUT)

    def test_timeouts(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        for cond in ('up', 'ready'):
            r = self.dpctl('-t', '0.5', 'wait', 'web', cond)
            self.assertEqual(r.rc, TIMEDOUT, r)
            self.assertTrue(r.err.startswith('dpctl: '), r)
        self.notify_service(d, 'nt', 'sd', self.path('never'))
        self.start_svc(d, 'nt')
        self.ok('-t', '0', 'wait', 'nt', 'up')
        self.assertEqual(self.dpctl('-t', '0', 'wait', 'nt', 'ready').rc, TIMEDOUT)
        t0 = time.monotonic()
        self.assertEqual(self.dpctl('-t', '1.5', 'wait', 'nt', 'ready').rc, TIMEDOUT)
        self.assertGreaterEqual(time.monotonic() - t0, 1.5, 'waited its -t bound')
        t0 = time.monotonic()
        r = self.dpctl('wait', 'web', 'up')
        self.assertEqual(r.rc, TIMEDOUT, r)
        self.assertGreaterEqual(time.monotonic() - t0, 10, 'the default bound is 10 s')

    def test_waits_for_up_and_down(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        i = len(d.log.snapshot())
        p = self.dpctl_bg('wait', 'web', 'up', '-t', '30')
        self.settled(d, i, p)
        pid = self.start_svc(d, 'web')
        r = self.finish(p)
        self.assertEqual((r.rc, r.out), (0, ''), r)
        i = len(d.log.snapshot())
        p = self.dpctl_bg('-t', '30', 'wait', 'web', 'down')
        self.settled(d, i, p)
        os.kill(pid, signal.SIGKILL)
        self.assertEqual(self.finish(p).rc, 0)

    def test_waits_for_ready(self):
        d = self.daemon()
        self.notify_service(d, 'web', 'fd', self.path('go'))
        self.start_svc(d, 'web')
        i = len(d.log.snapshot())
        p = self.dpctl_bg('wait', 'web', 'ready', '-t', '30')
        self.settled(d, i, p)
        self.write_file('go', '')
        self.assertEqual(self.finish(p).rc, 0)

    def test_unknown_and_deleted(self):
        d = self.daemon()
        r = self.dpctl('wait', 'nope', 'up')
        self.assertEqual(r.rc, NOSVC, r)
        self.assertIn("no such service 'nope'", r.err)
        self.define(d, 'web', ['sleep', '30'])
        i = len(d.log.snapshot())
        p = self.dpctl_bg('wait', 'web', 'up', '-t', '30')
        self.settled(d, i, p)
        d.cmd('service.delete\tweb')
        r = self.finish(p)
        self.assertEqual(r.rc, NOSVC, r)


class Watch(DpctlTest):
    def watcher(self, d, *args):
        i = len(d.log.snapshot())
        p = self.dpctl_bg('watch', *args)
        self.client_of(d, i)
        return p, LineReader(p.stdout.fileno(), 'dpctl watch')

    def until(self, reader, pred, what):
        while True:
            line = reader.readline(TIMEOUT)
            if line is None:
                self.fail('watch ended before %s; seen %r' % (what, reader.seen))
            if pred(line):
                return line

    def test_raw(self):
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'])
        p, rd = self.watcher(d, '--raw', '-t', '60')
        d.send('service.start\tweb')
        up = self.expect_state(d, 'web', 'up')
        pid = int(up[4])
        self.until(rd, lambda l: l == '\t'.join(up), 'the up event, exactly as sent')
        d.send('service.tags\tweb\tt1\tt 2')
        self.until(rd, lambda l: l == 'service.tags\tweb\tt1\tt 2', 'the tags event')
        os.kill(pid, signal.SIGKILL)
        down = '\t'.join(self.expect_state(d, 'web', 'down'))
        self.until(rd, lambda l: l == down, 'the down event')
        p.send_signal(signal.SIGINT)
        self.finish(p)

    def test_human(self):
        d = self.daemon()
        d.cmd('fd.pipe\tp.r\tp.w')
        self.define(d, 'web', ['sh', '-c', 'read x; exit 1'], fds=['p.r', 'null', 'null'])
        p, rd = self.watcher(d, '-t', '60')
        off = time.time() - time.monotonic()
        pid = self.start_svc(d, 'web')
        ts = int(self.dump_lines(d, 'service.state', 'web')[0][3])
        line = self.until(rd, lambda l: 'web: up, pid %d' % pid in l, 'web: up')
        m = re.match(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ', line)
        self.assertTrue(m, line)
        shown = time.mktime(time.strptime(m.group(1), '%Y-%m-%d %H:%M:%S'))
        self.assertLess(abs(shown - (ts + off)), 2.5, (line, ts + off))
        self.assertEqual(m.group(1)[:10], time.strftime('%Y-%m-%d', time.localtime(ts + off)))
        d.cmd('fd.delete\tp.w')     # EOF: it exits 1
        line = self.until(rd, lambda l: 'web: down' in l, 'web: down')
        self.assertRegex(line, r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*web: down \(exit 1\) after \d+s')
        d.cmd('service.want\tweb\tdown\tfor\tthe night')
        line = self.until(rd, lambda l: 'web: want' in l, 'the want')
        self.assertRegex(line, r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  web: wanted down by stdin '
                               r'\(for the night\)$')
        d.cmd('service.want\tweb\t-')
        line = self.until(rd, lambda l: 'web: want cleared' in l, 'the want cleared')
        self.assertRegex(line, r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  web: want cleared by stdin$')
        os.kill(d.pid, signal.SIGHUP)
        line = self.until(rd, lambda l: 'SIGHUP' in l, 'the signal')
        self.assertRegex(line, r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*signal SIGHUP')
        p.send_signal(signal.SIGINT)
        self.finish(p)

    def test_watch_ends(self):
        d = self.daemon()
        r = self.dpctl('-t', '1', 'watch')
        self.assertEqual((r.rc, r.err), (0, ''), r)
        r = self.dpctl('watch', '--raw', '-t', '0.5')
        self.assertEqual((r.rc, r.err), (0, ''), r)
        self.assertEqual(d.cmd1('echo\tstill'), 'still')
        # without -t: until interrupted
        p, rd = self.watcher(d, '--raw')
        d.send('service.tags\tx\tprobe')
        self.until(rd, lambda l: l == 'service.tags\tx\tprobe', 'the tags event')
        p.send_signal(signal.SIGINT)
        self.finish(p)

    def test_asks_first(self):
        """watch first sends an echo and waits for the reply, as every
        command does (a socket that never answers then ends it with the
        no-reply message: test_trust_dpctl_output); the reply is not shown,
        and the events after it are, as before."""
        d = self.daemon()
        i = len(d.log.snapshot())
        p = self.dpctl_bg('watch', '--raw', '-t', '60')
        n = self.settled(d, i, p)
        said = [l for l in d.log.snapshot()[i:] if 'client %s: command: ' % n in l]
        self.assertEqual(len(said), 1, said)
        self.assertRegex(said[0], r'client %s: command: echo\tdpctl\.\d+\.1$' % n)
        rd = LineReader(p.stdout.fileno(), 'dpctl watch')
        d.send('service.tags\tx\tprobe')
        self.assertEqual(rd.readline(TIMEOUT), 'service.tags\tx\tprobe')
        p.send_signal(signal.SIGINT)
        self.finish(p)

    def test_daemon_dies(self):
        d = self.daemon()
        p, rd = self.watcher(d, '--raw')
        d.send('service.tags\tx\tprobe')
        self.until(rd, lambda l: l == 'service.tags\tx\tprobe', 'the tags event')
        d.kill()
        d.wait()
        r = self.finish(p)
        self.assertEqual(r.rc, LOST, r)
        self.assertIn('dpctl: connection to daemonproxy lost', r.err)


class DumpSend(DpctlTest):
    def test_dump_matches_statedump(self):
        from svc_util import comparable
        d = self.daemon()
        self.define(d, 'web', ['sleep', '30'], tags=['a b'], auto_up=[2, 'always'],
                    env=['X=1'])
        self.define(d, 'idle', ['true'])
        d.cmd('fd.pipe\tp.r\tp.w')
        c = self.connect(self.sock)
        direct = self.dump(c)
        r = self.ok('dump')
        self.assertEqual(r.err, '')
        self.assertTrue(all('\t' in l for l in r.lines), r)
        self.assertEqual(comparable(r.lines), comparable(direct))
        self.assertEqual([l for l in r.lines if l.startswith('service.env\t')],
                         ['service.env\tweb\tX=1'])

    def test_send_replies_and_changes(self):
        d = self.daemon()
        r = self.ok('send', 'echo', 'a', 'b')
        self.assertEqual((r.out, r.err), ('a\tb\n', ''))
        r = self.ok('send', 'echo', 'a', '', 'b c')
        self.assertEqual(r.out, 'a\t\tb c\n')
        r = self.ok('send', 'echo')
        self.assertEqual(r.out, '')
        self.ok('send', 'service.args', 'x', '/bin/true')
        self.assertEqual(self.dump_lines(d, 'service.args', 'x'), [['service.args', 'x', '/bin/true']])
        r = self.ok('send', 'statedump')
        self.assertIn('service.args\tx\t/bin/true', r.lines)

    def test_send_error(self):
        d = self.daemon()
        r = self.dpctl('send', 'service.start', 'nope')
        self.assertEqual(r.rc, FAIL, r)
        self.assertIn("no such service 'nope'", r.out + r.err)
        r = self.dpctl('send', 'frobnicate', 'x')
        self.assertEqual(r.rc, FAIL, r)
        self.assertIn('Unknown command: frobnicate', r.out + r.err)
        self.assertEqual(d.cmd1('echo\tfine'), 'fine')

    def test_send_exit_and_terminate(self):
        d = self.daemon()
        r = self.dpctl('send', 'exit')
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(d.cmd1('echo\talive'), 'alive')
        r = self.dpctl('send', 'terminate', '0')
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(d.wait(), 0)


class Reexec(DpctlTest):
    """dpctl reexec [PATH]: the daemon replaced in place (same pid, same
    services, dpctl's and every other connection kept), its refusals and
    failed checks (exit 1, the daemon as it was), a timeout (4), no daemon
    (5)."""

    def setUp(self):
        super().setUp()
        if dp.VALGRIND_DIR:
            self.skipTest('a re-exec leaves valgrind behind')

    def version(self):
        out = subprocess.run([dp.binary(), '--version'], stdout=subprocess.PIPE,
                             timeout=RUN_TIMEOUT).stdout.decode()
        m = re.match(r'^daemonproxy version (\S+)\n', out)
        self.assertTrue(m, out)
        return m.group(1)

    def exe(self, d):
        return os.readlink('/proc/%d/exe' % d.pid)

    def running(self, d, name='web'):
        """A daemon with one service up; returns its pid."""
        self.define(d, name, ['sleep', '30'])
        return self.start_svc(d, name)

    def unharmed(self, d, exe, pid):
        """The same daemon, binary and service run; dpctl's view agrees."""
        self.assertTrue(d.alive())
        self.assertEqual(self.exe(d), exe)
        self.assertEqual(d.cmd1('echo\tstill'), 'still')
        rows, _ = self.status_rows()
        self.assertEqual(rows['web'][1:3], ['up', str(pid)])

    def heard(self, d, path):
        """The daemon's own controller (stdin) got the new process's event."""
        ev = d.expect(lambda l: l.startswith('reexec\t'))
        self.assertEqual(ev, 'reexec\t%s\t%s' % (self.version(), path))

    def watched(self, reader, text):
        """The next line of a dpctl watch that contains text."""
        while True:
            line = reader.readline(TIMEOUT)
            if line is None:
                self.fail('watch ended before %r; seen %r' % (text, reader.seen))
            if text in line:
                return line

    def executable(self, name, text, mode=0o755):
        p = self.write_file(name, text)
        os.chmod(p, mode)
        return p

    def test_reexec_self(self):
        d = self.daemon()
        pid = self.running(d)
        exe = self.exe(d)
        i = len(d.log.snapshot())
        w = self.dpctl_bg('watch', '-t', '60')
        self.client_of(d, i)
        wr = LineReader(w.stdout.fileno(), 'dpctl watch')
        r = self.ok('reexec')
        self.assertEqual(r.err, '', r)
        self.assertEqual(r.lines, ['daemonproxy re-executed: %s (version %s)'
                                   % (exe, self.version())], r)
        # the same process, its controllers still connected
        self.heard(d, exe)
        self.assertTrue(d.alive())
        self.assertEqual(d.cmd1('echo\tsame'), 'same')
        line = self.watched(wr, 're-executed')
        self.assertRegex(line, r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  daemonproxy re-executed: %s '
                         r'\(version ' % re.escape(exe))
        d.send('service.tags\tx\tprobe')
        self.watched(wr, 'x: tags probe')
        self.assertIsNone(w.poll(), 'dpctl watch still runs')
        # statedump-based status: the service and its pid carried over
        rows, _ = self.status_rows()
        self.assertEqual(rows['web'][1:3], ['up', str(pid)])
        self.assertTrue(dp.proc_alive(pid))
        w.send_signal(signal.SIGINT)
        self.finish(w)

    def test_reexec_copy_relative_and_absolute(self):
        d = self.daemon()
        pid = self.running(d)
        copy = self.path('dp-copy')
        shutil.copy2(dp.binary(), copy)
        # relative: against dpctl's cwd, not the daemon's
        r = self.ok('reexec', './dp-copy', cwd=self.tmp)
        self.assertEqual(r.lines, ['daemonproxy re-executed: %s (version %s)'
                                   % (copy, self.version())], r)
        self.heard(d, copy)
        self.assertEqual(self.exe(d), os.path.realpath(copy))
        copy2 = self.path('dp-copy2')
        shutil.copy2(dp.binary(), copy2)
        r = self.ok('reexec', copy2)
        self.assertEqual(r.lines, ['daemonproxy re-executed: %s (version %s)'
                                   % (copy2, self.version())], r)
        self.heard(d, copy2)
        self.unharmed(d, os.path.realpath(copy2), pid)
        # without PATH: the binary it now runs from
        r = self.ok('reexec')
        self.assertIn('re-executed: %s ' % os.path.realpath(copy2), r.out)
        self.heard(d, os.path.realpath(copy2))
        self.unharmed(d, os.path.realpath(copy2), pid)

    def test_refused_at_once(self):
        d = self.daemon()
        pid = self.running(d)
        exe = self.exe(d)
        plain = self.executable('plain', '#!/bin/sh\nexit 0\n', 0o644)
        for path, why in ((self.path('nope'), 'No such file or directory'),
                          (plain, 'Permission denied'),
                          (self.tmp, 'not a regular file')):
            with self.subTest(path=path):
                r = self.dpctl('reexec', path)
                self.assertEqual((r.rc, r.out), (FAIL, ''), r)
                self.assertEqual(r.err, 'dpctl: reexec: %s: %s\n' % (path, why), r)
                self.unharmed(d, exe, pid)

    def test_check_refused(self):
        d = self.daemon()
        pid = self.running(d)
        exe = self.exe(d)
        for name, text in (('exit0', '#!/bin/sh\nexit 0\n'),
                           ('oldver', '#!/bin/sh\necho "daemonproxy-state 1 unsupported"\n'
                                      'exit 1\n')):
            with self.subTest(name):
                bad = self.executable(name, text)
                r = self.dpctl('reexec', bad)
                self.assertEqual((r.rc, r.out), (FAIL, ''), r)
                self.assertIn('state version', r.err)
                self.assertIn(bad, r.err)
                self.assertNotIn('for command', r.err)
                # every controller heard it
                line = d.expect(lambda l: l.startswith('error\treexec: '))
                self.assertIn(bad, line)
                self.unharmed(d, exe, pid)

    def test_timeout_and_in_progress(self):
        d = self.daemon()
        pid = self.running(d)
        exe = self.exe(d)
        # a check that does not answer (daemonproxy gives it 10 s)
        slow = self.executable('slow', '#!/bin/sh\nexec sleep 30\n')
        t0 = time.monotonic()
        r = self.dpctl('-t', '0.5', 'reexec', slow)
        self.assertEqual((r.rc, r.out), (TIMEDOUT, ''), r)
        self.assertIn('may still happen', r.err)
        self.assertLess(time.monotonic() - t0, 8, 'dpctl kept to its -t')
        # its check still runs: another attempt is refused at once
        r = self.dpctl('reexec')
        self.assertEqual((r.rc, r.out), (FAIL, ''), r)
        self.assertEqual(r.err, 'dpctl: reexec: a re-exec is already in progress\n', r)
        self.unharmed(d, exe, pid)

    def test_no_daemon_and_usage(self):
        nowhere = self.path('none.sock')
        r = self.dpctl('reexec', sock=nowhere)
        self.assertEqual((r.rc, r.out), (NOCONN, ''), r)
        self.assertIn('cannot connect to %s' % nowhere, r.err)
        r = self.dpctl('reexec', '--help', sock=nowhere)
        self.assertEqual((r.rc, r.err), (0, ''), r)
        self.assertIn('reexec [PATH]', r.out)
        self.assertIn('reexec', self.dpctl('--help', sock=nowhere).out)
        for args in (['reexec', 'a', 'b'], ['reexec', ''], ['reexec', 'a\tb'],
                     ['reexec', '/x\ny'], ['reexec', '/' + 'x' * 4100]):
            with self.subTest(args=args[1:]):
                r = self.dpctl(*args, sock=nowhere)
                self.assertEqual((r.rc, r.out), (USAGE_CODE, ''), r)
                self.assertNotIn('cannot connect', r.err)
