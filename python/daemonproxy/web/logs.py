"""The last records of a service's log directory (docs/protocol.md, "Logs:
where a service's logs are": the ``log_dir=DIR`` tag; the directory in
dplog's format, docs/dplog.1), as ``dpctl logs NAME -n N`` prints them:
rotated ``@….s`` files in the order of their names, then ``current``.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Dict, List, Optional, Sequence

__all__ = ['log_dir', 'last_records', 'RECORDS_MAX']

RECORDS_MAX = 1000
_ROTATED = re.compile(r'^@[0-9a-f]{24}\.s$')
_CHUNK = 65536


def log_dir(tags: Sequence[str]) -> Optional[str]:
    """The service's log directory (its ``log_dir=`` tag), or None."""
    for t in tags:
        if t.startswith('log_dir='):
            return t[8:]
    return None


def _tail(path: str, n: int) -> List[bytes]:
    """The last n lines of the file at path (fewer if it has fewer)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return []                           # rotated or deleted meanwhile
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        end = os.lseek(fd, 0, os.SEEK_END)
        data = b''
        while end > 0 and data.count(b'\n') <= n:
            start = max(0, end - _CHUNK)
            data = os.pread(fd, end - start, start) + data
            end = start
    finally:
        os.close(fd)
    lines = data.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    if end > 0:
        lines = lines[1:]                   # a partial first line
    return lines[-n:] if n else []


def last_records(path: str, n: int) -> List[Dict[str, str]]:
    """The last n records of the log directory at path, oldest first, each
    as {"time": its time stamp, "text": the line}.  OSError when the
    directory cannot be read."""
    n = max(0, min(n, RECORDS_MAX))
    names = sorted(x for x in os.listdir(path) if _ROTATED.match(x))
    names.append('current')
    out: List[bytes] = []
    for name in reversed(names):
        if len(out) >= n:
            break
        out[:0] = _tail(os.path.join(path, name), n - len(out))
    records = []
    for line in out[-n:] if n else []:
        text = line.decode('utf-8', 'replace')
        stamp, sep, rest = text.partition(' ')
        if sep and (stamp[:1] == '@' or stamp[:2].isdigit()):
            records.append({'time': stamp, 'text': rest})
        else:
            records.append({'time': '', 'text': text})
    return records
