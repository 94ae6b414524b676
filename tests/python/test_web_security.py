"""dpweb's rules for who may read and act (security.py, server.py), over
real HTTP: a Host that is not this server is refused (DNS rebinding); an
action needs the token in a header, from no foreign Origin and no
cross-site fetch, and never in --read-only; on a non-loopback address a
read needs the token too; static files come only from the package; every
answer says nosniff and carries the CSP."""

import contextlib
import io
import os
import tempfile
import unittest

import _path
from _web import Fed, Served, service_lines
from daemonproxy.web import security
from daemonproxy.web.__main__ import main

_path.check()


class Rules(unittest.TestCase):
    def test_listen(self):
        self.assertEqual(security.parse_listen('127.0.0.1:9100'), ('127.0.0.1', 9100))
        self.assertEqual(security.parse_listen('[::1]:80'), ('::1', 80))
        self.assertEqual(security.parse_listen('localhost:1'), ('localhost', 1))
        for bad in ('9100', ':9100', '::1:80', 'h:x', 'h:70000', '[::1]80'):
            with self.assertRaises(ValueError, msg=bad):
                security.parse_listen(bad)

    def test_loopback(self):
        for h in ('127.0.0.1', '127.3.4.5', '::1', 'localhost'):
            self.assertTrue(security.is_loopback(h), h)
        for h in ('0.0.0.0', '::', '10.0.0.1', 'example.com', 'localhost.evil.com'):
            self.assertFalse(security.is_loopback(h), h)

    def test_hosts(self):
        ok = security.allowed_hosts('127.0.0.1', 9100)
        for h in ('127.0.0.1:9100', 'localhost:9100', 'LOCALHOST:9100', '[::1]:9100',
                  'localhost'):
            self.assertTrue(security.host_ok(h, ok), h)
        for h in ('evil.com:9100', 'evil.com', None, '127.0.0.1.evil.com:9100', ''):
            self.assertFalse(security.host_ok(h, ok), h)
        ok = security.allowed_hosts('10.0.0.5', 80, ['dp.example'])
        self.assertTrue(security.host_ok('dp.example', ok))
        self.assertTrue(security.host_ok('10.0.0.5:80', ok))
        self.assertFalse(security.host_ok('localhost:80', ok))
        self.assertIsNone(security.allowed_hosts('0.0.0.0', 80))

    def test_origin(self):
        self.assertTrue(security.origin_ok(None, 'h:1'))
        self.assertTrue(security.origin_ok('http://h:1', 'h:1'))
        self.assertTrue(security.origin_ok('https://h:1', 'h:1'))
        for o in ('http://evil:1', 'null', 'http://h:2', 'file://h:1', 'http://h:1/x'):
            self.assertFalse(security.origin_ok(o, 'h:1'), o)
        self.assertFalse(security.origin_ok(None, 'h:1', 'cross-site'))
        self.assertTrue(security.origin_ok(None, 'h:1', 'same-origin'))

    def test_tokens(self):
        self.assertTrue(security.token_ok('a' * 20, 'a' * 20))
        self.assertFalse(security.token_ok('a' * 19, 'a' * 20))
        self.assertFalse(security.token_ok('', ''))
        self.assertFalse(security.token_ok(None, 'a' * 20))
        self.assertFalse(security.token_ok('a' * 20, None))
        self.assertEqual(security.given_token({'X-DPWeb-Token': ' t '}), 't')
        self.assertEqual(security.given_token({'Authorization': 'Bearer t'}), 't')
        self.assertIsNone(security.given_token({'Authorization': 'Basic t'}))

    def test_token_file(self):
        d = tempfile.mkdtemp()
        p = os.path.join(d, 'tok')
        with open(p, 'w') as f:
            f.write('x' * 20 + '\n')
        os.chmod(p, 0o644)
        with self.assertRaisesRegex(ValueError, 'any user'):
            security.read_token_file(p)
        os.chmod(p, 0o600)
        self.assertEqual(security.read_token_file(p), 'x' * 20)
        with open(p, 'w') as f:
            f.write('short\n')
        with self.assertRaisesRegex(ValueError, 'at least'):
            security.read_token_file(p)
        g = os.path.join(d, 'gen')
        t = security.write_token_file(g)
        self.assertEqual(os.stat(g).st_mode & 0o777, 0o600)
        self.assertEqual(security.read_token_file(g), t)

    def test_non_loopback_without_token_refuses_to_start(self):
        env = os.environ.pop(security.TOKEN_ENV, None)
        self.addCleanup(lambda: env is not None and os.environ.__setitem__(
            security.TOKEN_ENV, env))
        err = io.StringIO()
        with self.assertRaises(SystemExit) as cm, contextlib.redirect_stderr(err):
            main(['--listen', '0.0.0.0:0', '-S', '/nonexistent'])
        self.assertEqual(cm.exception.code, 2)
        self.assertIn('needs a token', err.getvalue())


