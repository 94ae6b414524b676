"""docs/protocol.md, service.opts: the execution attributes (issue 22).

The words user=, group=, groups=, umask=, nice=, limit-RES=, no-new-privs,
cwd= and caps= set what a service's child becomes before exec.  Checked on
the real child: /proc/PID/status (Uid, Gid, Groups, Umask, NoNewPrivs,
Cap*), /proc/PID/limits, /proc/PID/stat (nice), /proc/PID/cwd; a uid-65534
service binds port 80 with caps=cap_net_bind_service and cannot without it
(in a private network namespace).  Each stage's failure is reported as an
exec failure is (exit 127, `error→service NAME: STAGE ARGV0 failed: …`);
bad words are refused with the documented texts and change nothing; the
broadcast and statedump show the canonical form; the attributes (with the
ids resolved when they were set) survive a re-exec; a service without
attributes gets what it always got.

Most tests need root (CI runs as root); they skip without it.  Users and
groups of their own are made in a private mount namespace (a copy of
/etc/passwd and /etc/group bind-mounted over them), never on the system."""

import errno
import grp
import os
import pwd
import re
import shutil
import subprocess
import unittest

from dp import TIMEOUT, VALGRIND_DIR, proc_stat_fields, wait_for
from svc_util import SvcTest, PY, cmdline

ROOT = os.geteuid() == 0
UNSHARE = shutil.which('unshare')
SETPRIV = shutil.which('setpriv')
MOUNT = shutil.which('mount')
SLEEP = shutil.which('sleep') or '/bin/sleep'
NOBODY = 65534
NOGROUP = 65534

# RES of limit-RES= in the protocol's order, with its /proc/PID/limits row
LIMITS = [('as', 'Max address space'), ('core', 'Max core file size'),
          ('cpu', 'Max cpu time'), ('data', 'Max data size'), ('fsize', 'Max file size'),
          ('locks', 'Max file locks'), ('memlock', 'Max locked memory'),
          ('msgqueue', 'Max msgqueue size'), ('nice', 'Max nice priority'),
          ('nofile', 'Max open files'), ('nproc', 'Max processes'),
          ('rss', 'Max resident set'), ('rtprio', 'Max realtime priority'),
          ('rttime', 'Max realtime timeout'), ('sigpending', 'Max pending signals'),
          ('stack', 'Max stack size')]
LIMIT_ROW = dict(LIMITS)

CAP_KILL, CAP_NET_BIND_SERVICE = 5, 10

# Binds 127.0.0.1:80 and exits with 0, or with the errno of the failure.
BIND80 = r'''
import socket, sys
s = socket.socket()
try:
    s.bind(('127.0.0.1', 80))
    s.listen(1)
except OSError as e:
    sys.exit(e.errno or 99)
sys.exit(0 if s.getsockname()[1] == 80 else 98)
'''

# Brings lo up in the (new) network namespace, then execs argv[1:].
LO_UP = r'''
import fcntl, os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack('16sh14x', fcntl.ioctl(s, 0x8913, struct.pack('16sh14x', b'lo', 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack('16sh14x', b'lo', flags | 1))   # SIOCSIFFLAGS, IFF_UP
s.close()
os.execv(sys.argv[1], sys.argv[1:])
'''

# Sets SECBIT_NO_CAP_AMBIENT_RAISE (PR_SET_SECUREBITS), then execs argv[1:].
NO_AMBIENT = r'''
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(28, 0x40, 0, 0, 0) != 0:
    sys.exit('prctl(PR_SET_SECUREBITS): %s' % os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
'''

# /etc/passwd and /etc/group bind-mounted in a private mount namespace.
ETC_MOUNT = ('mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group '
             '&& shift 2 && exec "$@"')

_can = {}


def can_unshare(*flags):
    """unshare FLAGS works here (root, a kernel and sandbox that allow it)."""
    if flags not in _can:
        ok = False
        if ROOT and UNSHARE:
            try:
                ok = subprocess.run([UNSHARE] + list(flags) + ['true'], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=TIMEOUT).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _can[flags] = ok
    return _can[flags]


