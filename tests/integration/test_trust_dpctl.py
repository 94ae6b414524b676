"""Who dpctl talks to (issue 18, point 2; docs/dpctl.1 FILES and ENVIRONMENT).

Another local user (uid 65534 here) listens first where a victim's
daemonproxy and dpctl look by default, or wherever the victim is told to
look; it pretends to be daemonproxy (invented services, echo markers) and
records every byte it receives.  The victim is a second unprivileged uid
(run via setpriv, so that the real fallback rule for non-root users is
exercised) and root.

- The fallback /tmp/daemonproxy-UID/daemonproxy.sock: its directory is
  trusted only when it is a directory (not a symlink) of the victim's own,
  closed to group and others.  `daemonproxy --default-socket` creates it
  (0700) or refuses with exit 3 and one line saying why (owned by another
  uid, a symlink, not a directory, open mode); dpctl refuses before
  connecting (exit 5, the same line), for every command, and the squatter
  receives nothing.  A squatter of the old name /tmp/daemonproxy-UID.sock
  no longer matters: the daemon simply works, and dpctl reaches it.
- The peer check: whatever the path (-S, $DAEMONPROXY_SOCKET,
  $XDG_RUNTIME_DIR), dpctl accepts a peer only if SO_PEERCRED says root or
  its own uid, else it refuses without sending a byte: exit 5 and
  "refusing PATH: it is served by uid U (pid P, "comm"), not by root or
  you; ... --trust-uid U".  --trust-uid USER and $DAEMONPROXY_TRUST_UID
  (a uid or a name; the option wins) make one more uid acceptable; a bad
  value is a usage error (exit 2) before any connection.  A real
  daemonproxy of the same user, and root's, are accepted.

The fake server (FAKE_SERVER, also used by test_trust_dpctl_output) is
driven through its stdout and a probe connection that reports what every
earlier connection sent; nothing here sleeps for a fixed time.
"""

import grp
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import unittest

import dp
from dp import TIMEOUT, LineReader
from svc_util import SvcTest

DPCTL = os.environ.get('DPCTL') or os.path.join(os.path.dirname(dp.binary()), 'dpctl')
SETPRIV = shutil.which('setpriv')
ATTACKER = 65534
USAGE_CODE, FAIL, TIMEDOUT, NOCONN, LOST = 2, 1, 4, 5, 6
RUN_TIMEOUT = 60

