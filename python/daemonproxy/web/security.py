"""Who may read and who may act: the rules, without I/O (server.py asks).

* dpweb binds 127.0.0.1:9100 unless told otherwise; binding anything but
  a loopback address needs a token, and then every request needs it too.
* On loopback, a read without the token is answered only for a peer
  that is root or dpweb's own user (peer.py asks the kernel), as
  daemonproxy's control socket admits only them.
* The token comes from a file (``--token-file``) or ``$DPWEB_TOKEN``,
  never from the command line (which any local user reads in ps).  With
  neither, dpweb makes one at start and writes it to a 0600 file in the
  user's runtime directory (:func:`token_path`).
* An action (POST) always needs the token, in the header
  ``X-DPWeb-Token: TOKEN`` or ``Authorization: Bearer TOKEN``.  A browser
  sends neither on its own to a page of another site (a custom header
  needs a CORS preflight, which dpweb never grants), so a cross-site form
  or script cannot act; an ``Origin`` that is not this server, or
  ``Sec-Fetch-Site: cross-site``, is refused as well.
* The ``Host`` header must name the address dpweb listens on (or
  ``localhost`` for a loopback one, or a name given with --allow-host):
  a page whose DNS name is made to point at 127.0.0.1 afterwards (DNS
  rebinding) sends its own name and is refused.
* Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
from typing import Iterable, Optional, Set, Tuple
from urllib.parse import urlsplit

__all__ = ['parse_listen', 'is_loopback', 'allowed_hosts', 'host_ok', 'origin_ok',
           'token_ok', 'given_token', 'read_token_file', 'token_path', 'write_token_file',
           'TOKEN_ENV', 'TOKEN_MIN']

TOKEN_ENV = 'DPWEB_TOKEN'
TOKEN_MIN = 16


def parse_listen(text: str) -> Tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` (HOST may be a name, e.g.
    localhost) as (host, port); ValueError when malformed."""
    if text.startswith('['):
        end = text.find(']:')
        if end < 0:
            raise ValueError('expected [ADDRESS]:PORT')
        host, port = text[1:end], text[end + 2:]
    else:
        host, sep, port = text.rpartition(':')
        if not sep or ':' in host:
            raise ValueError('expected HOST:PORT (an IPv6 address in brackets)')
    if not host:
        raise ValueError('no host (0.0.0.0 for every address, with a token)')
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError('invalid port %r' % port)
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> Optional[Set[str]]:
    """The Host header values accepted (lowercase, with and without the
    port), or None for any: a wildcard bind without --allow-host (every
    request needs the token there, which a rebinding page does not
    have)."""
    names = set(extra)
    if _is_wildcard(host) and not names:
        return None
    if is_loopback(host):
        names.update(('localhost', '127.0.0.1', '[::1]'))
    if not _is_wildcard(host):
        names.add('[%s]' % host if ':' in host else host)
    out = set()
    for n in names:
        n = n.lower()
        out.add(n)
        out.add('%s:%d' % (n, port))
    return out


def host_ok(header: Optional[str], allowed: Optional[Set[str]]) -> bool:
    if allowed is None:
        return True
    return header is not None and header.strip().lower() in allowed


def origin_ok(origin: Optional[str], host_header: Optional[str],
              fetch_site: Optional[str] = None) -> bool:
    """An unsafe request's origin: none (not a browser), or this server's
    own (scheme http or https, host:port as the Host header)."""
    if fetch_site is not None and fetch_site.strip().lower() == 'cross-site':
        return False
    if origin is None:
        return True
    if host_header is None:
        return False
    try:
        u = urlsplit(origin.strip())
    except ValueError:
        return False
    return u.scheme in ('http', 'https') and u.netloc.lower() == host_header.strip().lower() \
        and not u.path


def given_token(headers) -> Optional[str]:
    """The token a request carries: X-DPWeb-Token, or Authorization: Bearer."""
    t = headers.get('X-DPWeb-Token')
    if t is not None:
        return t.strip()
    auth = headers.get('Authorization')
    if auth is not None:
        scheme, _, value = auth.strip().partition(' ')
        if scheme.lower() == 'bearer':
            return value.strip()
    return None


def token_ok(given: Optional[str], token: Optional[str]) -> bool:
    """Constant-time comparison; no token configured or given: False."""
    if not given or not token:
        return False
    return hmac.compare_digest(given.encode('utf-8', 'surrogateescape'),
                               token.encode('utf-8', 'surrogateescape'))


def read_token_file(path: str) -> str:
    """The token in path (its first line, without surrounding blanks).
    ValueError for a file any user may read or write, or a token shorter
    than TOKEN_MIN characters; OSError when it cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError('%s: not a regular file' % path)
        if st.st_mode & 0o006:
            raise ValueError('%s: any user may read or change it (chmod o-rw)' % path)
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    return check_token(data.decode('utf-8', 'replace').strip().split('\n')[0].strip(), path)


def check_token(token: str, what: str) -> str:
    if len(token) < TOKEN_MIN:
        raise ValueError('%s: a token of at least %d characters is needed' % (what, TOKEN_MIN))
    if any(ch.isspace() or ord(ch) < 0x20 for ch in token):
        raise ValueError('%s: the token has blanks or control characters' % what)
    return token


def token_path() -> str:
    """Where a generated token goes: $XDG_RUNTIME_DIR/dpweb.token (when
    absolute), /run/dpweb.token for root, else /tmp/dpweb-UID/token (a
    0700 directory of the user's own)."""
    rt = os.environ.get('XDG_RUNTIME_DIR', '')
    if rt.startswith('/'):
        return os.path.join(rt, 'dpweb.token')
    if os.geteuid() == 0:
        return '/run/dpweb.token'
    return '/tmp/dpweb-%d/token' % os.geteuid()


def write_token_file(path: str) -> str:
    """A new random token, written to path (mode 0600, replacing what
    was there); its directory, when it is /tmp/dpweb-UID, is made 0700
    and must be the user's own."""
    d = os.path.dirname(path)
    if d.startswith('/tmp/dpweb-'):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise OSError('%s is not a 0700 directory of your own' % d)
    token = secrets.token_urlsafe(32)
    tmp = '%s.%d.tmp' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (token + '\n').encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)
    return token