def proc_status(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def id_list(v):
    return [int(x) for x in v.split()]


def proc_limits(pid):
    """{row name: (soft, hard)} from /proc/PID/limits, 'unlimited' as
    'infinity' (the protocol's word)."""
    out = {}
    with open('/proc/%d/limits' % pid) as f:
        next(f)
        for line in f:
            # the kernel's format: "%-25s %-20s %-20s %-10s"
            vals = line[26:].split()
            out[line[:25].strip()] = tuple('infinity' if v == 'unlimited' else v
                                           for v in vals[:2])
    return out


def proc_nice(pid):
    return int(proc_stat_fields(pid)[16])      # field 19


def name_of_uid(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def name_of_gid(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def free_id(start=4200):
    """A number that is neither a uid in /etc/passwd nor a gid in /etc/group."""
    n = start
    while name_of_uid(n) is not None or name_of_gid(n) is not None:
        n += 1
    return n


def others_can_run(path):
    """Any user may run path: every directory on the way searchable and
    the file executable by others (the test's python may be under /root)."""
    path = os.path.realpath(path)
    try:
        parts = path.split('/')
        for i in range(2, len(parts)):
            if not os.stat('/'.join(parts[:i])).st_mode & 0o001:
                return False
        return bool(os.stat(path).st_mode & 0o001)
    except OSError:
        return False


def python_for_others():
    """A python3 that a service running as another user can execute."""
    for p in (PY, '/usr/bin/python3', '/usr/local/bin/python3'):
        if others_can_run(p):
            return p
    return None


class AttrBase(SvcTest):

    def start(self, *args, **kw):
        """Start daemonproxy and wait until it answers (it has set itself
        up: its umask, its open-files limit)."""
        d = super().start(*args, **kw)
        d.ping()
        return d

    def need_root(self):
        if not ROOT:
            self.skipTest('needs root')

    def need_nobody(self):
        if name_of_uid(NOBODY) is None or name_of_gid(NOGROUP) is None:
            self.skipTest('no user and group 65534 in /etc/passwd, /etc/group')
        return name_of_uid(NOBODY), name_of_gid(NOGROUP)

    # --- daemons ----------------------------------------------------------
    def unprivileged(self):
        """A daemonproxy running as uid/gid 65534 with no supplementary groups."""
        self.need_root()
        if not SETPRIV:
            self.skipTest('needs setpriv')
        return self.start(cwd='/', prefix=[SETPRIV, '--reuid=%d' % NOBODY,
                                           '--regid=%d' % NOGROUP, '--clear-groups'])

    def with_etc(self, passwd_extra='', group_extra='', cwd=None):
        """A daemonproxy in a private mount namespace whose /etc/passwd and
        /etc/group are copies with the lines given added.  Returns (daemon,
        passwd copy, group copy): rewriting a copy in place changes what
        that daemonproxy sees."""
        self.need_root()
        if not (MOUNT and can_unshare('--mount')):
            self.skipTest('needs unshare --mount')
        files = []
        for name, extra in (('passwd', passwd_extra), ('group', group_extra)):
            with open('/etc/' + name) as f:
                p = self.write_file('etc-' + name, f.read() + extra)
            os.chmod(p, 0o644)
            files.append(p)
        d = self.start(cwd=cwd, prefix=[UNSHARE, '--mount', 'sh', '-c', ETC_MOUNT, 'sh'] + files)
        return d, files[0], files[1]

    # --- services ---------------------------------------------------------
    def set_opts(self, d, name, *words):
        """service.opts NAME WORDS…: must be answered by its broadcast alone."""
        out = d.cmd('\t'.join(['service.opts', name] + list(words)))
        self.assertEqual(len(out), 1, 'service.opts %r: %r' % (words, out))
        self.assertTrue(out[0].startswith('service.opts\t%s\t' % name),
                        'service.opts %r: %r' % (words, out))
        return out[0]

    def opts_line(self, d, name):
        """NAME's service.opts line in a statedump (None if none)."""
        for l in self.dump(d):
            if l.startswith('service.opts\t%s\t' % name):
                return l
        return None

    def run_svc(self, d, name, *words, argv=None):
        """Define NAME (argv, default sleep 1000) with the opts words, start
        it and wait until its exec is done; returns its pid."""
        argv = argv or [SLEEP, '1000']
        self.define(d, name, argv)
        self.set_opts(d, name, *words)
        return self.start_ok(d, name, argv)

    def start_ok(self, d, name, argv=None):
        argv = argv or [SLEEP, '1000']
        d.send('service.start\t' + name)
        line = d.expect(lambda l: l.startswith('error\t') or
                        l.startswith('service.state\t%s\tup\t' % name) or
                        l.startswith('service.state\t%s\tdown\t' % name))
        self.assertTrue(line.startswith('service.state\t%s\tup\t' % name),
                        'service %s did not start: %r (log: %r)'
                        % (name, line, d.log.snapshot()[-5:]))
        pid = int(line.split('\t')[4])
        want = [a.encode() for a in argv]
        wait_for(lambda: cmdline(pid) == want, msg='the exec of service %s' % name)
        return pid

    def restart(self, d, name, argv=None):
        d.cmd('service.signal\t%s\tSIGKILL' % name)
        self.expect_state(d, name, 'down')
        return self.start_ok(d, name, argv)

    def fails_at(self, d, name, words, stage, err, argv=None):
        """Starting NAME with the opts words fails at STAGE with errno err:
        exit 127 and the error line an exec failure has."""
        argv = argv or [SLEEP, '1000']
        self.define(d, name, argv)
        self.set_opts(d, name, *words)
        lines = []
        downp = 'service.state\t%s\tdown\t' % name

        def both(l):
            lines.append(l)
            return (any(x.startswith('error\t') for x in lines) and
                    any(x.startswith(downp) for x in lines))
        d.send('service.start\t' + name)
        d.expect(both)
        self.assertEqual([l for l in lines if l.startswith('service.state\t%s\tup\t' % name)], [],
                         'a failed start is never up')
        down = [l for l in lines if l.startswith(downp)][0].split('\t')
        self.assertEqual(down[5:7], ['exit', '127'], down)
        error = [l for l in lines if l.startswith('error\t')][0]
        want = 'service %s: %s %s failed: %s' % (name, stage, argv[0], os.strerror(err))
        self.assertRegex(error, r'^error\t%s(, for command .*)?$' % re.escape(want))
        # nothing else went wrong: the daemon answers, the service is down
        self.assertEqual(self.dump_state(d, name)[2], 'down')
        return error

    # --- what a child is ---------------------------------------------------
    def assert_ids(self, pid, uid, gid, groups):
        st = proc_status(pid)
        self.assertEqual(id_list(st['Uid']), [uid] * 4, 'Uid (real, effective, saved, fs)')
        self.assertEqual(id_list(st['Gid']), [gid] * 4, 'Gid (real, effective, saved, fs)')
        self.assertEqual(sorted(id_list(st['Groups'])), sorted(groups), 'supplementary groups')
        return st

    def assert_limit(self, pid, res, soft, hard=None):
        self.assertEqual(proc_limits(pid)[LIMIT_ROW[res]], (str(soft), str(hard or soft)),
                         'limit-%s of %d' % (res, pid))

    def open_tmp(self):
        """Let another uid reach files in the test's temp dir."""
        os.chmod(self.tmp, 0o755)


class Effects(AttrBase):
    """What the child is: read from /proc of the real child."""

    def test_user_by_name_takes_its_primary_group_and_groups(self):
        self.need_root()
        user, _ = self.need_nobody()
        d = self.start()
        pid = self.run_svc(d, 's', 'user=' + user)
        # getgrouplist: the user's /etc/group groups plus its primary gid
        want = sorted({NOGROUP} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem})
        st = self.assert_ids(pid, NOBODY, NOGROUP, want)
        self.assertEqual(st['CapEff'], '0000000000000000', 'root\'s capabilities are gone')
        self.assertEqual(st['CapPrm'], '0000000000000000')

    def test_user_and_group_by_number(self):
        self.need_root()
        self.need_nobody()
        d = self.start()
        pid = self.run_svc(d, 'n', 'user=%d' % NOBODY)
        self.assert_ids(pid, NOBODY, NOGROUP,
                        sorted({NOGROUP} | {g.gr_gid for g in grp.getgrall()
                                            if name_of_uid(NOBODY) in g.gr_mem}))
        # group= by number replaces the primary gid (and is the groups' base)
        pid = self.run_svc(d, 'g', 'user=%d' % NOBODY, 'group=0', 'groups=')
        self.assert_ids(pid, NOBODY, 0, [])

    def test_group_alone_and_group_by_name(self):
        self.need_root()
        _, group = self.need_nobody()
        d = self.start()
        # without user=: the uid stays daemonproxy's, the groups are just GID
        pid = self.run_svc(d, 'g', 'group=' + group)
        self.assert_ids(pid, 0, NOGROUP, [NOGROUP])
        pid = self.run_svc(d, 'h', 'group=%d' % NOGROUP)
        self.assert_ids(pid, 0, NOGROUP, [NOGROUP])

    def test_uid_not_in_passwd_with_group(self):
        self.need_root()
        n = free_id()
        d = self.start()
        pid = self.run_svc(d, 'x', 'user=%d' % n, 'group=%d' % n)
        self.assert_ids(pid, n, n, [n])
        pid = self.run_svc(d, 'y', 'user=%d' % n, 'group=%d' % n, 'groups=')
        self.assert_ids(pid, n, n, [])

    def test_supplementary_groups_from_etc_group(self):
        # a user of its own, member of two groups besides its primary one
        d, _, _ = self.with_etc('dpta:x:4711:4712::/:/bin/false\n',
                                'dptp:x:4712:\ndptx:x:4713:dpta\ndpty:x:4714:root,dpta\n'
                                'dptz:x:4715:root\n')
        pid = self.run_svc(d, 'a', 'user=dpta')
        self.assert_ids(pid, 4711, 4712, [4712, 4713, 4714])
        # group= by name: that primary gid, and the user's groups
        pid = self.run_svc(d, 'b', 'user=dpta', 'group=dptz')
        self.assert_ids(pid, 4711, 4715, [4713, 4714, 4715])
        # groups= wins over /etc/group: names and numbers
        pid = self.run_svc(d, 'c', 'user=dpta', 'groups=dptz,4713,%d' % NOGROUP)
        self.assert_ids(pid, 4711, 4712, [4713, 4715, NOGROUP])
        # by number (in /etc/passwd): the same as by name
        pid = self.run_svc(d, 'd', 'user=4711')
        self.assert_ids(pid, 4711, 4712, [4712, 4713, 4714])

    def test_groups_explicit_and_empty(self):
        self.need_root()
        self.need_nobody()
        d = self.start()
        root_group = name_of_gid(0)
        pid = self.run_svc(d, 'e', 'user=%d' % NOBODY, 'groups=%s,%d,4242' % (root_group, NOGROUP))
        self.assert_ids(pid, NOBODY, NOGROUP, [0, NOGROUP, 4242])
        pid = self.run_svc(d, 'f', 'user=%d' % NOBODY, 'groups=')
        st = self.assert_ids(pid, NOBODY, NOGROUP, [])
        self.assertEqual(st['Groups'], '')
        # groups= without user=: the uid is still root's
        pid = self.run_svc(d, 'g', 'groups=%d' % NOGROUP)
        self.assert_ids(pid, 0, 0, [NOGROUP])

    def test_umask(self):
        d = self.start()
        own = proc_status(d.pid)['Umask']
        for word, shown in (('umask=022', '0022'), ('umask=0027', '0027'), ('umask=0', '0000'),
                            ('umask=777', '0777')):
            pid = self.run_svc(d, 'u' + shown, word)
            self.assertEqual(proc_status(pid)['Umask'], shown, word)
        self.assertEqual(proc_status(d.pid)['Umask'], own, "daemonproxy's own umask unchanged")

    def test_nice(self):
        d = self.start()
        own = proc_nice(d.pid)
        pid = self.run_svc(d, 'n5', 'nice=5')
        self.assertEqual(proc_nice(pid), 5)
        pid = self.run_svc(d, 'n19', 'nice=19')
        self.assertEqual(proc_nice(pid), 19)
        if ROOT:
            pid = self.run_svc(d, 'nm5', 'nice=-5')
            self.assertEqual(proc_nice(pid), -5)
            pid = self.run_svc(d, 'nm20', 'nice=-20')
            self.assertEqual(proc_nice(pid), -20)
        self.assertEqual(proc_nice(d.pid), own, "daemonproxy's own nice value unchanged")

    def test_limits(self):
        d = self.start()
        own = proc_limits(d.pid)

        def hard(res):
            return own[LIMIT_ROW[res]][1]
        # values at or under daemonproxy's hard limits: lowering needs no
        # privilege (and the box may have no CAP_SYS_RESOURCE)
        pid = self.run_svc(d, 'one', 'limit-nofile=64')
        self.assert_limit(pid, 'nofile', 64)
        want = {'nofile': ('100', '200'), 'fsize': ('1000000', '2000000'),
                'memlock': ('4096', '4096'), 'msgqueue': ('1000', '2000'),
                'sigpending': ('50', '60'), 'nproc': ('500', '600'),
                'core': ('0', hard('core')), 'cpu': (hard('cpu'), hard('cpu'))}
        words = []
        for res, (soft, hd) in want.items():
            self.assertTrue(hd == 'infinity' or hard(res) == 'infinity' or
                            int(hd) <= int(hard(res)), 'limit-%s: %s over %s' % (res, hd, hard(res)))
            words.append('limit-%s=%s' % (res, soft if soft == hd else soft + ':' + hd))
        pid = self.run_svc(d, 'many', *words)
        lim = proc_limits(pid)
        for res, pair in want.items():
            self.assertEqual(lim[LIMIT_ROW[res]], pair, 'limit-' + res)
        # the others are daemonproxy's
        for res, row in LIMITS:
            if res not in want:
                self.assertEqual(lim[row], own[row], res)
        self.assertEqual(proc_limits(d.pid), own, "daemonproxy's own limits unchanged")
        # infinity: the hard core limit from the soft one (the hard is
        # already infinity where the box lets root raise nothing)
        if hard('core') == 'infinity':
            pid = self.run_svc(d, 'inf', 'limit-core=infinity')
            self.assert_limit(pid, 'core', 'infinity')

    def test_no_new_privs(self):
        d = self.start()
        pid = self.run_svc(d, 'p', 'no-new-privs')
        self.assertEqual(proc_status(pid)['NoNewPrivs'], '1')
        pid = self.run_svc(d, 'q', 'umask=022')
        self.assertEqual(proc_status(pid)['NoNewPrivs'], '0', 'only where asked')
        self.assertEqual(proc_status(d.pid)['NoNewPrivs'], '0', 'not daemonproxy itself')

    def test_cwd_absolute_relative_and_as_the_user(self):
        sub = self.path('sub')
        os.mkdir(sub)
        d = self.start(cwd=self.tmp)
        pid = self.run_svc(d, 'abs', 'cwd=' + sub)
        self.assertEqual(os.readlink('/proc/%d/cwd' % pid), sub)
        # relative to daemonproxy's own working directory
        pid = self.run_svc(d, 'rel', 'cwd=sub')
        self.assertEqual(os.readlink('/proc/%d/cwd' % pid), sub)
        pid = self.run_svc(d, 'up', 'cwd=sub/..')
        self.assertEqual(os.readlink('/proc/%d/cwd' % pid), self.tmp)
        self.assertEqual(os.readlink('/proc/%d/cwd' % d.pid), self.tmp,
                         "daemonproxy's own directory unchanged")
        if ROOT and name_of_uid(NOBODY):
            # the directory is entered as the service's user
            self.open_tmp()
            pid = self.run_svc(d, 'nb', 'user=%d' % NOBODY, 'cwd=' + sub)
            self.assertEqual(os.readlink('/proc/%d/cwd' % pid), sub)
            self.assertEqual(id_list(proc_status(pid)['Uid'])[0], NOBODY)

    def test_caps_ambient_for_nobody(self):
        self.need_root()
        self.need_nobody()
        d = self.start()
        pid = self.run_svc(d, 'c', 'user=%d' % NOBODY, 'group=%d' % NOGROUP,
                           'caps=cap_net_bind_service')
        st = proc_status(pid)
        self.assertEqual(id_list(st['Uid']), [NOBODY] * 4)
        bit = '%016x' % (1 << CAP_NET_BIND_SERVICE)
        for k in ('CapAmb', 'CapPrm', 'CapEff', 'CapInh'):
            self.assertEqual(st[k], bit, k)
        # two, by the other spellings
        pid = self.run_svc(d, 'k', 'user=%d' % NOBODY, 'group=%d' % NOGROUP,
                           'caps=NET_BIND_SERVICE,Cap_Kill')
        st = proc_status(pid)
        both = '%016x' % ((1 << CAP_NET_BIND_SERVICE) | (1 << CAP_KILL))
        for k in ('CapAmb', 'CapPrm', 'CapEff', 'CapInh'):
            self.assertEqual(st[k], both, k)
        # and without caps=: nothing
        pid = self.run_svc(d, 'none', 'user=%d' % NOBODY, 'group=%d' % NOGROUP)
        st = proc_status(pid)
        for k in ('CapAmb', 'CapPrm', 'CapEff', 'CapInh'):
            self.assertEqual(st[k], '0000000000000000', k)


class Port80(AttrBase):
    """The capability does the work: port 80 with it, EACCES without."""

    def test_cap_net_bind_service_binds_port_80(self):
        self.need_root()
        self.need_nobody()
        if not can_unshare('--net'):
            self.skipTest('needs unshare --net')
        self.open_tmp()
        script = self.script('bind80.py', BIND80)
        os.chmod(script, 0o644)
        py = python_for_others()
        if py is None:
            self.skipTest('no python3 that uid %d may run' % NOBODY)
        d = self.start(cwd='/', prefix=[UNSHARE, '--net', PY, '-c', LO_UP])
        argv = [py, script]
        base = ['user=%d' % NOBODY, 'group=%d' % NOGROUP]
        for name, words, code in (('without', base, errno.EACCES),
                                  ('with', base + ['caps=cap_net_bind_service'], 0),
                                  ('again-without', base + ['no-new-privs'], errno.EACCES)):
            self.define(d, name, argv, fds=['null', 'stderr', 'stderr'])
            self.set_opts(d, name, *words)
            d.send('service.start\t' + name)
            down = self.expect_state(d, name, 'down')
            self.assertEqual(down[5:7], ['exit', str(code)],
                             '%s: exit code is the errno of bind (0: bound); seen %r, log %r'
                             % (name, d.skipped, d.log.snapshot()[-5:]))


class Stages(AttrBase):
    """Each stage's failure: the service goes down with exit 127 and the
    error line of an exec failure, naming the stage."""

    def test_setrlimit(self):
        d = self.start()
        with open('/proc/sys/fs/nr_open') as f:
            above = int(f.read()) + 1
        self.fails_at(d, 's', ['limit-nofile=%d' % above], 'setrlimit', errno.EPERM)
        # the daemon goes on: the same service with a sane value starts
        self.set_opts(d, 's', 'limit-nofile=64')
        self.assert_limit(self.start_ok(d, 's'), 'nofile', 64)

    def test_setpriority(self):
        d = self.unprivileged()
        self.fails_at(d, 's', ['nice=-5'], 'setpriority', errno.EACCES)

    def test_setgroups(self):
        d = self.unprivileged()
        self.fails_at(d, 's', ['user=0'], 'setgroups', errno.EPERM)

    def test_setgid(self):
        d = self.unprivileged()
        self.fails_at(d, 's', ['group=0', 'groups='], 'setgid', errno.EPERM)

    def test_setuid(self):
        d = self.unprivileged()
        self.fails_at(d, 's', ['user=0', 'group=%d' % NOGROUP, 'groups='], 'setuid', errno.EPERM)

    def test_chdir(self):
        d = self.start()
        self.fails_at(d, 's', ['cwd=/nonexistent-dpt-%d' % os.getpid()], 'chdir', errno.ENOENT)
        if not ROOT:
            return
        st = os.stat('/root')
        if st.st_uid == NOBODY or st.st_mode & 0o001:
            return
        # the check is made as the service's user
        self.fails_at(d, 't', ['user=%d' % NOBODY, 'group=%d' % NOGROUP, 'cwd=/root'],
                      'chdir', errno.EACCES)

    def test_capset(self):
        d = self.unprivileged()
        self.fails_at(d, 's', ['user=%d' % NOBODY, 'group=%d' % NOGROUP, 'groups=',
                               'caps=cap_net_bind_service'], 'capset', errno.EPERM)

    def test_ambient(self):
        self.need_root()
        d = self.start(prefix=[PY, '-c', NO_AMBIENT])
        self.assertEqual(proc_status(d.pid)['Uid'].split()[0], '0')
        self.fails_at(d, 's', ['user=%d' % NOBODY, 'group=%d' % NOGROUP,
                               'caps=cap_net_bind_service'], 'ambient', errno.EPERM)

    def test_order_limits_before_user(self):
        # the first failing stage is the one reported
        d = self.unprivileged()
        with open('/proc/sys/fs/nr_open') as f:
            above = int(f.read()) + 1
        self.fails_at(d, 's', ['user=0', 'nice=-5', 'limit-nofile=%d' % above, 'cwd=/nonexistent'],
                      'setrlimit', errno.EPERM)
        self.fails_at(d, 't', ['user=0', 'nice=-5', 'cwd=/nonexistent'], 'setpriority',
                      errno.EACCES)
        self.fails_at(d, 'u', ['user=0', 'cwd=/nonexistent'], 'setgroups', errno.EPERM)


class BadWords(AttrBase):
    """Refused with the protocol's texts; the previous options stay."""

    def refuse(self, d, words, *texts):
        before = self.opts_line(d, 's')
        self.assertCmdError(d, '\t'.join(['service.opts', 's'] + list(words)), *texts)
        self.assertEqual(self.opts_line(d, 's'), before, 'a refused service.opts changes nothing')

    def test_refused(self):
        self.need_nobody()
        d = self.start()
        good = self.set_opts(d, 's', 'user=%d' % NOBODY, 'umask=022', 'notify')
        self.assertEqual(self.opts_line(d, 's'), good)
        nf = free_id()
        for word in ('user=', 'group=', 'umask=', 'umask=8', 'umask=0800', 'umask=01000',
                     'umask=abc', 'umask=-1', 'umask=0x12', 'nice=', 'nice=20', 'nice=-21',
                     'nice=x', 'nice=1.5', 'nice=99999999999999999999', 'limit-bogus=1',
                     'limit-nofile', 'limit-nofile=', 'limit-nofile=x', 'limit-nofile=1:',
                     'limit-nofile=:1', 'limit-nofile=-1', 'limit-nofile=1:2:3',
                     'limit-nofile=99999999999999999999999', 'limit-=5',
                     'no-new-privs=1', 'caps', 'user', 'cwd', 'bogus-attr'):
            self.refuse(d, ['notify', word], "invalid option '%s'" % word)
        self.refuse(d, ['user=nosuch-dpt'], "invalid option 'user=nosuch-dpt': no such user")
        self.refuse(d, ['group=nosuch-dpt'], "invalid option 'group=nosuch-dpt': no such group")
        root_group = name_of_gid(0)
        self.refuse(d, ['groups=%s,nosuch-dpt' % root_group],
                    "invalid option 'groups=%s,nosuch-dpt': no such group 'nosuch-dpt'"
                    % root_group)
        self.refuse(d, ['user=%d' % nf],
                    "invalid option 'user=%d': uid %d is not in /etc/passwd: give group= too"
                    % (nf, nf))
        self.refuse(d, ['limit-nofile=10:5'],
                    "invalid option 'limit-nofile=10:5': soft limit above hard limit")
        self.refuse(d, ['limit-core=infinity:5'],
                    "invalid option 'limit-core=infinity:5': soft limit above hard limit")
        self.refuse(d, ['cwd='], "invalid option 'cwd=': empty path")
        self.refuse(d, ['caps=cap_bogus'],
                    "invalid option 'caps=cap_bogus': no such capability 'cap_bogus'")
        self.refuse(d, ['user=%d' % NOBODY, 'caps=net_bind_service,cap_bogus'],
                    "invalid option 'caps=net_bind_service,cap_bogus': "
                    "no such capability 'cap_bogus'")
        # capabilities are for a service that is not root: the exec gives root all
        as_root = ("invalid option 'caps=cap_kill': the service runs as root, which the "
                   "exec gives every capability: give user= too")
        self.refuse(d, ['user=0', 'caps=cap_kill'], as_root)
        if os.geteuid() == 0:
            self.refuse(d, ['caps=cap_kill'], as_root)
        self.refuse(d, ['user=%d' % NOBODY, 'caps='], "invalid option 'caps='")
        for twice in (['umask=022', 'umask=022'], ['nice=1', 'notify', 'nice=1'],
                      ['no-new-privs', 'no-new-privs'], ['cwd=/', 'cwd=/']):
            self.refuse(d, twice, "invalid option '%s': given twice" % twice[-1])
        for twice in (['limit-nofile=10', 'limit-nofile=20'],
                      ['user=%d' % NOBODY, 'user=%s' % name_of_uid(NOBODY)],
                      ['groups=', 'groups=%d' % NOGROUP]):
            self.refuse(d, twice, "invalid option '", "': given twice")
        # other limits are not the same key
        self.set_opts(d, 's', 'limit-nofile=10', 'limit-nproc=20')
        # a refused service.opts creates nothing
        self.assertCmdError(d, 'service.opts\tfresh\tuser=nosuch-dpt', 'no such user')
        self.assertIsNone(self.dump_state(d, 'fresh'))


class Canonical(AttrBase):
    """The broadcast and statedump: table order, canonical values."""

    def test_broadcast_and_statedump_order(self):
        user, group = self.need_nobody()
        sock = self.path('c.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        root_group = name_of_gid(0)
        cases = [
            (['caps=NET_BIND_SERVICE,cap_kill', 'cwd=/tmp', 'no-new-privs',
              'limit-stack=8388608:infinity', 'limit-nofile=100:200', 'limit-core=0:0',
              'limit-as=infinity', 'nice=-3', 'umask=27', 'groups=%s,%d' % (root_group, NOGROUP),
              'group=' + group, 'user=' + user, 'fdstore=2', 'listen-fds', 'notify'],
             ['notify', 'listen-fds', 'fdstore=2', 'user=' + user, 'group=' + group,
              'groups=%s,%d' % (root_group, NOGROUP), 'umask=0027', 'nice=-3', 'limit-as=infinity',
              'limit-core=0', 'limit-nofile=100:200', 'limit-stack=8388608:infinity',
              'no-new-privs', 'cwd=/tmp', 'caps=cap_kill,cap_net_bind_service']),
            (['caps=CAP_SYS_ADMIN,cap_chown,Net_Raw', 'groups=', 'umask=0', 'user=%d' % NOBODY,
              'group=%d' % NOGROUP],
             ['user=%d' % NOBODY, 'group=%d' % NOGROUP, 'groups=', 'umask=0000',
              'caps=cap_chown,cap_net_raw,cap_sys_admin']),
            (['umask=0777', 'nice=19', 'cwd=rel/dir'], ['umask=0777', 'nice=19', 'cwd=rel/dir']),
            # every limit, given in reverse order; soft = hard shown once
            (['limit-%s=%d:%d' % (res, i, i + 1) for i, (res, _) in enumerate(LIMITS)][::-1],
             ['limit-%s=%d:%d' % (res, i, i + 1) for i, (res, _) in enumerate(LIMITS)]),
            (['limit-rss=infinity:infinity', 'limit-cpu=7:7', 'limit-core=3:infinity'],
             ['limit-core=3:infinity', 'limit-cpu=7', 'limit-rss=infinity']),
        ]
        for given, shown in cases:
            ev = '\t'.join(['service.opts', 's'] + shown)
            self.assertEqual(d.cmd('\t'.join(['service.opts', 's'] + given)), [ev], given)
            c.expect(ev)
            self.assertEqual(self.opts_line(d, 's'), ev, 'statedump shows the broadcast form')
        # the canonical form given again is shown unchanged
        for _, shown in cases:
            ev = '\t'.join(['service.opts', 's'] + shown)
            self.assertEqual(d.cmd(ev), [ev])
        d.cmd('service.opts\ts')
        self.assertIsNone(self.opts_line(d, 's'), 'cleared: no service.opts line')


class Reexec(AttrBase):
    """The attributes, with the ids resolved when they were set, survive a
    re-exec: a restart afterwards gets the same uid, groups and limits."""

    def setUp(self):
        super().setUp()
        if VALGRIND_DIR:
            self.skipTest('a re-exec leaves valgrind')

    def reexec(self, d):
        d.send('reexec')
        ev = d.expect(lambda l: l.startswith('reexec\t') or l.startswith('error\t'))
        self.assertTrue(ev.startswith('reexec\t'), ev)

    def check(self, pid, ids=(4711, 4712, [4712, 4713])):
        if ids:
            self.assert_ids(pid, *ids)
        self.assert_limit(pid, 'nofile', 100, 200)
        st = proc_status(pid)
        self.assertEqual(st['Umask'], '0027')
        self.assertEqual(st['NoNewPrivs'], '1')
        self.assertEqual(proc_nice(pid), 3)
        self.assertEqual(os.readlink('/proc/%d/cwd' % pid), '/')

    WORDS = ['limit-nofile=100:200', 'umask=027', 'nice=3', 'no-new-privs', 'cwd=/']

    def test_survive_reexec(self):
        words, ids = list(self.WORDS), None
        if ROOT and name_of_uid(NOBODY):
            words += ['user=%d' % NOBODY, 'group=%d' % NOGROUP, 'groups=',
                      'caps=cap_net_bind_service']
            ids = (NOBODY, NOGROUP, [])
        d = self.start(cwd=self.tmp)
        self.define(d, 's', [SLEEP, '1000'])
        shown = self.set_opts(d, 's', *words)
        self.check(self.start_ok(d, 's'), ids)
        before = self.dump(d)
        self.reexec(d)
        self.assertEqual(self.opts_line(d, 's'), shown)
        self.assertEqual([l for l in self.dump(d) if l.startswith('service.opts')],
                         [l for l in before if l.startswith('service.opts')])
        pid = self.restart(d, 's')
        self.check(pid, ids)
        if ids:
            self.assertEqual(proc_status(pid)['CapAmb'], '%016x' % (1 << CAP_NET_BIND_SERVICE))

    def test_words_longer_shown_than_given_survive_reexec(self):
        # "cap_" before each of 41 names and umask's 4 digits make the
        # words longer than the command line that gave them (4,095 bytes)
        caps = ('chown,kill,setgid,setuid,setpcap,lease,bpf,syslog,mknod,perfmon,fowner,'
                'fsetid,sys_boot,sys_nice,sys_time,net_raw,ipc_lock,net_admin,sys_admin,'
                'sys_pacct,sys_rawio,sys_chroot,sys_ptrace,ipc_owner,sys_module,wake_alarm,'
                'audit_read,audit_write,setfcap,mac_admin,mac_override,linux_immutable,'
                'dac_override,net_broadcast,net_bind_service,sys_resource,block_suspend,'
                'audit_control,sys_tty_config,dac_read_search,checkpoint_restore')
        head = ['user=%d' % NOBODY, 'group=%d' % NOGROUP, 'caps=' + caps, 'umask=7']
        fixed = len('service.opts\ts\t') + len('\t'.join(head)) + len('\tcwd=/')
        words = head + ['cwd=/' + 'a' * (4095 - fixed)]
        d = self.start(cwd=self.tmp)
        self.define(d, 's', [SLEEP, '1000'])
        shown = self.set_opts(d, 's', *words)
        self.assertGreater(len(shown), 4096)
        self.reexec(d)
        self.assertEqual(self.opts_line(d, 's'), shown)

    def test_ids_resolved_at_set_time_kept_across_reexec(self):
        d, passwd, group = self.with_etc('dpta:x:4711:4712::/:/bin/false\n',
                                         'dptp:x:4712:\ndptx:x:4713:dpta\n', cwd=self.tmp)
        self.define(d, 's', [SLEEP, '1000'])
        shown = self.set_opts(d, 's', 'user=dpta', *self.WORDS)
        self.check(self.start_ok(d, 's'))
        # the names are gone from the files: starts use the ids resolved at set time
        for p in (passwd, group):
            with open(p) as f:
                keep = [l for l in f if not l.startswith('dpt')]
            with open(p, 'w') as f:
                f.write(''.join(keep))
        self.assertCmdError(d, 'service.opts\tother\tuser=dpta', 'no such user')
        self.check(self.restart(d, 's'))
        self.reexec(d)
        self.assertEqual(self.opts_line(d, 's'), shown)
        self.check(self.restart(d, 's'))


class Plain(AttrBase):
    """A service without attributes gets what it always got: daemonproxy's
    own ids, limits, umask, nice, directory; no NoNewPrivs, no ambient
    capabilities.  Also after services with attributes were started."""

    def assert_plain(self, d, pid):
        own, st = proc_status(d.pid), proc_status(pid)
        for k in ('Uid', 'Gid', 'Groups', 'Umask', 'CapEff', 'CapPrm', 'CapInh', 'CapBnd'):
            self.assertEqual(st[k], own[k], k)
        self.assertEqual(st['NoNewPrivs'], '0')
        self.assertEqual(st['CapAmb'], '0000000000000000')
        self.assertEqual(proc_limits(pid), proc_limits(d.pid))
        self.assertEqual(proc_nice(pid), proc_nice(d.pid))
        self.assertEqual(os.readlink('/proc/%d/cwd' % pid), os.readlink('/proc/%d/cwd' % d.pid))

    def test_no_attributes_as_before(self):
        d = self.start(cwd=self.tmp)
        own = proc_status(d.pid)
        own_limits = proc_limits(d.pid)
        if ROOT:
            self.assertEqual(id_list(own['Uid']), [0] * 4)
        self.assert_plain(d, self.run_svc(d, 'plain'))
        words = ['umask=0', 'nice=7', 'limit-nofile=50', 'no-new-privs', 'cwd=/']
        if ROOT and name_of_uid(NOBODY):
            words += ['user=%d' % NOBODY, 'group=%d' % NOGROUP, 'caps=cap_net_bind_service']
        self.run_svc(d, 'attr', *words)
        # nothing of that stuck to daemonproxy or to the next plain service
        now = proc_status(d.pid)
        for k in ('Uid', 'Gid', 'Groups', 'Umask', 'NoNewPrivs', 'CapEff', 'CapPrm', 'CapAmb'):
            self.assertEqual(now[k], own[k], "daemonproxy's own " + k)
        self.assertEqual(proc_limits(d.pid), own_limits)
        self.assert_plain(d, self.run_svc(d, 'plain2'))
        # and opts cleared: plain again
        self.set_opts(d, 'attr')
        self.assert_plain(d, self.restart(d, 'attr'))


if __name__ == '__main__':
    unittest.main()
