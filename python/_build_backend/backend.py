"""A small in-tree PEP 517 build backend for the daemonproxy package.

It needs nothing but the standard library, so ``pip install ./python``
works offline, without downloading setuptools.  It builds:

* a wheel (``build_wheel``): the files of ``daemonproxy/`` plus a
  ``.dist-info`` directory with METADATA, WHEEL, RECORD (sha256 of every
  file) and, for ``[project.scripts]``, entry_points.txt (console scripts,
  which pip turns into commands);
* an sdist (``build_sdist``): the source tree with PKG-INFO;
* an editable wheel (``build_editable``, PEP 660): a ``.pth`` file that
  puts this source tree on ``sys.path``.

Archives are reproducible: sorted entries, fixed timestamps (from
``$SOURCE_DATE_EPOCH`` if set, else 1980-01-01), fixed permissions.
Project metadata comes from pyproject.toml's ``[project]`` table.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time
import zipfile
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'daemonproxy'
GENERATOR = 'daemonproxy-build-backend'
WHEEL_TAG = 'py3-none-any'

__all__ = ['get_requires_for_build_wheel', 'get_requires_for_build_sdist',
           'get_requires_for_build_editable', 'prepare_metadata_for_build_wheel',
           'prepare_metadata_for_build_editable', 'build_wheel', 'build_sdist',
           'build_editable']


# --- pyproject.toml ----------------------------------------------------------------

def _parse_toml_subset(text: str) -> Dict[str, dict]:
    """Tables of ``key = value`` lines, values being strings, arrays of
    strings or inline tables of strings: what this pyproject.toml uses.
    (tomllib is preferred when present, Python 3.11+.)"""
    tables: Dict[str, dict] = {}
    cur = tables.setdefault('', {})
    lines = iter(text.splitlines())
    for line in lines:
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        m = re.match(r'\[([A-Za-z0-9_.-]+)\]\Z', line)
        if m:
            head, _, sub = m.group(1).partition('.')     # [project.scripts]: nested
            cur = tables.setdefault(head, {})
            if sub:
                cur = cur.setdefault(sub, {})
            continue
        key, _, value = line.partition('=')
        key, value = key.strip().strip('"'), value.strip()
        if value.startswith('[') and not value.rstrip().endswith(']'):
            for more in lines:
                value += ' ' + more.strip()
                if more.strip().endswith(']'):
                    break
        cur[key] = _toml_value(value)
    return tables


def _toml_value(value: str) -> object:
    value = value.strip()
    if value.startswith('"'):
        return json.loads(value)
    if value.startswith('['):
        return [json.loads(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', value)]
    if value.startswith('{'):
        return {k: json.loads(v) for k, v in
                re.findall(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*")', value)}
    if value in ('true', 'false'):
        return value == 'true'
    return value


def _project() -> dict:
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        raw = f.read()
    try:
        import tomllib                                  # Python 3.11+
        return tomllib.loads(raw.decode())['project']
    except ImportError:
        return _parse_toml_subset(raw.decode())['project']


def _metadata() -> str:
    p = _project()
    out = ['Metadata-Version: 2.1', 'Name: %s' % p['name'], 'Version: %s' % p['version']]
    if p.get('description'):
        out.append('Summary: %s' % p['description'])
    lic = p.get('license')
    if isinstance(lic, dict) and lic.get('text'):
        out.append('License: %s' % lic['text'])
    if p.get('requires-python'):
        out.append('Requires-Python: %s' % p['requires-python'])
    for kw in p.get('keywords', ()):
        out.append('Keywords: %s' % kw)
    for c in p.get('classifiers', ()):
        out.append('Classifier: %s' % c)
    for label, url in sorted(p.get('urls', {}).items()):
        out.append('Project-URL: %s, %s' % (label, url))
    body = ''
    readme = p.get('readme')
    if readme:
        with open(os.path.join(ROOT, readme), encoding='utf-8') as f:
            body = f.read()
        out.append('Description-Content-Type: text/markdown')
    return '\n'.join(out) + '\n\n' + body


def _name_version() -> Tuple[str, str]:
    p = _project()
    return re.sub(r'[-_.]+', '_', p['name']).lower(), p['version']


# --- archives ----------------------------------------------------------------------------

def _epoch() -> int:
    try:
        return max(315532800, int(os.environ['SOURCE_DATE_EPOCH']))
    except (KeyError, ValueError):
        return 315532800                                # 1980-01-01, zip's earliest


def _package_files() -> List[str]:
    """Paths (relative to ROOT, with /) of the package's files."""
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, PACKAGE)):
        dirs[:] = sorted(x for x in dirs if x != '__pycache__')
        for f in files:
            if f.endswith(('.pyc', '.pyo')) or f.startswith('.'):
                continue
            out.append(os.path.relpath(os.path.join(d, f), ROOT).replace(os.sep, '/'))
    return sorted(out)


