"""dpweb's HTTP side: the routes, the checks of security.py, and the
Server-Sent Events fan-out.

Routes (every answer has ``X-Content-Type-Options: nosniff`` and a strict
``Content-Security-Policy``; JSON and SSE carry names and STATUS= texts as
data, for the page to escape):

=========================================  ====================================
GET /                                      the page (static/index.html)
GET /static/NAME                           a file of the package's static/
GET /metrics                               Prometheus text format 0.0.4
GET /api/services                          ``dpctl status --json``'s list
GET /api/services/NAME                     one of them
GET /api/services/NAME/history             its last transitions (the timeline)
GET /api/services/NAME/logs?n=N            its log_dir='s last N records (token)
GET /api/daemon                            daemonproxy's counters, dpweb's
GET /events                                SSE: ``snapshot``, then ``changes``
POST /api/services/NAME/start|stop|restart  through the desired state
=========================================  ====================================

**SSE.**  No client has a queue of its own: the hub keeps the last
RING_MAX batches (one per model flush, each serialised once), and each
client's thread sends those after the last one it sent.  A client that
fell behind the ring gets a fresh ``snapshot`` instead; one whose socket
takes no data for SSE_SEND_TIMEOUT seconds is dropped.  Memory is
bounded by the ring whatever the clients do.
"""

from __future__ import annotations

import collections
import socket
import json
import os
import re
import resource
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from .. import __version__
from . import logs as logs_mod
from . import peer
from . import security
from .feed import VERBS, ActionError, Feed
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .metrics import family
from .model import Model, live

__all__ = ['Hub', 'WebServer', 'Settings', 'CSP', 'load_static']

RING_MAX = 64
SSE_SEND_TIMEOUT = 10.0
SSE_PING = 15.0
SSE_CLIENTS_MAX = 64
CONNECTIONS_MAX = 256
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_NAME_RE = re.compile(r'^[A-Za-z0-9._-]{1,31}$')
_STATIC_RE = re.compile(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$')
_TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
          '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
          '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json'}
_JSON = 'application/json'


def load_static() -> Dict[str, Tuple[bytes, str]]:
    """The package's static files, read once: name -> (bytes, type).  Only
    these are ever served, so no path reaches the file system."""
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
    out = {}
    for name in os.listdir(d):
        ext = os.path.splitext(name)[1]
        p = os.path.join(d, name)
        if _STATIC_RE.match(name) and ext in _TYPES and os.path.isfile(p):
            with open(p, 'rb') as f:
                out[name] = (f.read(), _TYPES[ext])
    return out


def _dumps(v: Any) -> bytes:
    # ensure_ascii: <, > and & stay as they are (the page escapes), but no
    # byte of the output can be taken for anything but JSON text
    return json.dumps(v, separators=(',', ':')).encode()


class Hub:
    """The SSE fan-out: a ring of serialised batches and a condition."""

    def __init__(self, model: Model, ring: int = RING_MAX) -> None:
        self.model = model
        self.cond = threading.Condition()
        self.ring: 'collections.deque[Tuple[int, Optional[bytes]]]' = \
            collections.deque(maxlen=ring)
        self.clients = 0
        self.dropped_total = 0
        self.snapshots_total = 0
        self.closed = False

    def publish(self, kind: str, seq: int, rows: List[Dict[str, Any]],
                deleted: List[str]) -> None:
        """A model flush (called in the feed thread): serialise the batch
        once; a snapshot is stored as None (each client makes its own)."""
        data = None
        if kind == 'changes':
            now, wall = int(self.model.clock()), self.model.wall()
            data = sse_message('changes', seq, {
                'seq': seq, 'mono': round(self.model.clock(), 3),
                'services': [live(r, now, wall) for r in rows],
                'deleted': deleted, 'daemon': self.model.daemon_info()})
        with self.cond:
            self.ring.append((seq, data))
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def snapshot(self) -> Tuple[int, bytes]:
        seq, rows = self.model.snapshot_rows()
        now, wall = int(self.model.clock()), self.model.wall()
        self.snapshots_total += 1
        return seq, sse_message('snapshot', seq, {
            'seq': seq, 'mono': round(self.model.clock(), 3),
            'services': [live(r, now, wall) for r in rows],
            'daemon': self.model.daemon_info()})

    def serve(self, write, ping: float = SSE_PING) -> None:
        """One client's loop: write(bytes) until it raises (the client went
        away, or took nothing for the send timeout) or the hub closes."""
        seq, data = self.snapshot()
        write(data)
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.closed or (self.ring and self.ring[-1][0] > seq),
                                   ping)
                if self.closed:
                    return
                todo = [e for e in self.ring if e[0] > seq]
                gap = bool(todo) and todo[0][0] != seq + 1
            if not todo:
                write(b': ping\n\n')
            elif gap or any(d is None for _, d in todo):
                seq, data = self.snapshot()
                write(data)
            else:
                write(b''.join(d for _, d in todo))        # type: ignore[misc]
                seq = todo[-1][0]


