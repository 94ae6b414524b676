"""Deployment (deploy/, docs/guide.md): READY=1 and STOPPING=1 to the service
manager's $NOTIFY_SOCKET (docs/daemonproxy.1, ENVIRONMENT), --container as
PID 1 of a PID namespace (RUNNING AS PID 1), and checks of the files in
deploy/: the systemd unit (systemd-analyze verify, where installed), the
Dockerfiles (built where a Docker daemon answers; their COPY sources always
exist), the Kubernetes manifest's grace period against the controller's
shutdown_timeout.  `make install` into a DESTDIR gives a dpcontroller that
runs with the system's python3 and nothing else (Install), and the FROM
scratch image's tree, made by the script its Dockerfile runs, boots its
ENTRYPOINT as PID 1 in a chroot without a Docker daemon (ScratchImage)."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import tomllib
import unittest

from dp import DPTest, REPO, TIMEOUT, VALGRIND_DIR, Timeout, binary, new_marker, wait_for

DEPLOY = os.path.join(REPO, 'deploy')
UNSHARE = shutil.which('unshare')
DEFAULT_SHUTDOWN_TIMEOUT = 30       # the reference controller's default


def proc_state(pid):
    """The state letter of pid ('Z': exited, not yet reaped), None if gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class NotifyListener:
    """A service manager's notification socket: an AF_UNIX datagram socket
    that receives the sender's credentials (SO_PASSCRED), at a path or, for
    a name starting with '@', in the abstract namespace."""

    def __init__(self, addr):
        self.addr = addr
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind('\0' + addr[1:] if addr.startswith('@') else addr)

    def recv(self, timeout=TIMEOUT):
        """The next message as (dict of assignments, sender pid)."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            raise Timeout('no notification on %s within %.1fs' % (self.addr, timeout))
        pid = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack('3i', cdata[:12])[0]
        text = data.decode()
        assigns = dict(l.split('=', 1) for l in text.split('\n') if l)
        return assigns, pid

    def quiet(self, timeout=0.3):
        """True if nothing arrives within timeout."""
        try:
            self.recv(timeout)
        except Timeout:
            return True
        return False

    def close(self):
        self.sock.close()


class SdNotify(DPTest):
    def listener(self, addr):
        n = NotifyListener(addr)
        self.on_cleanup(n.close)
        return n

    def env_with(self, notify):
        env = dict(os.environ)
        env['NOTIFY_SOCKET'] = notify
        return env

    def test_ready_after_config_and_stopping_at_exit(self):
        n = self.listener(self.path('notify'))
        sock, envout = self.path('ctl.sock'), self.path('env.out')
        # Long enough to take many loop iterations (256 lines each); the
        # last line's effect, the control socket, must exist at READY=1.
        lines = ['service.args\ts%d\ttrue' % i for i in range(3000)]
        lines += ['service.args\tenvdump\tsh\t-c\tenv > %s.tmp && mv %s.tmp %s'
                  % (envout, envout, envout),
                  'service.start\tenvdump',
                  'socket.create\t-\t%s' % sock]
        conf = self.write_file('ready.conf', '\n'.join(lines) + '\n')
        d = self.start('-c', conf, interactive=False, env=self.env_with(n.addr))
        msg, pid = n.recv()
        self.assertEqual(msg.get('READY'), '1', msg)
        self.assertTrue(os.path.exists(sock), 'READY=1 came before the last config line ran')
        self.assertIn('STATUS', msg)
        self.assertNotIn('MAINPID', msg)
        self.assertEqual(pid, d.pid, 'SCM_CREDENTIALS should name daemonproxy')
        # A service must not inherit daemonproxy's manager's socket.
        wait_for(lambda: os.path.exists(envout), msg='the envdump service')
        with open(envout) as f:
            env = f.read()
        self.assertIn('PATH=', env)
        self.assertNotIn('NOTIFY_SOCKET', env)
        c = self.connect(sock)
        c.ping()                # still answering (events may come first)
        self.assertTrue(n.quiet(), 'one READY=1 only')
        c.send('terminate\t0')
        msg, pid = n.recv()
        self.assertEqual(msg.get('STOPPING'), '1', msg)
        self.assertEqual(pid, d.pid)
        self.assertEqual(d.wait(), 0)

    def test_abstract_socket_without_config(self):
        addr = '@dpt-notify-%d-%s' % (os.getpid(), new_marker())
        n = self.listener(addr)
        sock = self.path('abs.sock')
        d = self.start('-S', sock, interactive=False, env=self.env_with(addr))
        msg, pid = n.recv()
        self.assertEqual(msg.get('READY'), '1', msg)
        self.assertEqual(pid, d.pid)
        self.assertTrue(os.path.exists(sock))

    def test_daemonize_sends_mainpid(self):
        n = self.listener(self.path('notify'))
        sock = self.path('d.sock')
        # (valgrind keeps a copy of stderr for its own reports in the child)
        p = subprocess.run([binary(), '-D', '-S', sock], env=self.env_with(n.addr),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL if VALGRIND_DIR else subprocess.PIPE,
                           timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        child = int(p.stdout)
        self.track_pid(child)
        # First the pid to follow (before the parent exits), then READY.
        msg, pid = n.recv()
        self.assertEqual(msg, {'MAINPID': str(child)})
        self.assertEqual(pid, child)
        msg, pid = n.recv()
        self.assertEqual(msg.get('READY'), '1', msg)
        self.assertEqual(msg.get('MAINPID'), str(child))
        self.assertEqual(pid, child)
        c = self.connect(sock)
        c.send('terminate\t0')
        msg, pid = n.recv()
        self.assertEqual(msg.get('STOPPING'), '1', msg)
        wait_for(lambda: proc_state(child) in (None, 'Z'), msg='the daemon to exit')

    def test_unusable_value_is_logged(self):
        sock = self.path('bad.sock')
        d = self.start('-S', sock, interactive=False, env=self.env_with('not/absolute'))
        d.log.expect(re.compile(r'^warning: NOTIFY_SOCKET .* not a unix socket address'))
        c = self.connect(sock)
        self.assertEqual(c.cmd1('echo\tfine'), 'fine')


# ---------------------------------------------------------------------------
# --container: daemonproxy as PID 1 of a PID namespace

_unshare_ok = []


def can_unshare():
    if not _unshare_ok:
        ok = False
        if UNSHARE:
            try:
                ok = subprocess.run([UNSHARE, '--pid', '--fork', '--mount-proc', '--kill-child',
                                     'true'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=TIMEOUT).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _unshare_ok.append(ok)
    return _unshare_ok[0]


def proc_start_time(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def descendants(root):
    """(pid, start time) of every process below root."""
    parent = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            try:
                with open('/proc/%s/stat' % name) as f:
                    parent[int(name)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [root]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p:
                found.append((c, proc_start_time(c)))
                todo.append(c)
    return found


class Container(DPTest):
    def setUp(self):
        super().setUp()
        if not can_unshare():
            self.skipTest('unshare --pid --fork --mount-proc not available (needs root)')
        self.prefix = [UNSHARE, '--pid', '--fork', '--mount-proc', '--kill-child']

    def test_sigterm_stops_in_order_and_exits_with_code(self):
        # deploy/controller.sh, the FROM scratch image's controller, with
        # exit code 7: on SIGTERM it stops b, then a, then terminates.
        sock = self.path('c.sock')
        conf = self.write_file('container.conf', ''.join(l + '\n' for l in [
            'service.args\ta\tsleep\t1000',
            'service.fds\ta\tnull\tstderr\tstderr',
            'service.args\tb\tsleep\t1000',
            'service.fds\tb\tnull\tstderr\tstderr',
            'service.args\tcontroller\tsh\t%s\t7' % os.path.join(DEPLOY, 'controller.sh'),
            'service.fds\tcontroller\tcontrol.event\tcontrol.cmd\tstderr',
            'service.auto_up\tcontroller\t1\talways',
            'socket.create\t-\t%s' % sock,
        ]))
        d = self.start('--container', '-c', conf, interactive=False,
                       stdin=subprocess.DEVNULL, prefix=self.prefix)
        wait_for(lambda: os.path.exists(sock) or not d.alive(), msg='the control socket')
        self.assertTrue(d.alive(), 'daemonproxy exited: %r' % (d.log.snapshot(),))
        c = self.connect(sock)
        pid1 = c.peer_pid()
        self.track_pid(pid1)
        c.ping()                # the services' events may come first
        with open('/proc/%d/status' % pid1) as f:
            nspid = [l.split()[1:] for l in f if l.startswith('NSpid:')][0]
        self.assertEqual(nspid[-1], '1', 'daemonproxy should be PID 1 of its namespace')
        # Wait (from events) until the controller has both services up.
        c.send('statedump')
        up = set()
        deadline = time.monotonic() + TIMEOUT
        while up != {'a', 'b'}:
            f = c.readline(max(0.1, deadline - time.monotonic())).split('\t')
            if f[0] == 'service.state' and f[1] in ('a', 'b'):
                (up.add if f[2] == 'up' else up.discard)(f[1])
        inside = descendants(pid1)
        self.assertGreaterEqual(len(inside), 3, inside)     # a, b, controller
        os.kill(pid1, signal.SIGTERM)
        events = c.read_eof(timeout=TIMEOUT)
        downs = [e.split('\t')[1] for e in events
                 if e.startswith('service.state\t') and e.split('\t')[2] == 'down']
        self.assertEqual(downs[:2], ['b', 'a'], events)
        self.assertIn('signal\tSIGTERM', '\n'.join(events))
        self.assertEqual(d.wait(), 7, d.log.snapshot())
        for pid, start in inside:
            self.assertNotEqual(proc_start_time(pid), start,
                                'pid %d survived its namespace' % pid)

    def test_terminate_needs_no_exec_args(self):
        d = self.start('--container', prefix=self.prefix)
        self.assertEqual(d.cmd1('echo\tin-container'), 'in-container')
        d.send('terminate\t9')
        self.assertEqual(d.wait(), 9, d.log.snapshot())

    def test_explicit_guard_still_applies(self):
        d = self.start('--container', '--exit-guard', '5', prefix=self.prefix)
        self.assertCmdError(d, 'terminate\t0', 'guard code required')
        self.assertCmdError(d, 'terminate\t0\t5', 'exec-on-exit')
        self.assertTrue(d.alive())


# ---------------------------------------------------------------------------
# the files in deploy/

def read(path):
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def shutdown_timeout():
    """The controller's shutdown_timeout in deploy/services.toml."""
    cfg = tomllib.loads(read('deploy/services.toml'))
    return cfg.get('controller', {}).get('shutdown_timeout', DEFAULT_SHUTDOWN_TIMEOUT)


