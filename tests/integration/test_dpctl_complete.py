"""dpctl's shell completion: completion/dpctl.bash and completion/_dpctl.

- bash: the file sourced in `bash -c` (no interactive shell), COMP_WORDS
  and COMP_CWORD set, _dpctl called, COMPREPLY checked: commands, options
  (a command's own among them), the service names and `all` from a live
  daemon at the socket -S names (logs: one name, no `all`), wait's
  conditions, signal names, a path for -S, reexec and logs --dir; nothing, silently, when no daemon answers: a socket
  that is not there, or one that accepts and never answers (dpctl gives up
  after its own bound of a second; the test only bounds the run).
- zsh (when installed; .ci/run installs it): the same through _dpctl with
  compadd and _files stubbed; else `zsh -n` is skipped too.
- make install-completion (a part of make install) puts the files where
  bash-completion and zsh look under DESTDIR/PREFIX.
"""

import os
import shutil
import socket
import subprocess
import tempfile

import dp
from test_dpctl import DPCTL, RUN_TIMEOUT, DpctlTest

BASH_FILE = os.path.join(dp.REPO, 'completion', 'dpctl.bash')
ZSH_FILE = os.path.join(dp.REPO, 'completion', '_dpctl')


class Complete(DpctlTest):
    def setUp(self):
        super().setUp()
        self.bin = self.path('bin')
        os.mkdir(self.bin)
        os.symlink(DPCTL, os.path.join(self.bin, 'dpctl'))
        self.env_path = self.bin + ':' + os.environ.get('PATH', '/usr/bin:/bin')

    def shell(self, argv):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT,
                           env=self.env({'PATH': self.env_path}))
        self.assertEqual((p.returncode, p.stderr), (0, b''), p)
        return p.stdout.decode().splitlines()

    def bash(self, *words):
        """COMPREPLY for the command line dpctl WORDS (the last is the word
        being completed)."""
        script = ('source "$1"; shift; COMP_WORDS=(dpctl "$@"); COMP_CWORD=$#; _dpctl; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        return [l for l in self.shell(['bash', '-c', script, 'bash', BASH_FILE] + list(words))
                if l]

    def zsh(self, *words):
        script = ('compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@" }; '
                  '_files() { print -r -- "<files>" }; '
                  'words=(dpctl "${@:2}"); CURRENT=$#; source "$1"')
        return [l for l in self.shell(['zsh', '-f', '-c', script, 'zsh', ZSH_FILE] + list(words))
                if l]

    def live(self):
        d = self.daemon()
        for name in ('db', 'web1', 'web2'):
            self.define(d, name, ['sleep', '60'])
        return d

    def check(self, complete):
        s = self.sock
        self.assertEqual(complete('st'), ['status', 'start', 'stop'])
        self.assertEqual(complete('-S', s, 'he'), ['help'])
        self.assertEqual(complete('-S', s, 'restart', 'w'), ['web1', 'web2'])
        self.assertEqual(complete('-S', s, 'stop', ''), ['all', 'db', 'web1', 'web2'])
        self.assertEqual(complete('-S', s, 'status', 'db', 'a'), ['all'])
        self.assertEqual(complete('--socket', s, 'signal', 'HUP', 'd'), ['db'])
        self.assertEqual(complete('-S', s, 'signal', 'U'), ['USR1', 'USR2'])
        self.assertEqual(complete('-S', s, 'wait', 'w'), ['web1', 'web2'])
        self.assertEqual(complete('-S', s, 'wait', 'web1', ''), ['up', 'down', 'ready'])
        self.assertEqual(complete('-S', s, 'status', '--j'), ['--json'])
        self.assertEqual(complete('-S', s, 'signal', '--c'), ['--cgroup'])
        self.assertEqual(complete('--t'), ['--timeout', '--trust-uid'])
        self.assertEqual(complete('help', 're'), ['restart', 'reload', 'reexec'])
        self.assertEqual(complete('shutdown', '--f'), ['--force'])
        self.assertEqual(complete('-S', s, 'send', 'service.start', ''), [])
        self.assertEqual(complete('-S', s, 'dump', ''), [])
        # logs: one service (no "all"), its options, --dir a path
        self.assertEqual(complete('lo'), ['logs'])
        self.assertEqual(complete('-S', s, 'logs', ''), ['db', 'web1', 'web2'])
        self.assertEqual(complete('-S', s, 'logs', '-n', '5', 'w'), ['web1', 'web2'])
        self.assertEqual(complete('-S', s, 'logs', 'db', ''), [])
        self.assertEqual(complete('logs', '--si'), ['--since'])
        self.assertEqual(complete('logs', '--f'), ['--follow'])
        self.assertEqual(complete('logs', '-n', ''), [])
        self.assertEqual(complete('status', '--f'), [])
        # the socket named is the one asked; none there: no names, silently
        self.assertEqual(complete('-S', self.path('none.sock'), 'stop', ''), [])

    def test_bash(self):
        self.live()
        self.check(self.bash)
        os.mkdir(self.path('sockdir'))
        self.assertEqual(self.bash('-S', self.path('sockd')), [self.path('sockdir')])
        self.assertEqual(self.bash('reexec', self.path('sockd')), [self.path('sockdir')])
        self.assertEqual(self.bash('logs', '--dir', self.path('sockd')), [self.path('sockdir')])

    def test_zsh(self):
        if not shutil.which('zsh'):
            self.skipTest('zsh is not installed (.ci/run installs it)')
        self.assertEqual(subprocess.run(['zsh', '-n', ZSH_FILE], timeout=RUN_TIMEOUT).returncode, 0)
        self.live()
        self.check(self.zsh)
        self.assertEqual(self.zsh('-S', ''), ['<files>'])
        self.assertEqual(self.zsh('reexec', ''), ['<files>'])
        self.assertEqual(self.zsh('logs', '--dir', ''), ['<files>'])

    def test_silent_when_the_socket_never_answers(self):
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.on_cleanup(lst.close)
        lst.bind(self.sock)
        lst.listen(8)
        # dpctl's own bound ends it (the run is only bounded by RUN_TIMEOUT)
        self.assertEqual(self.bash('-S', self.sock, 'stop', ''), [])
        r = self.dpctl('__complete', '-S', self.sock, 'stop', 'w', sock=None)
        self.assertEqual((r.rc, r.out, r.err), (0, 'words\n', ''), r)
        # a default socket that is not there: the same
        r = self.dpctl('__complete', 'stop', '', sock=None,
                       env={'DAEMONPROXY_SOCKET': self.path('none.sock')})
        self.assertEqual((r.rc, r.out, r.err), (0, 'words\n', ''), r)

    def test_make_install_puts_the_files(self):
        dest = tempfile.mkdtemp(prefix='dp-install-')
        self.on_cleanup(lambda: shutil.rmtree(dest, ignore_errors=True))
        make = ['make', '--no-print-directory', '-C', dp.REPO, 'DESTDIR=' + dest, 'PREFIX=/usr']
        p = subprocess.run(make + ['install-completion'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stdout)
        for rel, src in (('usr/share/bash-completion/completions/dpctl', BASH_FILE),
                         ('usr/share/zsh/site-functions/_dpctl', ZSH_FILE)):
            with open(os.path.join(dest, rel), 'rb') as f, open(src, 'rb') as g:
                self.assertEqual(f.read(), g.read(), rel)
            self.assertEqual(os.stat(os.path.join(dest, rel)).st_mode & 0o777, 0o644)
        # and make install does that part too (a dry run: it would build)
        p = subprocess.run(make + ['-n', 'install'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn(dest + '/usr/share/zsh/site-functions/_dpctl', p.stdout.decode())