def _read(rel: str) -> bytes:
    with open(os.path.join(ROOT, rel), 'rb') as f:
        return f.read()


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return 'sha256=' + base64.urlsafe_b64encode(digest).rstrip(b'=').decode()


def _entry_points() -> str:
    """entry_points.txt for ``[project.scripts]`` (console scripts), or ''."""
    scripts = _project().get('scripts') or {}
    if not scripts:
        return ''
    return '[console_scripts]\n' + ''.join('%s = %s\n' % (name, scripts[name])
                                           for name in sorted(scripts))


def _dist_info_files(dist_info: str) -> List[Tuple[str, bytes]]:
    wheel = ('Wheel-Version: 1.0\nGenerator: %s\nRoot-Is-Purelib: true\nTag: %s\n'
             % (GENERATOR, WHEEL_TAG))
    out = [(dist_info + '/METADATA', _metadata().encode('utf-8')),
           (dist_info + '/WHEEL', wheel.encode()),
           (dist_info + '/top_level.txt', (PACKAGE + '\n').encode())]
    entry_points = _entry_points()
    if entry_points:
        out.append((dist_info + '/entry_points.txt', entry_points.encode()))
    return out


def _write_wheel(path: str, files: List[Tuple[str, bytes]], dist_info: str) -> None:
    files = sorted(files)
    files += _dist_info_files(dist_info)
    record = ''.join('%s,%s,%d\n' % (name, _record_hash(data), len(data))
                     for name, data in files)
    record += '%s/RECORD,,\n' % dist_info
    files.append((dist_info + '/RECORD', record.encode()))
    date = time.gmtime(_epoch())[:6]
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=date)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 & 0xFFFF) << 16
            info.create_system = 3
            z.writestr(info, data)


def _wheel_name() -> Tuple[str, str]:
    name, version = _name_version()
    return '%s-%s-%s.whl' % (name, version, WHEEL_TAG), '%s-%s.dist-info' % (name, version)


# --- the PEP 517 / PEP 660 hooks --------------------------------------------------------

def get_requires_for_build_wheel(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[dict] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: Optional[dict] = None) -> str:
    _, dist_info = _wheel_name()
    for name, data in _dist_info_files(dist_info):
        target = os.path.join(metadata_directory, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, 'wb') as f:
            f.write(data)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Optional[dict] = None,
                metadata_directory: Optional[str] = None) -> str:
    filename, dist_info = _wheel_name()
    os.makedirs(wheel_directory, exist_ok=True)
    _write_wheel(os.path.join(wheel_directory, filename),
                 [(rel, _read(rel)) for rel in _package_files()], dist_info)
    return filename


def build_editable(wheel_directory: str, config_settings: Optional[dict] = None,
                   metadata_directory: Optional[str] = None) -> str:
    filename, dist_info = _wheel_name()
    os.makedirs(wheel_directory, exist_ok=True)
    pth = (ROOT + '\n').encode()
    _write_wheel(os.path.join(wheel_directory, filename),
                 [('__editable__.%s.pth' % PACKAGE, pth)], dist_info)
    return filename


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    name, version = _name_version()
    base = '%s-%s' % (name, version)
    files = ['pyproject.toml', 'README.md', '_build_backend/backend.py'] + _package_files()
    members: List[Tuple[str, bytes]] = [(base + '/PKG-INFO', _metadata().encode('utf-8'))]
    members += [(base + '/' + rel, _read(rel)) for rel in files
                if os.path.exists(os.path.join(ROOT, rel))]
    members.sort()
    filename = base + '.tar.gz'
    os.makedirs(sdist_directory, exist_ok=True)
    mtime = _epoch()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({m[0].rsplit('/', i)[0] for m in members
                       for i in range(1, m[0].count('/') + 1)})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(info)
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, mtime
            tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(sdist_directory, filename), 'wb') as f:
        with gzip.GzipFile(filename='', mode='wb', fileobj=f, mtime=0) as gz:
            gz.write(buf.getvalue())
    return filename
