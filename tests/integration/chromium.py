"""A headless Chromium driven over the DevTools protocol, standard library
only (no selenium, no websocket library): ``--remote-debugging-pipe``
speaks the protocol's JSON messages, each ended by a NUL byte, on fds 3
(to the browser) and 4 (from it).  Enough for the page tests and the
bench: navigate, evaluate, set the viewport, take a screenshot, and
collect console messages and exceptions.

Debian's package is ``chromium`` (.ci/run installs it); :func:`find`
returns None without it, and the tests skip.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

__all__ = ['find', 'Browser', 'CdpError']


class CdpError(Exception):
    pass


def find():
    """The chromium binary, or None."""
    for name in (os.environ.get('CHROMIUM'), 'chromium', 'chromium-browser'):
        if name:
            p = shutil.which(name)
            if p:
                return p
    return None


class Browser:
    """One headless Chromium with one page (tab) attached."""

    def __init__(self, width=1280, height=800, timeout=20.0):
        exe = find()
        if exe is None:
            raise CdpError('no chromium')
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix='dp-chromium-')
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def child_fds():
            # the browser reads fd 3 and writes fd 4; every other fd of
            # ours is close-on-exec (dup2 onto itself keeps that flag: set)
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)
        argv = [exe, '--headless=new', '--no-sandbox', '--disable-gpu',
                '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
                '--disable-extensions', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--mute-audio',
                '--remote-debugging-pipe', '--user-data-dir=' + self.profile,
                '--window-size=%d,%d' % (width, height), 'about:blank']
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=child_fds, close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._answers = {}
        self._next = 0
        self.console = []           # (type, text) of console calls
        self.exceptions = []        # texts of uncaught exceptions
        self.navigations = 0        # main-frame navigations seen
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            targets = self.call('Target.getTargets')['targetInfos']
            page = [t for t in targets if t['type'] == 'page'][0]
            self.session = self.call('Target.attachToTarget', targetId=page['targetId'],
                                     flatten=True)['sessionId']
            for domain in ('Page', 'Runtime'):
                self.call(domain + '.enable', session=True)
            self.viewport(width, height)
        except BaseException:
            self.close()
            raise

    # --- the pipe ------------------------------------------------------------

    def _read(self):
        buf = b''
        while True:
            try:
                chunk = os.read(self._from_r, 1 << 16)
            except OSError:
                chunk = b''
            if not chunk:
                break
            buf += chunk
            while b'\0' in buf:
                raw, buf = buf.split(b'\0', 1)
                self._dispatch(json.loads(raw))
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _dispatch(self, msg):
        if 'id' in msg:
            with self._cond:
                self._answers[msg['id']] = msg
                self._cond.notify_all()
            return
        method, p = msg.get('method'), msg.get('params', {})
        if method == 'Runtime.consoleAPICalled':
            text = ' '.join(str(a.get('value', a.get('description', ''))) for a in p['args'])
            self.console.append((p['type'], text))
        elif method == 'Runtime.exceptionThrown':
            d = p['exceptionDetails']
            self.exceptions.append(d.get('exception', {}).get('description') or d.get('text'))
        elif method == 'Page.frameNavigated' and 'parentId' not in p['frame']:
            self.navigations += 1

    def call(self, method, session=False, timeout=None, **params):
        with self._lock:
            self._next += 1
            mid = self._next
            msg = {'id': mid, 'method': method, 'params': params}
            if session:
                msg['sessionId'] = self.session
            os.write(self._to_w, json.dumps(msg).encode() + b'\0')
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while mid not in self._answers:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CdpError('%s: %s' % (method, 'browser gone' if self._closed
                                               else 'no answer in time'))
                self._cond.wait(left)
            ans = self._answers.pop(mid)
        if 'error' in ans:
            raise CdpError('%s: %s' % (method, ans['error'].get('message')))
        return ans.get('result', {})

    # --- what tests use --------------------------------------------------------

    def viewport(self, width, height, mobile=None):
        """Emulate a screen (mobile: honour <meta viewport>, as a phone)."""
        if mobile is None:
            mobile = width < 600
        self.call('Emulation.setDeviceMetricsOverride', session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=mobile)

    def navigate(self, url):
        self.call('Page.navigate', session=True, url=url)

    def eval(self, expr, timeout=None):
        """The value of a JavaScript expression (a promise is awaited)."""
        r = self.call('Runtime.evaluate', session=True, timeout=timeout, expression=expr,
                      returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in r:
            d = r['exceptionDetails']
            raise CdpError('evaluate: %s' % (d.get('exception', {}).get('description')
                                             or d.get('text')))
        return r['result'].get('value')

    def screenshot(self, path):
        data = self.call('Page.captureScreenshot', session=True, format='png')['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.call('Browser.close', timeout=5)
                except CdpError:
                    pass
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._to_w, self._from_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)