def sse_message(event: str, seq: int, payload: Any) -> bytes:
    """One SSE message: event name, id, and the JSON on one data line."""
    return b'event: %s\nid: %d\ndata: %s\n\n' % (event.encode(), seq, _dumps(payload))


class Settings:
    """What the handlers need to know (set by __main__)."""

    def __init__(self, host: str, port: int, token: Optional[str], read_only: bool = False,
                 allow_hosts: Tuple[str, ...] = (), log: bool = False) -> None:
        self.host, self.port = host, port
        self.token = token
        self.read_only = read_only
        self.loopback = security.is_loopback(host)
        self.read_needs_token = not self.loopback
        # On loopback, who reads without the token: as dpctl's socket
        # allows, root and dpweb's own user (peer.py).
        self.trusted_uids = {0, os.geteuid()}
        self.allow_hosts = allow_hosts
        self.hosts: Optional[Set[str]] = security.allowed_hosts(host, port, allow_hosts)
        self.log = log
        self.sse_send_timeout = SSE_SEND_TIMEOUT


class WebServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, settings: Settings, model: Model, feed: Optional[Feed]) -> None:
        if ':' in settings.host:
            self.address_family = socket.AF_INET6
        self.settings = settings
        self.model = model
        self.feed = feed
        self.hub = Hub(model)
        model.listeners.append(self.hub.publish)
        self.static = load_static()
        self.sse_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(CONNECTIONS_MAX)
        super().__init__((settings.host, settings.port), Handler)
        # the port bound (port 0: the kernel's choice) is the one Host names
        settings.port = self.server_address[1]
        settings.hosts = security.allowed_hosts(settings.host, settings.port,
                                                settings.allow_hosts)

    def server_close(self) -> None:
        self.hub.close()
        super().server_close()

    def process_request(self, request, client_address) -> None:
        # one thread per connection, but never more than CONNECTIONS_MAX:
        # beyond, a new connection is closed at once
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def process_metrics(self) -> str:
        """dpweb's own process (the client libraries' ``process_`` names)
        and daemonproxy's memory, when /proc lets us read it."""
        out = []
        rss = _rss_bytes('self')
        if rss is not None:
            out.append(family('process_resident_memory_bytes', 'gauge',
                              'Resident memory of dpweb, in bytes.', [('', rss)]))
        ru = resource.getrusage(resource.RUSAGE_SELF)
        out.append(family('process_cpu_seconds_total', 'counter',
                          'CPU time dpweb used, user and system, in seconds.',
                          [('', round(ru.ru_utime + ru.ru_stime, 3))]))
        pid = self.model.daemon.get('pid')
        drss = _rss_bytes(str(pid)) if pid else None
        if drss is not None:
            out.append(family('daemonproxy_resident_memory_bytes', 'gauge',
                              "Resident memory of daemonproxy's process, in bytes.",
                              [('', drss)]))
        hub = self.hub
        out.append(family('daemonproxy_web_sse_clients', 'gauge',
                          'Clients of /events connected now.', [('', hub.clients)]))
        out.append(family('daemonproxy_web_sse_dropped_total', 'counter',
                          'Clients of /events dropped because they took no data for '
                          'the send timeout.', [('', hub.dropped_total)]))
        out.append(family('daemonproxy_web_sse_snapshots_total', 'counter',
                          'Full snapshots sent on /events (at connect, after a resync, '
                          'to a client that fell behind).', [('', hub.snapshots_total)]))
        return ''.join(out)