def unit_value(text, key):
    m = re.search(r'^%s=(.*)$' % re.escape(key), text, re.M)
    return m.group(1).strip() if m else None


def code_commands(markdown):
    """The commands in a Markdown text's code (indented blocks and fences):
    continuation lines joined, without a '$ ' prompt or a '# comment', cut
    at ';', '&&' and '|'."""
    out, fenced, cont = [], False, ''
    for line in markdown.splitlines():
        if line.startswith('```'):
            fenced = not fenced
            continue
        if not (fenced or line.startswith('    ')):
            continue
        line = cont + line.strip()
        cont = ''
        if line.endswith('\\'):
            cont = line[:-1]
            continue
        line = re.sub(r'(^|\s)#.*$', '', line[2:] if line.startswith('$ ') else line)
        out += [c.strip() for c in re.split(r';|&&|\|', line)]
    return [c for c in out if c]


class GuideText(DPTest):
    """docs/guide.md says what the programs do."""

    def test_root_daemon_is_reached_as_root(self):
        """daemonproxy started with sudo listens on root's default socket:
        dpctl reaches it only as root, and a user's dpctl would talk to
        another daemon (or none).  Signals go to this daemon's pid, from
        its pidfile (pidof names every daemonproxy on the host)."""
        lines = code_commands(read('docs/guide.md'))
        starts = [l.split() for l in lines if l.startswith('sudo daemonproxy ')]
        self.assertTrue(starts, 'the guide starts daemonproxy as root')
        pidfiles = {w[w.index('--pidfile') + 1] for w in starts if '--pidfile' in w}
        for line in lines:
            words = line.split()
            with self.subTest(line=line):
                self.assertNotIn('pidof', words + [w.strip('$()') for w in words])
                if words[0] == 'dpctl':
                    self.assertEqual(words[1:], ['--help'], 'root\'s daemon: sudo dpctl')
                if words[0] == 'kill':
                    self.assertTrue(all(w.startswith(('%', '-')) for w in words[1:]),
                                    'a signal to root\'s daemon: sudo kill')
                if words[:2] == ['sudo', 'kill']:
                    m = re.search(r' \$\(cat (\S+)\)$', line)
                    self.assertTrue(m and m.group(1) in pidfiles,
                                    'the pid of the daemon started, from its --pidfile %s'
                                    % sorted(pidfiles))

    @unittest.skipUnless(shutil.which('python3'), 'python3')
    def test_check_problems_as_shown(self):
        """The --check problems the guide shows are those dpcontroller
        prints, for the change the guide describes to its services.toml."""
        guide = read('docs/guide.md')
        shown = re.findall(r'(?m)^    \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d (dpcontroller: .*)$', guide)
        self.assertTrue(shown, 'the guide shows what --check prints for a bad file')
        m = re.search(r'With `(env = [^`]*)` and `(stop_signal = [^`]*)`\s+in `\[service\.web\]`',
                      guide)
        self.assertIsNotNone(m, 'the change the guide makes to [service.web]')
        toml = re.search(r'```toml\n(.*?)```', guide, re.S).group(1)
        head, web = toml.split('[service.web]\n')
        web, rest = (web.split('\n[', 1) + [''])[:2]
        for setting in m.groups():
            key = setting.split(' = ')[0]
            web, n = re.subn(r'(?m)^%s = .*$' % key, setting, web)
            if n == 0:
                web = web.rstrip('\n') + '\n' + setting + '\n'
        path = self.write_file('services.toml', head + '[service.web]\n' + web +
                               ('\n[' + rest if rest else ''))
        p = subprocess.run([sys.executable, '-m', 'daemonproxy.controller', '--check', path],
                           env=dict(os.environ, PYTHONPATH=os.path.join(REPO, 'python')),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stdout), (1, ''), p.stderr)
        got = [re.sub(r'^\S+ ', '', l).replace(path, '/etc/daemonproxy/services.toml')
               for l in p.stderr.splitlines()]
        self.assertEqual(len(got), len(shown), p.stderr)
        for want, line in zip(shown, got):
            if want.endswith(' ...'):
                self.assertTrue(line.startswith(want[:-4]), (want, line))
            else:
                self.assertEqual(line, want)