class Help(unittest.TestCase):
    def test_help_is_the_man_pages_list(self):
        # written twice, kept equal: dpweb(1) OPTIONS, BEGIN --help .. END --help
        from daemonproxy.web.__main__ import HELP
        with open(os.path.join(_path.REPO, 'docs', 'dpweb.1')) as f:
            man = f.read()
        block = man.split('.\\" BEGIN --help')[1].split('.\\" END --help')[0]
        text = ''.join(l.replace('\\-', '-') + '\n' for l in block.split('\n')[1:]
                       if l and not l.startswith('.'))
        self.assertEqual(text, HELP)
        out = io.StringIO()
        with self.assertRaises(SystemExit) as cm, contextlib.redirect_stdout(out):
            main(['--help'])
        self.assertEqual((cm.exception.code, out.getvalue()), (0, HELP))


class OverHttp(unittest.TestCase):
    def setUp(self):
        f = Fed(service_lines('web') + service_lines('db', 'down', '-', '-'))
        f.event('service.notify\tweb\t991\t4000\tSTATUS=<script>alert(1)</script>')
        f.model.flush()
        self.srv = Served(f.model)
        self.addCleanup(self.srv.close)
        self.tok = {'X-DPWeb-Token': self.srv.token}

    def post(self, headers=None, path='/api/services/web/stop', host=None):
        return self.srv.request('POST', path, headers, host)[0]

    def test_reads_on_loopback_need_no_token(self):
        status, h, body = self.srv.request('GET', '/api/services/web')
        self.assertEqual(status, 200)
        self.assertEqual(h['Content-Type'], 'application/json')
        self.assertEqual(h['X-Content-Type-Options'], 'nosniff')
        self.assertIn("script-src 'self'", h['Content-Security-Policy'])
        self.assertNotIn('unsafe-inline', h['Content-Security-Policy'])
        import json
        self.assertEqual(json.loads(body)['status'], '<script>alert(1)</script>')

    def test_a_foreign_host_is_refused(self):
        self.assertEqual(self.srv.request('GET', '/api/services', host='evil.com')[0], 403)
        self.assertEqual(self.srv.request('GET', '/metrics',
                                          host='evil.com:%d' % self.srv.port)[0], 403)
        self.assertEqual(self.post(self.tok, host='evil.com'), 403)
        self.assertEqual(self.srv.feed.acts, [])

    def test_actions_need_the_token_and_the_same_origin(self):
        self.assertEqual(self.post(), 403)
        self.assertEqual(self.post({'X-DPWeb-Token': 'wrong' * 5}), 403)
        self.assertEqual(self.post({'Cookie': 'dpweb_token=' + self.srv.token}), 403)
        self.assertEqual(self.post(dict(self.tok, Origin='http://evil.com')), 403)
        self.assertEqual(self.post(dict(self.tok, Origin='null')), 403)
        self.assertEqual(self.post(dict(self.tok, **{'Sec-Fetch-Site': 'cross-site'})), 403)
        self.assertEqual(self.srv.feed.acts, [])
        own = 'http://127.0.0.1:%d' % self.srv.port
        self.assertEqual(self.post(dict(self.tok, Origin=own)), 200)
        self.assertEqual(self.post({'Authorization': 'Bearer ' + self.srv.token},
                                   '/api/services/db/restart'), 200)
        self.assertEqual(self.srv.feed.acts, [('stop', 'web'), ('restart', 'db')])
        self.assertEqual(self.post(self.tok, '/api/services/web/explode'), 404)
        self.assertEqual(self.srv.request('PUT', '/api/services/web/stop', self.tok)[0], 405)

    def test_logs_need_the_token_even_on_loopback(self):
        self.assertEqual(self.srv.request('GET', '/api/services/web/logs')[0], 403)
        self.assertEqual(self.srv.request('GET', '/api/services/web/logs', self.tok)[0], 200)

    def test_read_only_refuses_every_action(self):
        self.srv.settings.read_only = True
        self.assertEqual(self.post(self.tok), 403)
        self.assertEqual(self.srv.feed.acts, [])

    def test_non_loopback_reads_need_the_token(self):
        self.srv.settings.read_needs_token = True
        self.assertEqual(self.srv.request('GET', '/api/services')[0], 401)
        self.assertEqual(self.srv.request('GET', '/metrics')[0], 401)
        self.assertEqual(self.srv.request('GET', '/api/services', self.tok)[0], 200)
        self.assertEqual(self.srv.request('GET', '/metrics', {
            'Authorization': 'Bearer ' + self.srv.token})[0], 200)
        # but the page, which holds no data (it reads with the token it is given)
        for p in ('/', '/static/app.js', '/static/style.css'):
            self.assertEqual(self.srv.request('GET', p)[0], 200, p)
        self.assertEqual(self.srv.request('GET', '/events')[0], 401)

    def test_static_files_only_from_the_package(self):
        status, h, body = self.srv.request('GET', '/')
        self.assertEqual(status, 200)
        self.assertEqual(h['Content-Type'], 'text/html; charset=utf-8')
        self.assertIn(b'<!DOCTYPE html>', body)
        for p in ('/static/../server.py', '/static/..%2fserver.py', '/static/%2e%2e/model.py',
                  '/static//etc/passwd', '/static/.hidden', '/../../etc/passwd',
                  '/static/__init__.py'):
            self.assertEqual(self.srv.request('GET', p)[0], 404, p)

    def test_unknown_service(self):
        self.assertEqual(self.srv.request('GET', '/api/services/nosuch')[0], 404)
        self.assertEqual(self.srv.request('GET', '/api/services/%3Cscript%3E')[0], 404)


if __name__ == '__main__':
    unittest.main()
