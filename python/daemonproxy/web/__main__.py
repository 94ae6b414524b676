"""The command line: ``dpweb [options]`` (``python3 -m daemonproxy.web``).

Exit status: 0 after SIGTERM or SIGINT, 2 for bad usage (a non-loopback
--listen without a token, an unreadable or weak token file), 1 when the
address cannot be bound.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import List, Optional

from .. import __version__
from . import security
from .feed import Feed
from .model import Model
from .server import Settings, WebServer

# The --help text is also in dpweb(1), OPTIONS, between BEGIN --help and
# END --help (tests/python/test_web_security.py checks they are the same).
HELP = """\
usage: dpweb [options]     daemonproxy's services over HTTP: a page, /api,
                           /metrics, /events, and start/stop/restart
  -S, --socket PATH        daemonproxy's control socket (default: dpctl's)
      --listen HOST:PORT   where to serve (default 127.0.0.1:9100; IPv6 as
                           [ADDR]:PORT); other than loopback needs a token
      --token-file FILE    the token: FILE's first line (else $DPWEB_TOKEN;
                           neither: one is made, see dpweb(1))
      --allow-host NAME    also accept this Host header (repeatable)
      --read-only          refuse every action
  -v, --verbose            log every request to stderr
  -h, --help               this list
  -V, --version            the version
"""


class _Parser(argparse.ArgumentParser):
    def format_help(self) -> str:
        return HELP

    def format_usage(self) -> str:
        return 'usage: dpweb [options] (dpweb --help: the list)\n'


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog='dpweb', add_help=False)
    p.add_argument('-S', '--socket', metavar='PATH')
    p.add_argument('--listen', metavar='HOST:PORT', default='127.0.0.1:9100')
    p.add_argument('--token-file', metavar='FILE')
    p.add_argument('--allow-host', metavar='NAME', action='append', default=[])
    p.add_argument('--read-only', action='store_true')
    p.add_argument('-v', '--verbose', action='store_true')
    p.add_argument('-h', '--help', action='help')
    p.add_argument('-V', '--version', action='version', version='dpweb ' + __version__)
    return p


def _say(msg: str) -> None:
    sys.stderr.write('dpweb: %s\n' % msg)
    sys.stderr.flush()


def load_token(args: argparse.Namespace, loopback: bool) -> Optional[str]:
    """The configured token, or a new one written to a file; None when
    none is needed (loopback and --read-only).  Exits 2 on a bad one."""
    try:
        if args.token_file:
            return security.read_token_file(args.token_file)
        env = os.environ.get(security.TOKEN_ENV)
        if env:
            return security.check_token(env.strip(), '$' + security.TOKEN_ENV)
    except (OSError, ValueError) as e:
        _say(str(e))
        sys.exit(2)
    if not loopback:
        _say('listening on %s needs a token: --token-file FILE or $%s (every request '
             'will need it)' % (args.listen, security.TOKEN_ENV))
        sys.exit(2)
    if args.read_only:
        return None
    path = security.token_path()
    try:
        token = security.write_token_file(path)
    except OSError as e:
        _say('cannot write a token to %s: %s (give one with --token-file)' % (path, e))
        sys.exit(2)
    _say('actions need the token in %s (header X-DPWeb-Token)' % path)
    return token


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        host, port = security.parse_listen(args.listen)
    except ValueError as e:
        parser().error('--listen %s: %s' % (args.listen, e))
    loopback = security.is_loopback(host)
    token = load_token(args, loopback)
    settings = Settings(host, port, token, read_only=args.read_only,
                        allow_hosts=tuple(args.allow_host), log=args.verbose)
    model = Model()
    feed = Feed(model, args.socket)
    feed.log = _say
    try:
        server = WebServer(settings, model, feed)
    except OSError as e:
        _say('cannot listen on %s: %s' % (args.listen, e.strerror or e))
        return 1
    done = threading.Event()

    def stop(signum, frame) -> None:
        done.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    feed.start()
    t = threading.Thread(target=server.serve_forever, name='dpweb-http', daemon=True)
    t.start()
    h, p = server.server_address[:2]
    _say('serving http://%s:%d/%s' % ('[%s]' % h if ':' in h else h, p,
                                      ' (read-only)' if args.read_only else ''))
    while not done.wait(3600):
        pass
    server.shutdown()
    server.server_close()
    feed.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
