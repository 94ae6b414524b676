"""python/_build_backend: the in-tree PEP 517 backend builds a correct,
reproducible wheel and sdist with nothing but the standard library, and
pip installs the package offline with it."""

import base64
import csv
import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile

import _path

PROJECT = os.path.join(_path.REPO, 'python')


def load_backend():
    spec = importlib.util.spec_from_file_location(
        'dp_build_backend', os.path.join(PROJECT, '_build_backend', 'backend.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def package_files():
    out = []
    for d, dirs, files in os.walk(os.path.join(PROJECT, 'daemonproxy')):
        dirs[:] = [x for x in dirs if x != '__pycache__']
        rel = os.path.relpath(d, PROJECT).replace(os.sep, '/')
        out += [rel + '/' + f for f in files if f.endswith('.py') or f == 'py.typed'
                or rel.endswith('/web/static')]       # dpweb's page
    return sorted(out)


class Backend(unittest.TestCase):
    def setUp(self):
        self.be = load_backend()
        self.tmp = tempfile.mkdtemp(prefix='dpwheel')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def build(self, sub='a'):
        out = os.path.join(self.tmp, sub)
        name = self.be.build_wheel(out)
        return os.path.join(out, name)

    def test_hooks(self):
        self.assertEqual(self.be.get_requires_for_build_wheel(), [])
        self.assertEqual(self.be.get_requires_for_build_sdist(), [])
        self.assertEqual(self.be.get_requires_for_build_editable(), [])
        d = self.be.prepare_metadata_for_build_wheel(self.tmp)
        self.assertEqual(d, 'daemonproxy-0.1.0.dist-info')
        with open(os.path.join(self.tmp, d, 'METADATA')) as f:
            self.assertIn('Version: 0.1.0', f.read())

    def test_wheel_contents_and_record(self):
        path = self.build()
        self.assertEqual(os.path.basename(path), 'daemonproxy-0.1.0-py3-none-any.whl')
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            di = 'daemonproxy-0.1.0.dist-info/'
            self.assertEqual([n for n in names if not n.startswith(di)], package_files())
            for n in ('METADATA', 'WHEEL', 'RECORD'):
                self.assertIn(di + n, names)
            meta = z.read(di + 'METADATA').decode()
            for line in ('Metadata-Version: 2.1', 'Name: daemonproxy', 'Version: 0.1.0',
                         'Requires-Python: >=3.9', 'License: MIT',
                         'Description-Content-Type: text/markdown'):
                self.assertIn(line + '\n', meta)
            wheel = z.read(di + 'WHEEL').decode()
            self.assertIn('Root-Is-Purelib: true\n', wheel)
            self.assertIn('Tag: py3-none-any\n', wheel)
            rows = list(csv.reader(io.StringIO(z.read(di + 'RECORD').decode())))
            self.assertEqual(sorted(r[0] for r in rows), sorted(names))
            for name, digest, size in rows:
                if name == di + 'RECORD':
                    self.assertEqual((digest, size), ('', ''))
                    continue
                data = z.read(name)
                algo, _, b64 = digest.partition('=')
                self.assertEqual(algo, 'sha256')
                want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=')
                self.assertEqual(b64, want.decode(), name)
                self.assertEqual(int(size), len(data), name)
            with open(os.path.join(PROJECT, 'daemonproxy', '__init__.py'), 'rb') as f:
                self.assertEqual(z.read('daemonproxy/__init__.py'), f.read())

    def test_entry_points(self):
        """[project.scripts] becomes entry_points.txt (console scripts), so that
        pip installs the dpcontroller command."""
        with zipfile.ZipFile(self.build()) as z:
            text = z.read('daemonproxy-0.1.0.dist-info/entry_points.txt').decode()
        self.assertEqual(text, '[console_scripts]\n'
                         'dpcontroller = daemonproxy.controller.__main__:main\n')
        self.assertIn('daemonproxy/controller/__main__.py', package_files())
        d = self.be.prepare_metadata_for_build_wheel(self.tmp)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, d, 'entry_points.txt')))

    def test_reproducible(self):
        a, b = self.build('a'), self.build('b')
        with open(a, 'rb') as fa, open(b, 'rb') as fb:
            self.assertEqual(fa.read(), fb.read())
        sa = self.be.build_sdist(os.path.join(self.tmp, 'sa'))
        sb = self.be.build_sdist(os.path.join(self.tmp, 'sb'))
        with open(os.path.join(self.tmp, 'sa', sa), 'rb') as fa, \
                open(os.path.join(self.tmp, 'sb', sb), 'rb') as fb:
            self.assertEqual(fa.read(), fb.read())

    def test_importable_from_the_wheel(self):
        path = self.build()
        code = ('import daemonproxy, sys; assert daemonproxy.__file__.startswith(sys.argv[1]), '
                'daemonproxy.__file__; print(daemonproxy.__version__, '
                'daemonproxy.parse_event("overflow"))')
        out = subprocess.run([sys.executable, '-I', '-c',
                              'import sys; sys.path.insert(0, sys.argv[1]); ' + code, path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertEqual(out.stdout.decode().split(), ['0.1.0', 'Overflow()'])

    def test_sdist(self):
        name = self.be.build_sdist(self.tmp)
        self.assertEqual(name, 'daemonproxy-0.1.0.tar.gz')
        with tarfile.open(os.path.join(self.tmp, name)) as t:
            names = t.getnames()
            for n in ['PKG-INFO', 'pyproject.toml', 'README.md', '_build_backend/backend.py'] + \
                    package_files():
                self.assertIn('daemonproxy-0.1.0/' + n, names)
            for m in t.getmembers():
                self.assertEqual((m.uid, m.gid, m.uname, m.gname), (0, 0, '', ''))
            # the sdist builds the same wheel again
            t.extractall(self.tmp)
        spec = importlib.util.spec_from_file_location(
            'dp_build_backend_sdist',
            os.path.join(self.tmp, 'daemonproxy-0.1.0', '_build_backend', 'backend.py'))
        be2 = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(be2)
        w2 = be2.build_wheel(os.path.join(self.tmp, 'w2'))
        with open(os.path.join(self.tmp, 'w2', w2), 'rb') as f2, open(self.build(), 'rb') as f1:
            self.assertEqual(f1.read(), f2.read())

    def test_toml_subset_parser(self):
        with open(os.path.join(PROJECT, 'pyproject.toml')) as f:
            text = f.read()
        mini = self.be._parse_toml_subset(text)['project']
        try:
            import tomllib
        except ImportError:
            return
        self.assertEqual(mini, tomllib.loads(text)['project'])

    def test_editable(self):
        name = self.be.build_editable(self.tmp)
        with zipfile.ZipFile(os.path.join(self.tmp, name)) as z:
            pth = z.read('__editable__.daemonproxy.pth').decode()
        self.assertEqual(pth.strip(), PROJECT)


def have_pip():
    try:
        return subprocess.run([sys.executable, '-m', 'pip', '--version'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class PipInstall(unittest.TestCase):
    @unittest.skipUnless(have_pip(), 'pip is not available')
    def test_offline_install(self):
        tmp = tempfile.mkdtemp(prefix='dppip')
        self.addCleanup(shutil.rmtree, tmp, True)
        target = os.path.join(tmp, 'site')
        env = dict(os.environ, PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1',
                   PIP_NO_CACHE_DIR='1')
        # a copy of the project, so that no build output lands in the tree
        src = os.path.join(tmp, 'src')
        shutil.copytree(PROJECT, src, ignore=shutil.ignore_patterns('__pycache__', 'build'))
        p = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index',
                            '--no-build-isolation', '--target', target, src],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout.decode()[-3000:])
        self.assertTrue(os.path.exists(os.path.join(target, 'daemonproxy', 'session.py')))
        self.assertTrue(os.path.isdir(os.path.join(target, 'daemonproxy-0.1.0.dist-info')))
        self.assertTrue(os.path.exists(os.path.join(target, 'daemonproxy', 'controller',
                                                    'config.py')))
        self.assertTrue(os.path.exists(os.path.join(target, 'bin', 'dpcontroller')),
                        'the console script of [project.scripts]')
        out = subprocess.run([sys.executable, '-I', '-c',
                              'import sys; sys.path.insert(0, sys.argv[1]); import daemonproxy;'
                              'print(daemonproxy.__file__)', target],
                             stdout=subprocess.PIPE, timeout=60)
        self.assertTrue(out.stdout.decode().startswith(target), out.stdout)


if __name__ == '__main__':
    unittest.main()