class DeployFiles(DPTest):
    def test_pod_grace_period_exceeds_shutdown_timeout(self):
        y = read('deploy/kubernetes/pod.yaml')
        self.assertNotIn('\t', y, 'YAML indentation must not use TABs')
        self.assertRegex(y, r'(?m)^apiVersion: v1$')
        self.assertRegex(y, r'(?m)^kind: Pod$')
        self.assertRegex(y, r'(?m)^spec:$')
        self.assertRegex(y, r'(?m)^  containers:$')
        self.assertRegex(y, r'(?m)^    - name: \S+$')
        self.assertRegex(y, r'(?m)^      image: \S+$')
        m = re.search(r'(?m)^  terminationGracePeriodSeconds: (\d+)\s*$', y)
        self.assertIsNotNone(m, 'spec.terminationGracePeriodSeconds missing')
        self.assertGreater(int(m.group(1)), shutdown_timeout())
        self.assertNotRegex(y, r'(?m)^\s*shareProcessNamespace: true')

    def test_unit_deadlines_and_modes(self):
        u = read('deploy/systemd/daemonproxy.service')
        self.assertEqual(unit_value(u, 'Type'), 'notify')
        self.assertEqual(unit_value(u, 'KillMode'), 'mixed')
        self.assertEqual(unit_value(u, 'KillSignal'), 'SIGTERM')
        self.assertGreater(int(unit_value(u, 'TimeoutStopSec')), shutdown_timeout())
        start = unit_value(u, 'ExecStart').split()
        self.assertNotIn('-D', start)
        self.assertIn('--default-socket', start)
        conf = start[start.index('-c') + 1]
        self.assertEqual(conf, '/etc/daemonproxy/daemonproxy.conf')

    def test_systemd_analyze_verify(self):
        sa = shutil.which('systemd-analyze')
        if not sa:
            self.skipTest('systemd-analyze not installed (Debian package: systemd)')
        unit = read('deploy/systemd/daemonproxy.service')
        # verify checks that ExecStart's program exists: point it at the
        # binary under test unless daemonproxy is installed.
        if not os.access('/usr/local/bin/daemonproxy', os.X_OK):
            unit = unit.replace('/usr/local/bin/daemonproxy', binary())
        path = self.write_file('daemonproxy.service', unit)
        p = subprocess.run([sa, '--man=no', 'verify', path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode(errors='replace')
        if p.returncode != 0 and re.search(r'Failed to (connect|initialize)|sd-bus|No such.*(bus|manager)', out):
            self.skipTest('systemd-analyze cannot run here: %s' % out.strip()[:200])
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(out.strip(), '', out)

    def dockerfile_copies(self, name):
        """COPY sources (not --from) of deploy/NAME."""
        text = read(os.path.join('deploy', name)).replace('\\\n', ' ')
        srcs = []
        for line in text.splitlines():
            words = line.split()
            if not words or words[0] != 'COPY':
                continue
            args = [w for w in words[1:] if not w.startswith('--')]
            if any(w.startswith('--from') for w in words[1:]):
                continue
            srcs += args[:-1]
        return srcs

    def test_dockerfile_sources_exist(self):
        for name in ('Dockerfile.scratch', 'Dockerfile.python'):
            srcs = self.dockerfile_copies(name)
            self.assertTrue(srcs, name)
            for s in srcs:
                self.assertTrue(os.path.exists(os.path.join(REPO, s)), '%s: COPY %s' % (name, s))
            ign = os.path.join(DEPLOY, name + '.dockerignore')
            self.assertTrue(os.path.exists(ign), ign)
            with open(ign) as f:
                allowed = [l[1:].rstrip('/') for l in f.read().split() if l.startswith('!')]
            for s in srcs:
                self.assertTrue(any(s.rstrip('/') == a or s.startswith(a + '/') for a in allowed),
                                '%s: %s is excluded by %s' % (name, s, ign))
            text = read(os.path.join('deploy', name))
            self.assertRegex(text, r'(?m)^FROM debian:12 AS build$')
            self.assertIn('RUN make static', text)
            self.assertIn('"--container"', text)

    def test_config_files_name_their_files(self):
        # The shell controller and the services.toml the configs name are
        # the ones the Dockerfiles install.
        self.assertIn('/etc/daemonproxy/services.toml', read('deploy/daemonproxy.conf'))
        self.assertIn('/etc/daemonproxy/controller.sh', read('deploy/daemonproxy-sh.conf'))
        self.assertIn('/etc/daemonproxy/services.toml', read('deploy/Dockerfile.python'))
        self.assertIn('/etc/daemonproxy/controller.sh', read('deploy/scratch-rootfs.sh'))
        self.assertIn('deploy/scratch-rootfs.sh /out', read('deploy/Dockerfile.scratch'))
        for conf in ('deploy/daemonproxy.conf', 'deploy/daemonproxy-sh.conf'):
            for line in read(conf).splitlines():
                if line and not line.startswith('#'):
                    self.assertIn('\t', line, '%s: fields are TAB-separated: %r' % (conf, line))

    def test_docker_images_build(self):
        docker = shutil.which('docker')
        if not docker:
            self.skipTest('docker not installed')
        try:
            ok = subprocess.run([docker, 'info'], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=20).returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        if not ok:
            self.skipTest('no Docker daemon answers')
        for name in ('scratch', 'python'):
            p = subprocess.run([docker, 'build', '-f', os.path.join(DEPLOY, 'Dockerfile.' + name),
                                '-t', 'daemonproxy-%s:test' % name, REPO],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=1200)
            self.assertEqual(p.returncode, 0, p.stdout.decode(errors='replace')[-3000:])


# ---------------------------------------------------------------------------
# make install, as on a stock Debian 12 (no pip: PEP 668)

def run_make(*args):
    # As a user types it: not with the variables of the make that runs this
    # suite (make test passes B=build-test and asan-test its sanitizer
    # CFLAGS through MAKEFLAGS, which would install those builds).
    env = {k: v for k, v in os.environ.items()
           if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'B', 'CFLAGS',
                        'LDFLAGS', 'CC')}
    p = subprocess.run(['make', '-s', '-C', REPO] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, env=env)
    if p.returncode != 0:
        raise AssertionError('make %s: %s' % (' '.join(args), p.stdout.decode(errors='replace')))


class Install(DPTest):
    def test_installed_dpcontroller_runs_alone(self):
        """dpcontroller --check, from the installed tree only: no PYTHONPATH,
        the cwd elsewhere, the system's python3, and the installed
        daemonproxy and dplog on PATH (the checks look dplog up)."""
        dest = self.path('dest')
        run_make('install', 'DESTDIR=' + dest, 'PREFIX=/usr')
        bindir = os.path.join(dest, 'usr', 'bin')
        for b in ('daemonproxy', 'dpctl', 'dplog', 'dpcontroller', 'dpweb'):
            self.assertTrue(os.access(os.path.join(bindir, b), os.X_OK), b)
        lib = os.path.join(dest, 'usr', 'lib', 'daemonproxy', 'python', 'daemonproxy')
        self.assertTrue(os.path.exists(os.path.join(lib, 'controller', '__main__.py')))
        self.assertEqual([d for d, _, _ in os.walk(lib) if d.endswith('__pycache__')], [])
        env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
        env['PATH'] = bindir + ':/usr/bin:/bin'
        cwd = self.path('elsewhere')
        os.mkdir(cwd)
        p = subprocess.run([os.path.join(bindir, 'dpcontroller'), '--check',
                            os.path.join(REPO, 'examples', 'services.toml')],
                           cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r'(?m)^# .*services\.toml: \d+ services$')
        self.assertRegex(p.stdout, r'(?m)^# start wave 1: ')
        # A bad file: the controller's own error, exit status 1.
        bad = self.write_file('bad.toml', '[service.x]\nrun = 3\n')
        p = subprocess.run([os.path.join(bindir, 'dpcontroller'), '--check', bad], cwd=cwd,
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('dpcontroller: %s: service.x' % bad, p.stderr)
        # dpweb beside it, with its page and its man page
        self.assertTrue(os.path.exists(os.path.join(lib, 'web', 'static', 'index.html')))
        self.assertTrue(os.path.exists(os.path.join(dest, 'usr', 'share', 'man', 'man1',
                                                    'dpweb.1')))
        p = subprocess.run([os.path.join(bindir, 'dpweb'), '--version'], cwd=cwd, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stdout), (0, 'dpweb 0.1.0\n'), p.stderr)

    def test_python_sitedir_gets_a_pth(self):
        dest = self.path('dest')
        run_make('install-python', 'DESTDIR=' + dest, 'PREFIX=/usr',
                 'PYTHON_SITEDIR=/usr/lib/python3/dist-packages')
        with open(os.path.join(dest, 'usr/lib/python3/dist-packages/daemonproxy.pth')) as f:
            self.assertEqual(f.read(), '/usr/lib/daemonproxy/python\n')
        # Without it, nothing is written outside PREFIX's own directories.
        dest2 = self.path('dest2')
        run_make('install-python', 'DESTDIR=' + dest2, 'PREFIX=/usr')
        self.assertEqual(sorted(os.listdir(os.path.join(dest2, 'usr', 'lib'))), ['daemonproxy'])


# ---------------------------------------------------------------------------
# the FROM scratch image's tree, booted without Docker

def is_static(path):
    """True if the ELF file at path has no program interpreter."""
    try:
        with open(path, 'rb') as f:
            h = f.read(64)
            if h[:4] != b'\x7fELF' or h[4] != 2:
                return False
            phoff, = struct.unpack_from('<Q', h, 32)
            phentsize, phnum = struct.unpack_from('<HH', h, 54)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from('<I', ph, i * phentsize)[0] != 3 for i in range(phnum))