# A fake daemonproxy.  argv: MODE PATH...  It listens on every PATH (each
# socket file mode 0777: it wants visitors) and prints LISTENING.  A
# connection whose first line is "probe" is answered with
# "probe-ok CONNS BYTES": the connections before it and the bytes they
# sent, in all.  Modes:
#   pretend   one connection at a time, in order (so a probe's answer counts
#             every earlier one in full): answers "statedump" with invented
#             services and "echo X" with X, as daemonproxy would
#   longest   the same, with a line as long as daemonproxy's longest (8192
#             bytes with its newline) in the statedump
#   endless   one line that never ends
#   short     short event lines without end
#   invent    a new service on every line, without end
#   binary    bytes no daemonproxy sends, then silence
#   silent    accepts, reads, never answers
#   http      answers the first bytes with an HTTP error header, then silence
#   banner    greets with a text line of its own protocol, then silence
#   close     greets and closes
#   lead      events at once, then the answer to each "echo X" (X) and one
#             more event after it, as daemonproxy with events under way
# The modes after pretend serve each connection in a thread of its own.
FAKE_SERVER = r'''
import os, random, select, socket, sys, threading
mode, paths = sys.argv[1], sys.argv[2:]
listeners = []
for p in paths:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(p)
    os.chmod(p, 0o777)
    s.listen(64)
    listeners.append(s)
print('LISTENING', flush=True)
stats = {'conns': 0, 'bytes': 0}
INVENTED = (b'service.state\tevil\tup\t1\t4242\t-\t-\t5\t-\n'
            b'service.args\tevil\tsh\t-c\tsteal\n'
            b'service.auto_up\tevil\t1\talways\n')
if mode == 'longest':
    status = b'service.notify\tevil\t1\t4242\tSTATUS='
    INVENTED += status + b'y' * (8191 - len(status)) + b'\n'

def invented(start, n):
    return b''.join(b'service.state\ts%d\tup\t1\t2\t-\t-\t3\t-\n' % i
                    for i in range(start, start + n))

# made once: more services than dpctl keeps, sent as fast as the kernel copies
MANY = 250000
if mode == 'invent':
    FIRST = invented(0, MANY)

def pretend(c):
    got = 0
    buf = b''
    first = True
    while True:
        data = c.recv(65536)
        if not data:
            break
        if first and data.startswith(b'probe\n'):
            settle()
            c.sendall(b'probe-ok %d %d\n' % (stats['conns'], stats['bytes']))
            return
        first = False
        got += len(data)
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            if line == b'statedump':
                c.sendall(INVENTED)
            elif line.startswith(b'echo\t'):
                c.sendall(line[5:] + b'\n')
    stats['conns'] += 1
    stats['bytes'] += got

def settle():
    """Serve every connection still waiting on any listener, so that a
    probe counts all made before it, whichever path they came to (a select
    that finds two listeners ready serves the first one first)."""
    for s in listeners:
        s.setblocking(False)
        try:
            while True:
                try:
                    c, _ = s.accept()
                except BlockingIOError:
                    break
                c.setblocking(True)
                try:
                    pretend(c)
                except OSError:
                    pass
                c.close()
        finally:
            s.setblocking(True)

def drain(c):
    while c.recv(65536):
        pass

def serve(c):
    try:
        c.settimeout(None)
        if mode == 'endless':
            block = b'x' * 65536
            while True:
                c.sendall(block)
        elif mode == 'short':
            block = b'service.state\tweb\tup\t1\t4242\t-\t-\t5\t-\n' * 2000
            while True:
                c.sendall(block)
        elif mode == 'invent':
            c.sendall(FIRST)
            n = MANY
            while True:
                c.sendall(invented(n, 20000))
                n += 20000
        elif mode == 'binary':
            rnd = random.Random(18)
            c.sendall(b'\x00\x01\x02' + bytes(rnd.randrange(256) for _ in range(4096)))
            drain(c)
        elif mode == 'silent':
            drain(c)
        elif mode == 'http':
            c.recv(65536)
            c.sendall(b'HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n')
            drain(c)
        elif mode == 'banner':
            c.sendall(b'* OK notdaemonproxy 1.0 ready\n')
            drain(c)
        elif mode == 'close':
            c.sendall(b'* BYE notdaemonproxy 1.0\n')
        elif mode == 'lead':
            c.sendall(b'signal\tSIGHUP\t5\t1\nservice.tags\tweb\tbefore\n')
            buf = b''
            while True:
                data = c.recv(65536)
                if not data:
                    break
                buf += data
                while b'\n' in buf:
                    line, buf = buf.split(b'\n', 1)
                    if line.startswith(b'echo\t'):
                        c.sendall(line[5:] + b'\nservice.tags\tweb\tafter\n')
    except OSError:
        pass
    finally:
        c.close()

while True:
    ready, _, _ = select.select(listeners, [], [])
    for s in ready:
        c, _ = s.accept()
        if mode in ('pretend', 'longest'):
            try:
                pretend(c)
            except OSError:
                pass
            c.close()
        else:
            threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


class FakeServer:
    """FAKE_SERVER in MODE on PATHS, as uid (None: ours)."""

    def __init__(self, test, mode, paths, uid=None):
        script = test.write_file('fake_server.py', FAKE_SERVER)
        os.chmod(script, 0o644)
        prefix = as_uid(uid) if uid is not None else []
        self.paths = list(paths)
        self.mode = mode
        self.proc = subprocess.Popen(prefix + [sys.executable, script, mode] + self.paths,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        test.on_cleanup(self.stop)
        self.out = LineReader(self.proc.stdout.fileno(), 'fake server')
        line = self.out.readline(TIMEOUT * 2)
        if line != 'LISTENING':
            self.stop()
            raise AssertionError('fake server did not start: %r %r'
                                 % (line, self.proc.stderr.read()))
        self.pid = self.proc.pid

    def comm(self):
        with open('/proc/%d/comm' % self.pid) as f:
            return f.read().rstrip('\n')

    def probe(self):
        """(connections, bytes) the pretend server had from everyone before
        this probe, each connection counted once it ended."""
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(self.paths[0])
            c.sendall(b'probe\n')
            line = LineReader(c.fileno(), 'probe').readline(TIMEOUT * 2)
        finally:
            c.close()
        m = re.match(r'^probe-ok (\d+) (\d+)$', line or '')
        if not m:
            raise AssertionError('probe answered %r' % line)
        return int(m.group(1)), int(m.group(2))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def as_uid(uid, groups=()):
    """A setpriv prefix running the command as uid (and gid uid)."""
    gr = ['--groups=' + ','.join(str(g) for g in groups)] if groups else ['--clear-groups']
    return [SETPRIV, '--reuid=%d' % uid, '--regid=%d' % uid] + gr


def free_victim_uid():
    """An unused uid whose /tmp/daemonproxy-UID names are free, different
    per test process (sessions running the suite at once never share)."""
    for k in range(1000):
        uid = 61000 + (os.getpid() + k * 7919) % 3000
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        if not any(os.path.lexists(p) for p in fallback_names(uid)):
            return uid
    raise unittest.SkipTest('no free uid for a victim')


def fallback_names(uid):
    """The fallback directory and the old fallback socket name."""
    return '/tmp/daemonproxy-%d' % uid, '/tmp/daemonproxy-%d.sock' % uid


def remove(path):
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


@unittest.skipUnless(SETPRIV and os.geteuid() == 0, 'needs root and setpriv for other uids')
class TrustTest(SvcTest):
    def setUp(self):
        super().setUp()
        if not os.access(DPCTL, os.X_OK):
            self.fail('dpctl binary %s does not exist' % DPCTL)
        os.chmod(self.tmp, 0o755)       # the other uids run scripts from here
        self.victim = free_victim_uid()
        self.fallback_dir, self.old_name = fallback_names(self.victim)
        self.fallback = self.fallback_dir + '/daemonproxy.sock'
        for p in (self.fallback_dir, self.old_name):
            self.on_cleanup(lambda p=p: remove(p))
        home = self.path('home')
        os.mkdir(home)
        os.chown(home, self.victim, self.victim)
        # no XDG_RUNTIME_DIR, no DAEMONPROXY_SOCKET: the default is the fallback
        self.victim_env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': home}

    def dpctl(self, *args, uid=None, env=None, timeout=RUN_TIMEOUT):
        """Run dpctl (as uid, or as root); returns (code, stdout, stderr)."""
        e = dict(self.victim_env if uid is not None else
                 {k: v for k, v in os.environ.items()
                  if k not in ('DAEMONPROXY_SOCKET', 'DAEMONPROXY_TRUST_UID')})
        e.update(env or {})
        prefix = as_uid(uid) if uid is not None else []
        p = subprocess.run(prefix + [DPCTL] + [str(a) for a in args], env=e,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode('latin-1'), p.stderr.decode('latin-1')

    def attacker_dir(self, path, mode=0o755):
        """A directory made by the attacker."""
        os.mkdir(path)
        os.chown(path, ATTACKER, ATTACKER)
        os.chmod(path, mode)
        return path

    # every command dpctl has, each of which would send something
    COMMANDS = [['send', 'service.env', 'web', 'DB_PASSWORD=x'], ['status'],
                ['status', '--json'], ['dump'], ['-t', '1', 'watch'], ['start', 'web'],
                ['stop', 'web'], ['restart', 'web'], ['-t', '1', 'wait', 'web', 'up'],
                ['signal', 'HUP', 'web'], ['reexec']]


class Squat(TrustTest):
    """The fallback directory, squatted before the victim comes."""

    def squat_dir_with_server(self):
        """The attacker's directory at the fallback, its server listening
        there and on the old name too."""
        self.attacker_dir(self.fallback_dir)
        return FakeServer(self, 'pretend', [self.fallback, self.old_name], uid=ATTACKER)

    # what the victim can do, by who owns the name (in the sticky /tmp only
    # the owner or root may remove it)
    ASK_ROOT, REMOVE, CHMOD = 'ask root to remove it', 'remove it', 'chmod 700 it or remove it'

    def refusal(self, why, prog, fix):
        return ('%s: refusing %s for the default socket: %s; %s, or set '
                'XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET\n' % (prog, self.fallback_dir, why, fix))

    def run_daemon(self):
        p = subprocess.run(as_uid(self.victim) + [dp.binary(), '--default-socket'],
                           env=self.victim_env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
        return p.returncode, p.stdout.decode('latin-1'), p.stderr.decode('latin-1')

    def variants(self):
        """(name, set it up, the reason in the message, what to do) for each
        way the fallback directory can be unfit."""
        owner = 'owned by uid %d, not %d' % (ATTACKER, self.victim)

        def symlink():
            target = self.attacker_dir(self.path('attacker-dir'), 0o777)
            os.symlink(target, self.fallback_dir)
            os.lchown(self.fallback_dir, ATTACKER, ATTACKER)

        def plain_file():
            with open(self.fallback_dir, 'w') as f:
                f.write('squat\n')
            os.chown(self.fallback_dir, ATTACKER, ATTACKER)

        def own_but_open():
            os.mkdir(self.fallback_dir)
            os.chown(self.fallback_dir, self.victim, self.victim)
            os.chmod(self.fallback_dir, 0o755)

        def own_symlink():
            target = self.path('victim-dir')
            os.mkdir(target, 0o700)
            os.chown(target, self.victim, self.victim)
            os.symlink(target, self.fallback_dir)
            os.lchown(self.fallback_dir, self.victim, self.victim)

        def own_file():
            with open(self.fallback_dir, 'w') as f:
                f.write('mine\n')
            os.chown(self.fallback_dir, self.victim, self.victim)

        def own_but_writable():
            own_but_open()
            os.chmod(self.fallback_dir, 0o1777)

        return [('another uid, sticky and open', lambda: self.attacker_dir(self.fallback_dir, 0o1777),
                 owner, self.ASK_ROOT),
                ('another uid, 0700', lambda: self.attacker_dir(self.fallback_dir, 0o700), owner,
                 self.ASK_ROOT),
                ('a symlink to the attacker', symlink, 'a symlink', self.ASK_ROOT),
                ('a symlink of the victim', own_symlink, 'a symlink', self.REMOVE),
                ('a file', plain_file, 'not a directory', self.ASK_ROOT),
                ('a file of the victim', own_file, 'not a directory', self.REMOVE),
                ('its own, mode 0755', own_but_open,
                 'mode 0755, must not be open to group or others', self.CHMOD),
                ('its own, mode 1777', own_but_writable,
                 'mode 1777, must not be open to group or others', self.CHMOD)]

    def follow_advice(self, fix):
        """Do what the message told the victim to do, as the victim: it
        works where the message says so, and 'ask root' is said only where
        the victim cannot do it."""
        def as_victim(*argv):
            return subprocess.run(as_uid(self.victim) + list(argv), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=RUN_TIMEOUT).returncode
        rm = as_victim('rm', '-rf', self.fallback_dir)
        if fix == self.ASK_ROOT:
            self.assertNotEqual(rm, 0)
            self.assertTrue(os.path.lexists(self.fallback_dir), 'the victim removed it')
            return
        self.assertEqual(rm, 0)
        self.assertFalse(os.path.lexists(self.fallback_dir))
        if fix == self.CHMOD:
            self.assertEqual(as_victim('mkdir', '-m', '755', self.fallback_dir), 0)
            self.assertEqual(as_victim('chmod', '700', self.fallback_dir), 0)
        # either way nothing is refused any more: there is simply no daemon
        code, out, err = self.dpctl('status', uid=self.victim)
        self.assertEqual(code, NOCONN)
        self.assertIn('dpctl: cannot connect to %s: No such file or directory' % self.fallback,
                      err)

    def test_daemon_refuses_a_squatted_directory(self):
        srv = self.squat_dir_with_server()
        code, out, err = self.run_daemon()
        self.assertEqual((code, out, err),
                         (3, '', self.refusal('owned by uid %d, not %d' % (ATTACKER, self.victim),
                                              'daemonproxy', self.ASK_ROOT)))
        self.assertEqual(srv.probe(), (0, 0), 'the squatter heard from nobody')
        srv.stop()
        for name, make, why, fix in self.variants():
            with self.subTest(name):
                remove(self.fallback_dir)
                remove(self.old_name)
                make()
                code, out, err = self.run_daemon()
                self.assertEqual((code, out, err), (3, '', self.refusal(why, 'daemonproxy', fix)))
                self.assertFalse(os.path.lexists(self.old_name))

    def test_dpctl_refuses_a_squatted_directory_and_sends_nothing(self):
        srv = self.squat_dir_with_server()
        why = 'owned by uid %d, not %d' % (ATTACKER, self.victim)
        for args in self.COMMANDS:
            with self.subTest(args=args):
                code, out, err = self.dpctl(*args, uid=self.victim)
                self.assertEqual((code, out, err),
                                 (NOCONN, '', self.refusal(why, 'dpctl', self.ASK_ROOT)))
        self.assertEqual(srv.probe(), (0, 0), 'dpctl sent the squatter nothing')
        srv.stop()
        for name, make, why, fix in self.variants():
            with self.subTest(name):
                remove(self.fallback_dir)
                make()
                code, out, err = self.dpctl('send', 'service.env', 'web', 'DB_PASSWORD=x',
                                            uid=self.victim)
                self.assertEqual((code, out, err), (NOCONN, '', self.refusal(why, 'dpctl', fix)))
                self.follow_advice(fix)

    def test_missing_directory_is_no_daemon(self):
        """A client never creates the directory: no daemon there, as before."""
        code, out, err = self.dpctl('status', uid=self.victim)
        self.assertEqual((code, out), (NOCONN, ''))
        self.assertEqual(err, 'dpctl: cannot connect to %s: No such file or directory (is '
                         'daemonproxy running with -S on this path? Give the path with -S or '
                         '$DAEMONPROXY_SOCKET)\n' % self.fallback)
        self.assertFalse(os.path.lexists(self.fallback_dir))

    def test_old_name_squatted_the_daemon_simply_works(self):
        srv = FakeServer(self, 'pretend', [self.old_name], uid=ATTACKER)
        d = self.start('--default-socket', prefix=as_uid(self.victim), env=self.victim_env)
        d.ping()
        st = os.lstat(self.fallback_dir)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (self.victim, 0o700))
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.fallback).st_mode))
        d.cmd('service.args\tweb\tsleep\t30')
        code, out, err = self.dpctl('status', uid=self.victim)
        self.assertEqual((code, err), (0, ''), out)
        self.assertEqual([l.split()[0] for l in out.splitlines()[1:]], ['web'])
        code, out, err = self.dpctl('send', 'service.env', 'web', 'DB_PASSWORD=x',
                                    uid=self.victim)
        self.assertEqual((code, out, err), (0, 'service.env\tweb\tDB_PASSWORD=x\n', ''))
        self.assertIn('service.env\tweb\tDB_PASSWORD=x', d.cmd('statedump'))
        self.assertEqual(srv.probe(), (0, 0), 'the old name heard from nobody')


class PeerCheck(TrustTest):
    """The peer's uid, whatever path dpctl was given."""

    def setUp(self):
        super().setUp()
        self.att = self.attacker_dir(self.path('att'), 0o1777)
        self.att_sock = os.path.join(self.att, 'dp.sock')
        self.srv = FakeServer(self, 'pretend',
                              [self.att_sock, os.path.join(self.att, 'daemonproxy.sock')],
                              uid=ATTACKER)

    def refusal(self, path, also=''):
        return ('dpctl: refusing %s: it is served by uid %d (pid %d, "%s"), not by root%s; if '
                'that daemon is yours to use, say so with --trust-uid %d\n'
                % (path, ATTACKER, self.srv.pid, self.srv.comm(), also or ' or you', ATTACKER))

    def ways(self, root):
        """(how, dpctl args before the command, env) naming the attacker's socket."""
        w = [('-S', ['-S', self.att_sock], {}),
             ('DAEMONPROXY_SOCKET', [], {'DAEMONPROXY_SOCKET': self.att_sock})]
        if not root:
            w.append(('XDG_RUNTIME_DIR', [], {'XDG_RUNTIME_DIR': self.att}))
        return w

    def test_foreign_server_gets_nothing(self):
        n = 0
        for uid in (None, self.victim):
            for how, pre, env in self.ways(uid is None):
                path = os.path.join(self.att, 'daemonproxy.sock' if 'XDG_RUNTIME_DIR' in env
                                    else 'dp.sock')
                for args in self.COMMANDS:
                    with self.subTest(uid=uid, how=how, args=args):
                        code, out, err = self.dpctl(*(pre + args), uid=uid, env=env)
                        self.assertEqual((code, out, err), (NOCONN, '', self.refusal(path)))
                        n += 1
        self.assertEqual(self.srv.probe(), (n, 0), 'connected, but sent not a byte')

    def test_status_does_not_show_invented_services(self):
        code, out, err = self.dpctl('-S', self.att_sock, 'status', uid=self.victim)
        self.assertEqual(code, NOCONN)
        self.assertNotIn('evil', out + err)

    def test_trust_uid_accepts_one_more_uid(self):
        nobody = pwd.getpwuid(ATTACKER).pw_name
        trusted = [(['--trust-uid', ATTACKER], {}), (['--trust-uid=%d' % ATTACKER], {}),
                   (['--trust-uid', nobody], {}),
                   ([], {'DAEMONPROXY_TRUST_UID': str(ATTACKER)}),
                   ([], {'DAEMONPROXY_TRUST_UID': nobody}),
                   # the option wins: the environment is not even read
                   (['--trust-uid', ATTACKER], {'DAEMONPROXY_TRUST_UID': 'no-such-user-xyz'})]
        for uid in (None, self.victim):
            for opt, env in trusted:
                with self.subTest(uid=uid, opt=opt, env=env):
                    code, out, err = self.dpctl('-S', self.att_sock, *(opt + ['status']),
                                                uid=uid, env=env)
                    self.assertEqual((code, err), (0, ''), out)
                    self.assertEqual([l.split()[:2] for l in out.splitlines()[1:]],
                                     [['evil', 'up']])
                    code, out, err = self.dpctl('-S', self.att_sock, *(opt + ['send', 'echo', 'hi']),
                                                uid=uid, env=env)
                    self.assertEqual((code, out, err), (0, 'hi\n', ''))
        conns, sent = self.srv.probe()
        self.assertEqual(conns, 2 * 2 * len(trusted))
        # the option wins over the environment the other way too
        code, out, err = self.dpctl('-S', self.att_sock, '--trust-uid', '1234', 'status',
                                    env={'DAEMONPROXY_TRUST_UID': str(ATTACKER)})
        self.assertEqual((code, out, err),
                         (NOCONN, '', self.refusal(self.att_sock, ', you or uid 1234')))
        self.assertEqual(self.srv.probe(), (conns + 1, sent))

    def test_bad_trust_values_are_usage_errors(self):
        for opt, env, word in (
                (['--trust-uid', 'no-such-user-xyz'], {}, 'no-such-user-xyz'),
                (['--trust-uid', ''], {}, "''"),
                (['--trust-uid', '4294967295'], {}, 'out of range'),
                (['--trust-uid', '99999999999999999999'], {}, 'out of range'),
                (['--trust-uid', '12x'], {}, "'12x'"),
                ([], {'DAEMONPROXY_TRUST_UID': 'no-such-user-xyz'}, 'DAEMONPROXY_TRUST_UID'),
                (['--trust-uid'], {}, 'needs an argument')):
            with self.subTest(opt=opt, env=env):
                code, out, err = self.dpctl('-S', self.att_sock, 'status', *opt, env=env)
                self.assertEqual((code, out), (USAGE_CODE, ''), err)
                self.assertTrue(err.startswith('dpctl: '), err)
                self.assertIn(word, err)
        # an empty variable is an unset one
        code, out, err = self.dpctl('-S', self.att_sock, 'status',
                                    env={'DAEMONPROXY_TRUST_UID': ''})
        self.assertEqual((code, out, err), (NOCONN, '', self.refusal(self.att_sock)))
        self.assertEqual(self.srv.probe(), (1, 0))

    def test_own_daemon_and_roots_are_accepted(self):
        # the victim's own daemon, on a path of its own
        vdir = self.path('victim')
        os.mkdir(vdir, 0o700)
        os.chown(vdir, self.victim, self.victim)
        vsock = os.path.join(vdir, 'dp.sock')
        d = self.start('-S', vsock, prefix=as_uid(self.victim), env=self.victim_env)
        d.ping()
        d.cmd('service.args\tmine\tsleep\t30')
        code, out, err = self.dpctl('-S', vsock, 'status', uid=self.victim)
        self.assertEqual((code, err), (0, ''))
        self.assertEqual([l.split()[0] for l in out.splitlines()[1:]], ['mine'])
        # root talking to it: another uid, refused unless trusted
        code, out, err = self.dpctl('-S', vsock, 'status')
        self.assertEqual((code, out), (NOCONN, ''))
        self.assertIn('it is served by uid %d (pid %d, "' % (self.victim, d.pid), err)
        code, out, err = self.dpctl('-S', vsock, '--trust-uid', self.victim, 'status')
        self.assertEqual((code, err), (0, ''))
        # root's daemon, reached by the victim as a --socket-group member
        group = ATTACKER        # nogroup: the victim is made a member below
        rsock = self.path('root.sock')
        r = self.start('-S', rsock, '--socket-group', grp.getgrgid(group).gr_name)
        r.ping()
        r.cmd('service.args\troots\tsleep\t30')
        p = subprocess.run(as_uid(self.victim, groups=[group]) + [DPCTL, '-S', rsock, 'status'],
                           env=self.victim_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT)
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        self.assertEqual([l.split()[0] for l in p.stdout.decode().splitlines()[1:]], ['roots'])


if __name__ == '__main__':
    unittest.main()
