"""Rules the library keeps (../shared/STYLE.md, "The Python library"):
it never changes its host interpreter (the garbage collector stays as
the host set it), imports no private module of CPython, and its modules
use each other's public names only; the controller package (dpcontroller)
uses only the Client's public API, never its session."""

import ast
import gc
import os
import unittest

import _path
from daemonproxy import Mirror, Session

_path.check()

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'python', 'daemonproxy')


def sources():
    for d, _, files in os.walk(PACKAGE):
        for f in sorted(files):
            if f.endswith('.py'):
                path = os.path.join(d, f)
                with open(path) as fh:
                    yield os.path.relpath(path, PACKAGE), ast.parse(fh.read(), path)


def private(name):
    return name.startswith('_') and not (name.startswith('__') and name.endswith('__'))


def dump(n):
    lines = []
    for i in range(n):
        s = 'svc%05d' % i
        lines += ['fd.state\th%05d\tfile\tread\t/dev/null' % i,
                  'service.state\t%s\tdown\t-\t-\t-\t-\t-\t-' % s, 'service.tags\t%s\tt' % s,
                  'service.args\t%s\tsleep\t%d' % (s, i), 'service.fds\t%s\tnull\tnull\tnull' % s,
                  'service.auto_up\t%s\t-' % s]
    return lines


class Interpreter(unittest.TestCase):
    def read_dumps(self):
        """A resync and a statedump of 3,000 services through a Session."""
        data = ('\n'.join(dump(3000)) + '\n').encode()
        for how in ('resync', 'statedump'):
            s = Session(Mirror())
            req = s.resync() if how == 'resync' else s.request(['statedump'])
            marker = s.data_to_send().split(b'\n')[-2].split(b'\t')[1]
            for i in range(0, len(data), 65536):
                s.feed(data[i:i + 65536])
            s.feed(marker + b'\n')
            req.result()                # raises if the dump failed
            self.assertEqual(len(s.mirror.services), 3000)

    def test_the_collector_is_left_alone(self):
        def refuse(*a, **k):
            raise AssertionError('the library called gc')
        saved = {n: getattr(gc, n) for n in ('disable', 'enable', 'freeze', 'set_threshold',
                                              'collect')}
        try:
            for n in saved:
                setattr(gc, n, refuse)
            self.read_dumps()
        finally:
            for n, fn in saved.items():
                setattr(gc, n, fn)

    def test_a_host_that_disabled_the_collector_keeps_it_disabled(self):
        was = gc.isenabled()
        gc.disable()
        try:
            self.read_dumps()
            self.assertFalse(gc.isenabled())
        finally:
            if was:
                gc.enable()


class Names(unittest.TestCase):
    def test_no_private_module_is_imported(self):
        bad = []
        for rel, tree in sources():
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or '']
                else:
                    continue
                bad += ['%s:%d %s' % (rel, node.lineno, n) for n in names
                        if any(private(part) for part in n.split('.'))]
        self.assertEqual(bad, [], 'private modules imported')

    def test_modules_use_each_others_public_names(self):
        # A private name (one underscore) may be used only in the module
        # that defines it: imported from a sibling, or read as an attribute
        # of anything but self/cls when no line of this module defines it.
        bad = []
        for rel, tree in sources():
            defined = set()
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    defined.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    defined.add(node.id)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    defined.add(node.attr)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    defined.add(node.value)         # __slots__ entries
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    bad += ['%s:%d imports %s' % (rel, node.lineno, a.name)
                            for a in node.names if private(a.name)]
                elif isinstance(node, ast.Attribute) and private(node.attr):
                    owner = node.value
                    if isinstance(owner, ast.Name) and owner.id in ('self', 'cls'):
                        continue
                    if node.attr not in defined:
                        bad.append('%s:%d uses %s' % (rel, node.lineno, ast.unparse(node)))
        self.assertEqual(bad, [], "another module's private names used")


    def test_the_controller_uses_the_clients_public_api(self):
        # dpcontroller is the library's first user and its example: what it
        # needs from a Client is the Client's documented API (mirror,
        # send_many, next_event, terminate), never the session behind it.
        # dpweb (web/, its Client is `c`) keeps to the same rule.
        import daemonproxy
        public = {n for n in dir(daemonproxy.Client) if not private(n)} | {'mirror', 'sock'}
        bad = []
        for rel, tree in sources():
            if not rel.startswith(('controller' + os.sep, 'web' + os.sep)):
                continue
            for node in ast.walk(tree):
                if not isinstance(node, ast.Attribute):
                    continue
                if node.attr == 'session':
                    bad.append('%s:%d uses %s' % (rel, node.lineno, ast.unparse(node)))
                elif ast.unparse(node.value) in ('self.dp', 'c') and node.attr not in public:
                    bad.append('%s:%d uses %s, not in the Client API'
                               % (rel, node.lineno, ast.unparse(node)))
        self.assertEqual(bad, [], "the controller reaches behind the Client's API")


if __name__ == '__main__':
    unittest.main()