def static_dir():
    """Where daemonproxy-static, dpctl-static and dplog-static are: beside
    the daemonproxy under test in the static suite, else the source tree
    (made here: make static)."""
    if os.path.basename(binary()) == 'daemonproxy-static':
        return os.path.dirname(binary())
    run_make('static')
    return REPO


def dockerfile_final_stage(name):
    """The instructions after the last FROM of deploy/NAME, continuation
    lines joined, as (keyword, rest)."""
    text = read(os.path.join('deploy', name)).replace('\\\n', ' ')
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith('#')]
    last = max(i for i, l in enumerate(lines) if l.startswith('FROM '))
    return [tuple((l.split(None, 1) + [''])[:2]) for l in lines[last:]]


class ScratchImage(DPTest):
    def setUp(self):
        super().setUp()
        self.busybox = '/bin/busybox'
        if not is_static(self.busybox):
            self.skipTest('no static /bin/busybox (Debian: busybox-static; .ci/run installs it)')
        if not can_unshare():
            self.skipTest('unshare --pid --fork --mount-proc not available (needs root)')
        self.root = self.path('root')
        # The Dockerfile's tree is exactly what this script makes: the build
        # stage runs it, and the final stage is that tree and nothing more.
        self.assertIn('RUN make static && deploy/scratch-rootfs.sh /out',
                      read('deploy/Dockerfile.scratch'))
        stage = dockerfile_final_stage('Dockerfile.scratch')
        self.assertEqual([i for i in stage if i[0] in ('FROM', 'COPY', 'RUN', 'ADD')],
                         [('FROM', 'scratch'), ('COPY', '--from=build /out/ /')])
        self.entrypoint = json.loads(dict(stage)['ENTRYPOINT'])
        env = dict(stage)['ENV']
        self.assertTrue(env.startswith('PATH='), env)
        self.image_path = env[len('PATH='):]
        subprocess.run(['sh', os.path.join(DEPLOY, 'scratch-rootfs.sh'), self.root,
                        static_dir(), self.busybox], check=True, timeout=60,
                       stdin=subprocess.DEVNULL)

    def chroot(self, *argv):
        return subprocess.run([shutil.which('chroot'), self.root] + list(argv),
                              env={'PATH': self.image_path}, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=TIMEOUT)

    def test_applets_run_without_proc(self):
        """Every applet is a link that resolves inside the tree: no /proc
        is mounted here, so busybox cannot find itself through
        /proc/self/exe."""
        p = self.chroot('/bin/ls', '/')
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(p.stdout.split(), ['bin', 'etc', 'proc', 'run', 'tmp', 'usr', 'www'])
        p = self.chroot('/bin/sh', '-c', 'sleep 0 && printf "%s\\n" ok && cat /www/index.html')
        self.assertEqual((p.returncode, p.stdout), (0, 'ok\nhello from daemonproxy\n'))

    def test_entrypoint_as_pid1_serves_and_stops_on_sigterm(self):
        """The ENTRYPOINT as PID 1 of new PID, mount and network namespaces
        in a chroot, /proc and /dev mounted as a container runtime does: the demo
        service answers, `dpctl status` (as `docker exec` runs it) shows
        it, and SIGTERM ends PID 1 with the controller's code (0)."""
        log = open(self.path('pid1.log'), 'w+')
        self.on_cleanup(log.close)
        # What a container runtime gives the image: /proc, a /dev with
        # null, zero, urandom, and a network namespace with lo up.
        boot = ('r=$1; shift; mount -t proc proc "$r/proc" '
                '&& mkdir "$r/dev" && mount -t tmpfs -o mode=755 tmpfs "$r/dev" '
                '&& for n in null zero urandom; do touch "$r/dev/$n" '
                '&& mount --bind "/dev/$n" "$r/dev/$n" || exit 1; done '
                '&& "$r/bin/busybox" ip link set lo up '
                '&& exec env -i PATH=%s %s "$r" "$@"' % (self.image_path, shutil.which('chroot')))
        p = subprocess.Popen([UNSHARE, '--pid', '--fork', '--mount', '--net', '--kill-child',
                              'sh', '-c', boot, 'sh', self.root] + self.entrypoint,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

        def end():
            if p.poll() is None:
                p.kill()        # --kill-child: PID 1, and so its namespace, too
                p.wait()
        self.on_cleanup(end)
        exe = os.path.join(self.root, self.entrypoint[0].lstrip('/'))

        def pid1():
            try:
                with open('/proc/%d/task/%d/children' % (p.pid, p.pid)) as f:
                    kids = [int(c) for c in f.read().split()]
            except OSError:
                return None
            for k in kids:
                try:
                    if os.path.realpath('/proc/%d/exe' % k) == os.path.realpath(exe):
                        return k
                except OSError:
                    pass
            self.assertIsNone(p.poll(), 'PID 1 exited: %s' % self.log_text(log))
            return None
        pid = wait_for(pid1, msg='the entrypoint running')
        with open('/proc/%d/status' % pid) as f:
            nspid = [l.split()[1:] for l in f if l.startswith('NSpid:')][0]
        self.assertEqual(nspid[-1], '1')
        inside = ['nsenter', '--target', str(pid), '--net', '--root', '--wd']

        def get(url):
            r = subprocess.run(inside + ['/bin/wget', '-q', '-O', '-', url],
                               env={'PATH': self.image_path}, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, timeout=TIMEOUT)
            return r.returncode == 0 and r.stdout
        self.assertEqual(wait_for(lambda: get('http://127.0.0.1:8080/'),
                                  msg='httpd on 8080 in the namespace'),
                         'hello from daemonproxy\n')
        r = subprocess.run(inside + ['/usr/local/bin/dpctl', 'status'],
                           env={'PATH': self.image_path}, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r'(?m)^web +up ')
        self.assertRegex(r.stdout, r'(?m)^controller +up ')
        os.kill(pid, signal.SIGTERM)
        self.assertEqual(p.wait(timeout=TIMEOUT + 15), 0, self.log_text(log))
        text = self.log_text(log)
        for line in ('controller.sh: SIGTERM: stopping services in reverse order',
                     'controller.sh: stopping web',
                     'controller.sh: every service is down: terminate 0'):
            self.assertIn(line, text)
        self.assertLess(text.index('stopping web'), text.index('terminate 0'))
        self.assertIsNone(proc_state(pid))

    @staticmethod
    def log_text(f):
        f.flush()
        f.seek(0)
        return f.read()
