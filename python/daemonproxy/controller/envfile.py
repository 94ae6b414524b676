"""``env_file``: reading a file of ``KEY=VALUE`` lines as systemd's
``EnvironmentFile=`` does, but strict where systemd only warns and skips.

The syntax (systemd.exec(5), EnvironmentFile=; its parser is
``parse_env_file_internal``)::

    # a comment (a line whose first non-blank character is # or ;)
    PORT=8080                   # (no: a '#' after a value is part of it)
    NAME = "a value"            # blanks around the = and the key are dropped
    GREETING='single: no escapes, $HOME stays'
    PATH_LIST="double: \\" \\\\ \\$ \\` escaped, other backslashes kept"
    LONG=first \\
    second                      # a backslash-newline continues the line
    MIXED=a"b c"'d'             # the quoted parts join: ab cd

Unquoted, a backslash keeps the next character (and a backslash-newline
is dropped), and trailing blanks are cut.  Strict where systemd is lax:
a line without ``=``, an invalid name (``export KEY=`` too: systemd
ignores such a line with a warning), and an unterminated quote are
errors, each as ``PATH:LINE: what is wrong``.  So is a value with a
control character (a newline inside quotes, which systemd accepts): the
daemon's service.env cannot carry one.
"""

from __future__ import annotations

import re
from typing import List, Tuple

__all__ = ['EnvFileError', 'parse_env', 'read_env_file', 'read_env_files', 'split_optional']

ENV_NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,254}\Z')
BLANKS = ' \t'
#: what a backslash escapes inside double quotes (others stay, as in sh)
DQUOTE_ESCAPES = '"\\`$'


class EnvFileError(Exception):
    """The file cannot be read or does not parse; str() is
    ``PATH:LINE: what is wrong`` (or ``PATH: reason`` for a read error)."""


def split_optional(entry: str) -> Tuple[str, bool]:
    """``"-/etc/x"`` -> (``"/etc/x"``, True): a leading ``-`` makes a file
    optional (a missing one is no error)."""
    if entry.startswith('-'):
        return entry[1:], True
    return entry, False


def parse_env(text: str, path: str = '<env_file>') -> List[Tuple[str, str]]:
    """The assignments of text in order (a name set twice: the last
    wins).  Raises EnvFileError naming path and the line."""
    out: List[Tuple[str, str]] = []
    i, n, line = 0, len(text), 1

    def fail(at: int, msg: str) -> None:
        raise EnvFileError('%s:%d: %s' % (path, at, msg))

    while i < n:
        # blanks, empty lines and comments before a key
        c = text[i]
        if c in BLANKS or c in '\r\n':
            if c == '\n':
                line += 1
            i += 1
            continue
        if c in '#;':
            while i < n and text[i] != '\n':
                i += 1
            continue
        start = line
        j = i
        while j < n and text[j] not in '=\n':
            j += 1
        key = text[i:j].strip(BLANKS + '\r')
        if j >= n or text[j] != '=':
            fail(start, 'no "=" in %r (each line is KEY=VALUE)' % key)
        if not ENV_NAME_RE.match(key):
            hint = ' ("export" is a shell\'s, not systemd\'s: drop it)' \
                if key.startswith('export') and key[6:7] in BLANKS else ''
            fail(start, 'invalid variable name %r (A-Z a-z 0-9 _, not starting with a '
                        'digit)%s' % (key, hint))
        i = j + 1
        while i < n and text[i] in BLANKS:
            i += 1
        value: List[str] = []
        keep = 0            # len(value) up to its last non-blank, quoted or escaped char
        while i < n and text[i] != '\n':
            c = text[i]
            if c == '\\':
                if i + 1 < n and text[i + 1] == '\n':
                    line += 1           # continuation: both dropped
                elif i + 1 < n:
                    value.append(text[i + 1])
                    keep = len(value)
                i += 2
                continue
            if c in '\'"':
                quote, q_line = c, line
                i += 1
                while True:
                    if i >= n:
                        fail(q_line, 'unterminated %s quote' % ('single' if quote == "'"
                                                                else 'double'))
                    d = text[i]
                    if d == quote:
                        i += 1
                        break
                    if d == '\\' and quote == '"' and i + 1 < n:
                        e = text[i + 1]
                        if e == '\n':
                            line += 1
                            i += 2
                            continue
                        if e in DQUOTE_ESCAPES:
                            value.append(e)
                            i += 2
                            continue
                    if d == '\n':
                        fail(line, 'a newline inside quotes: daemonproxy cannot pass a '
                                   'multi-line value')
                    value.append(d)
                    i += 1
                keep = len(value)
                continue
            value.append(c)
            if c not in BLANKS + '\r':
                keep = len(value)
            i += 1
        val = ''.join(value[:keep])         # trailing unquoted blanks cut
        if any(ord(ch) < 0x20 or ch == '\x7f' for ch in val):
            fail(start, 'a control character in the value of %s: daemonproxy cannot pass it'
                 % key)
        out.append((key, val))
    return out


def read_env_files(entries) -> List[Tuple[str, str]]:
    """The assignments of env_file's entries, in order (a later one
    wins); a missing optional (``-PATH``) file is skipped.  Raises
    EnvFileError for the first file that cannot be read or parsed."""
    out: List[Tuple[str, str]] = []
    for entry in entries:
        path, optional = split_optional(entry)
        out += read_env_file(path, optional)
    return out


def read_env_file(path: str, optional: bool = False) -> List[Tuple[str, str]]:
    """parse_env() of the file at path; EnvFileError if it cannot be read
    (``PATH: No such file or directory``, none if optional) or does not
    parse."""
    try:
        with open(path, 'rb') as f:
            raw = f.read((1 << 20) + 1)
    except FileNotFoundError as e:
        if optional:
            return []
        raise EnvFileError('%s: %s' % (path, e.strerror or e)) from None
    except OSError as e:
        raise EnvFileError('%s: %s' % (path, e.strerror or e)) from None
    if len(raw) > 1 << 20:
        raise EnvFileError('%s: larger than 1 MiB: not an environment file' % path)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise EnvFileError('%s:%d: not UTF-8' % (path, raw[:e.start].count(b'\n') + 1)) \
            from None
    return parse_env(text, path)