def _rss_bytes(pid: str) -> Optional[int]:
    try:
        with open('/proc/%s/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Handler(BaseHTTPRequestHandler):
    server: WebServer
    protocol_version = 'HTTP/1.1'
    server_version = 'dpweb/' + __version__
    sys_version = ''
    timeout = 30            # an idle keep-alive connection or a slow request line
    # answers go out in several writes (headers, then parts): without this,
    # Nagle's algorithm holds the last one for the peer's delayed ACK (40 ms)
    disable_nagle_algorithm = True

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.settings.log:
            super().log_message(fmt, *args)

    # --- answers ------------------------------------------------------------------

    def _headers(self, status: int, ctype: str, length: Optional[int],
                 extra: Tuple[Tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        if length is not None:
            self.send_header('Content-Length', str(length))
        self.send_header('X-Content-Type-Options', 'nosniff')
        self.send_header('Content-Security-Policy', CSP)
        self.send_header('X-Frame-Options', 'DENY')
        self.send_header('Referrer-Policy', 'no-referrer')
        self.send_header('Cache-Control', 'no-store')
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status: int, body: bytes, ctype: str,
              extra: Tuple[Tuple[str, str], ...] = ()) -> None:
        self._headers(status, ctype, len(body), extra)
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, _dumps(value) + b'\n', _JSON)

    def _error(self, status: int, message: str,
               extra: Tuple[Tuple[str, str], ...] = ()) -> None:
        self._send(status, _dumps({'error': message}) + b'\n', _JSON, extra)

    # --- methods ------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    @staticmethod
    def _page(path: str) -> bool:
        """The page itself, which holds no data: anyone may load it (and
        then give the token)."""
        return path == '/' or path.startswith('/static/')

    def _peer_trusted(self) -> bool:
        """Whether the peer's uid may read without the token (once per
        connection: a keep-alive one keeps its peer)."""
        if getattr(self, '_trusted', None) is None:
            uid = peer.peer_uid(self.client_address, self.connection.getsockname())
            self._trusted = uid is not None and uid in self.server.settings.trusted_uids
        return self._trusted

    def _other(self) -> None:
        self._error(405, 'method not allowed', (('Allow', 'GET, HEAD, POST'),))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other

    def _handle(self) -> None:
        s = self.server.settings
        host = self.headers.get('Host')
        if not security.host_ok(host, s.hosts):
            self._error(403, 'Host %r is not this server (DNS rebinding?); see --allow-host'
                        % (host or '')[:100])
            return
        given = security.given_token(self.headers)
        authed = security.token_ok(given, s.token)
        url = urlsplit(self.path)
        path = url.path
        # the page holds no data: a browser loads it anywhere, then reads
        # with the token it is given
        if not authed and not self._page(path) and (s.read_needs_token or
                                                    not self._peer_trusted()):
            self._error(401, 'a token is needed (X-DPWeb-Token or Authorization: Bearer)%s'
                        % ('' if s.read_needs_token else ': without it, only root and '
                           "dpweb's own user may read"),
                        (('WWW-Authenticate', 'Bearer realm="dpweb"'),))
            return
        if self.command == 'POST':
            self._post(path, host, authed)
            return
        if path == '/':
            path = '/static/index.html'
        if path.startswith('/static/'):
            f = self.server.static.get(path[8:])
            if f is None:
                self._error(404, 'not found')
            else:
                self._send(200, f[0], f[1])
        elif path == '/metrics':
            parts = self.server.model.metrics_parts(self.server.process_metrics().encode())
            self._headers(200, METRICS_TYPE, sum(map(len, parts)))
            if self.command != 'HEAD':
                for part in parts:
                    self.wfile.write(part)
        elif path == '/events':
            if self.command == 'HEAD':
                self._headers(200, 'text/event-stream; charset=utf-8', 0)
            else:
                self._events()
        elif path == '/api/daemon':
            d = self.server.model.daemon_info()
            d['error'] = self.server.feed.error if self.server.feed else None
            self._json(200, d)
        elif path == '/api/services':
            _, rows = self.server.model.snapshot_rows()
            now, wall = self._now()
            self._json(200, [live(r, now, wall) for r in rows])
        elif path.startswith('/api/services/'):
            self._service(path[14:], url.query)
        else:
            self._error(404, 'not found')

    def _now(self) -> Tuple[int, float]:
        m = self.server.model
        return int(m.clock()), m.wall()

    def _service(self, rest: str, query: str) -> None:
        name, _, sub = rest.partition('/')
        name = unquote(name)
        model = self.server.model
        row = model.row(name) if _NAME_RE.match(name) else None
        if row is None:
            self._error(404, 'no such service')
            return
        if sub == '':
            now, wall = self._now()
            self._json(200, live(row, now, wall))
        elif sub == 'history':
            h = model.history(name) or []
            self._json(200, {'service': name, 'history': [_history_item(e) for e in h]})
        elif sub == 'logs':
            if not security.token_ok(security.given_token(self.headers),
                                     self.server.settings.token):
                # dpweb may read what the asker could not (root's 0600 files)
                self._error(403, 'logs need the token (X-DPWeb-Token or Authorization: Bearer)')
                return
            q = parse_qs(query)
            try:
                n = int(q.get('n', ['50'])[0])
            except ValueError:
                self._error(400, 'n: a number of records')
                return
            d = logs_mod.log_dir(row['tags'])
            if d is None or not d.startswith('/'):
                self._json(200, {'service': name, 'dir': d, 'records': []})
                return
            try:
                recs = logs_mod.last_records(d, n)
            except OSError as e:
                self._json(200, {'service': name, 'dir': d, 'records': [],
                                 'error': e.strerror or str(e)})
                return
            self._json(200, {'service': name, 'dir': d, 'records': recs})
        else:
            self._error(404, 'not found')

    def _post(self, path: str, host: Optional[str], authed: bool) -> None:
        s = self.server.settings
        length = self.headers.get('Content-Length', '0')
        if not length.isdigit() or int(length) > 4096:
            self._error(413, 'no body expected')
            self.close_connection = True
            return
        if int(length):
            self.rfile.read(int(length))
        if not security.origin_ok(self.headers.get('Origin'), host,
                                  self.headers.get('Sec-Fetch-Site')):
            self._error(403, 'cross-site request refused')
            return
        if not authed:
            self._error(403, 'actions need the token (X-DPWeb-Token or Authorization: Bearer)')
            return
        if s.read_only:
            self._error(403, 'dpweb runs --read-only')
            return
        m = re.match(r'^/api/services/([^/]+)/([a-z]+)$', path)
        if not m or m.group(2) not in VERBS:
            self._error(404, 'not found')
            return
        name = unquote(m.group(1))
        if not _NAME_RE.match(name) or self.server.feed is None:
            self._error(404, 'no such service')
            return
        try:
            self._json(200, self.server.feed.act(m.group(2), name))
        except ActionError as e:
            self._error(e.status, str(e))

    def _events(self) -> None:
        srv = self.server
        hub = srv.hub
        with srv.sse_lock:
            if hub.clients >= SSE_CLIENTS_MAX:
                self._error(503, 'too many clients of /events')
                return
            hub.clients += 1
        try:
            self.close_connection = True
            self._headers(200, 'text/event-stream; charset=utf-8', None,
                          (('Connection', 'close'), ('X-Accel-Buffering', 'no')))
            self.wfile.flush()
            self.connection.settimeout(srv.settings.sse_send_timeout)

            def write(data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()
            try:
                hub.serve(write)
            except socket.timeout:          # TimeoutError from 3.10 on
                hub.dropped_total += 1
            except (OSError, ValueError):
                pass
        finally:
            with srv.sse_lock:
                hub.clients -= 1


def _history_item(e: Tuple[int, str, Any]) -> Dict[str, Any]:
    ms, kind, d = e
    out: Dict[str, Any] = {'ms': ms, 'event': kind}
    if kind == 'up':
        out['pid'] = d
    elif kind == 'down':
        out['reason'], out['value'], out['uptime'] = d
    elif kind == 'start':
        out['at'] = d
    elif kind == 'want':
        out['want'] = d
    return out
