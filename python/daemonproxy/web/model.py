"""What dpweb knows and serves, built from the library's mirror; no I/O.

The feed (feed.py) owns the connection and calls, from its one thread:
:meth:`Model.resynced` after every complete statedump (with the
``service.exits`` lines it carried), :meth:`Model.event` for each event,
and :meth:`Model.flush` every FLUSH_INTERVAL.  The HTTP threads only read,
under the model's lock, values the feed thread replaces but never changes
in place (rows, metric fragments), so what they serialise is consistent.

Per service the model keeps:

* a **row**: the fields of ``dpctl status --json`` (cli/show.c json_one),
  same names, same values, plus ``restarts``;
* **counters** that only grow while dpweb runs (Prometheus counters):
  restarts (runs that began after an exit) and exits by reason and value.
  daemonproxy's own count (``service.exits``) starts again at every want
  up, so it is the row's ``exits`` but not a counter; at first sight of a
  service the counters start from it (the last 5 exits it keeps by their
  reason, older ones as ``unknown``), and exits missed while disconnected
  are recovered from those 5;
* a **history**: its last HISTORY_MAX transitions (up, down with the exit,
  start pending, wants), wall-clock milliseconds, none older than
  HISTORY_AGE, for the page's timeline.

Changes are **batched**: an event only marks its service dirty; a flush
turns the dirty services into new rows and metric lines and one batch
(one SSE message), however many events came: 1,000 crash-looping
services give one message per flush, never a queue that grows.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from ..events import (
    Event, FdState, Orphan, ServiceState, ServiceWant, Signal,
)
from ..mirror import Mirror, ServiceInfo
from .metrics import SERVICE_FAMILIES, header, labels, sample

__all__ = ['Model', 'FLUSH_INTERVAL', 'HISTORY_MAX', 'HISTORY_AGE', 'parse_exits']

FLUSH_INTERVAL = 0.15
HISTORY_MAX = 1000
HISTORY_AGE = 24 * 3600
# daemonproxy keeps a service's last 5 exits (docs/protocol.md, "Exit history")
EXITS_KEPT = 5

ExitTuple = Tuple[int, str, str, int]         # ts, reason, value, uptime


def parse_exits(line: str) -> Optional[Tuple[str, int, Optional[int], List[ExitTuple]]]:
    """``service.exits→NAME→COUNT→SINCE→TS,REASON,VALUE,UPTIME…`` as
    (name, count, since, exits newest first), or None if malformed."""
    f = line.split('\t')
    if len(f) < 4 or f[0] != 'service.exits' or not f[2].isdigit():
        return None
    since = int(f[3]) if f[3].isdigit() else None
    out = []
    for part in f[4:]:
        p = part.split(',')
        if len(p) != 4 or not p[0].isdigit() or not p[3].isdigit():
            return None
        out.append((int(p[0]), p[1], p[2], int(p[3])))
    return f[1], int(f[2]), since, out


def _clean(s: Optional[str]) -> Optional[str]:
    """A string as dpctl's JSON shows it: bytes that were not UTF-8 (kept
    by the library as surrogate escapes) become U+FFFD."""
    if s is None or s.isascii():
        return s
    try:
        s.encode('utf-8')
        return s
    except UnicodeEncodeError:
        return s.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')


def _clean_list(v) -> List[str]:
    return [_clean(x) for x in v]          # type: ignore[misc]


class _Stats:
    """dpweb's own record of one service (kept across resyncs)."""

    __slots__ = ('count', 'since', 'last', 'by_reason', 'restarts', 'history', 'was_up',
                 'seeded')

    def __init__(self) -> None:
        self.count = 0                  # daemonproxy's exit count (reset by want up)
        self.since: Optional[int] = None
        self.last: List[ExitTuple] = []     # newest first, at most EXITS_KEPT
        self.by_reason: Dict[Tuple[str, str], int] = {}
        self.restarts = 0
        self.history: Deque[Tuple[int, str, Any]] = collections.deque(maxlen=HISTORY_MAX)
        self.was_up = False             # ran at least once (so an up is a restart)
        self.seeded = False             # a statedump has set the counters

    def add_exit(self, e: ExitTuple, n: int = 1) -> None:
        key = (e[1], e[2])
        self.by_reason[key] = self.by_reason.get(key, 0) + n


class Model:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.lock = threading.Lock()
        self.clock, self.wall = clock, wall
        self.rows: Dict[str, Dict[str, Any]] = {}
        self.frags: Dict[str, Tuple[str, ...]] = {}     # name -> one text per family
        self.stats: Dict[str, _Stats] = {}
        self.generation = 0             # bumped by every flush that changed something
        self.connected = False
        self.synced_once = False
        self.daemon: Dict[str, Any] = {'services': 0, 'handles': 0, 'controllers': 0,
                                       'pid': None}
        self.events_total = 0
        self.commands_total = 0
        self.resyncs_total = 0
        self.reconnects_total = 0
        self._dirty: Set[str] = set()
        self._deleted: Set[str] = set()
        self._full = False              # next flush is a snapshot (resync)
        self._resynced = False          # counted by that flush, once served
        self._mirror: Optional[Mirror] = None
        # listeners: fn(kind, seq, payload rows, deleted) called by flush
        self.listeners: List[Callable[[str, int, List[Dict[str, Any]], List[str]], None]] = []
        self.seq = 0
        self._mcache: Optional[Tuple[int, List[str], List[Tuple[str, int]]]] = None

    # --- fed by the feed thread ------------------------------------------------

    def resynced(self, mirror: Mirror, exits: Dict[str, str]) -> None:
        """A statedump was applied to mirror; exits: its service.exits lines
        by service name."""
        now = int(self.clock())
        with self.lock:
            self._mirror = mirror
            self._resynced = True
            for name in list(self.stats):
                if name not in mirror.services:
                    del self.stats[name]
            for name, info in mirror.services.items():
                parsed = parse_exits(exits[name]) if name in exits else None
                self._seed(name, info, parsed, now)
            self._full = True
            self.synced_once = True

    def _seed(self, name: str, info: ServiceInfo, parsed, now: int) -> None:
        st = self.stats.get(name)
        if st is None:
            st = self.stats[name] = _Stats()
        # first seen in this statedump (events during it may have made the
        # record: what they counted is in the dump's exits too)
        fresh = not st.seeded
        if fresh:
            st.by_reason = {}
        count, since, last = (parsed[1], parsed[2], parsed[3]) if parsed else (0, None, [])
        up = info.state.state == 'up'
        if fresh:
            for e in last:
                st.add_exit(e)
            if count > len(last):
                st.by_reason[('unknown', '')] = count - len(last)
            st.restarts = max(0, count + up - 1)
            wall_now = self.wall()
            for e in reversed(last):            # oldest first, as live ones come
                down_ms = int((wall_now - (now - e[0])) * 1000)
                st.history.append((down_ms - e[3] * 1000, 'up', None))
                st.history.append((down_ms, 'down', [e[1], e[2], e[3]]))
        else:
            # exits missed while disconnected: those in the daemon's list
            # newer than the newest we knew
            known = st.last[0] if st.last else None
            missed = []
            for e in last:
                if e == known:
                    break
                missed.append(e)
            for e in missed:
                st.add_exit(e)
            if missed:      # each followed by a run, but the last one if down now
                st.restarts += max(0, len(missed) - (0 if up else 1))
        st.count, st.since, st.last = count, since, list(last)
        st.seeded = True
        st.was_up = st.was_up or up or bool(last) or info.state.reason is not None

    def event(self, ev: Event) -> None:
        """One event (the mirror has applied it already)."""
        self.events_total += 1
        t = type(ev)
        if t is ServiceState:
            self._on_state(ev)                  # type: ignore[arg-type]
            if ev.state == 'deleted':           # type: ignore[attr-defined]
                return
        elif t is ServiceWant:
            self._on_want(ev)                   # type: ignore[arg-type]
        elif t is Orphan:
            if ev.service:                      # type: ignore[attr-defined]
                self._dirty.add(ev.service)     # type: ignore[attr-defined]
            return
        elif t in (FdState, Signal):
            self._dirty.add('')                 # the daemon's counters
            return
        name = getattr(ev, 'name', None)
        if isinstance(name, str):
            self._dirty.add(name)

    def _on_state(self, ev: ServiceState) -> None:
        name = ev.name
        if ev.state == 'deleted':
            with self.lock:
                self.stats.pop(name, None)
            self._deleted.add(name)
            self._dirty.discard(name)
            return
        self._deleted.discard(name)
        wall_ms = int(self.wall() * 1000)
        with self.lock:
            st = self.stats.get(name)
            if st is None:
                st = self.stats[name] = _Stats()
            if ev.state == 'up':
                if st.was_up:
                    st.restarts += 1
                st.was_up = True
                if st.since is None:
                    st.since = ev.ts            # daemonproxy counts from the first run
                st.history.append((wall_ms, 'up', ev.pid))
            elif ev.state == 'down' and ev.reason is not None:
                e = (ev.ts or 0, ev.reason, str(ev.value), ev.uptime or 0)
                st.count += 1
                st.last = [e] + st.last[:EXITS_KEPT - 1]
                st.add_exit(e)
                st.history.append((wall_ms, 'down', [e[1], e[2], e[3]]))
            elif ev.state == 'start':
                st.history.append((wall_ms, 'start', ev.ts))
            self._prune(st, wall_ms)

    def _on_want(self, ev: ServiceWant) -> None:
        with self.lock:
            st = self.stats.get(ev.name)
            if st is None:
                return
            if ev.want == 'up':
                st.count, st.since = 0, ev.ts   # an operator's start: a new count
            st.history.append((int(self.wall() * 1000), 'want', ev.want))

    @staticmethod
    def _prune(st: _Stats, wall_ms: int) -> None:
        h = st.history
        limit = wall_ms - HISTORY_AGE * 1000
        while h and h[0][0] < limit:
            h.popleft()

    def refresh(self) -> None:
        """Events were not seen (the library's queue was full): the next
        flush rebuilds every row from the mirror, as after a resync."""
        self._full = self._mirror is not None

    def note_command(self, n: int = 1) -> None:
        self.commands_total += n

    def set_connected(self, on: bool, daemon_pid: Optional[int] = None) -> None:
        with self.lock:
            if on and not self.connected and self.synced_once:
                self.reconnects_total += 1
            self.connected = on
            if on:
                self.daemon['pid'] = daemon_pid
        self._dirty.add('')

    @property
    def pending(self) -> bool:
        return bool(self._dirty or self._deleted or self._full)

    def flush(self) -> None:
        """Turn what changed since the last flush into rows, metric lines
        and one batch for the listeners."""
        m = self._mirror
        if not self.pending:
            return
        full = self._full
        if m is None:
            names: List[str] = []
        elif full:
            names = list(m.services)
        else:
            names = [n for n in self._dirty if n]
        now = int(self.clock())
        changed: List[Dict[str, Any]] = []
        with self.lock:
            if full:
                self.rows = {}
                self.frags = {}
            for name in self._deleted:
                self.rows.pop(name, None)
                self.frags.pop(name, None)
            for name in names:
                info = m.services.get(name) if m is not None else None
                if info is None:
                    if self.rows.pop(name, None) is not None:
                        self._deleted.add(name)
                    self.frags.pop(name, None)
                    continue
                st = self.stats.get(name)
                if st is None:
                    st = self.stats[name] = _Stats()
                row = service_row(info, st, now)
                self.rows[name] = row
                self.frags[name] = service_frags(row, st)
                changed.append(row)
            if m is not None:
                self.daemon.update(services=len(m.services), handles=len(m.handles),
                                   controllers=sum(1 for i in m.services.values()
                                                   if i.running and _is_controller(i)))
            deleted = sorted(self._deleted)
            self._dirty.clear()
            self._deleted.clear()
            self._full = False
            if self._resynced:
                self._resynced = False
                self.resyncs_total += 1
            self.generation += 1
            self.seq += 1
            seq = self.seq
        for fn in self.listeners:
            fn('snapshot' if full else 'changes', seq, changed, deleted)

    # --- read by the HTTP threads ----------------------------------------------

    def snapshot_rows(self) -> Tuple[int, List[Dict[str, Any]]]:
        with self.lock:
            return self.seq, [self.rows[k] for k in sorted(self.rows)]

    def row(self, name: str) -> Optional[Dict[str, Any]]:
        with self.lock:
            return self.rows.get(name)

    def history(self, name: str) -> Optional[List[Tuple[int, str, Any]]]:
        with self.lock:
            st = self.stats.get(name)
            if st is None or name not in self.rows:
                return None
            self._prune(st, int(self.wall() * 1000))
            return list(st.history)

    def metrics(self, extra: bytes = b'') -> bytes:
        """The whole /metrics text, UTF-8 (see metrics_parts)."""
        return b''.join(self.metrics_parts(extra))

    def metrics_parts(self, extra: bytes = b'') -> List[bytes]:
        """The /metrics text in parts, UTF-8, to be sent one after the other
        (one more copy of megabytes costs its pages, about 10 us each on a
        virtual machine).  A service's lines are made (and encoded) when it
        changes; they are joined once per generation (the model changes only
        at a flush); only the uptimes are made anew."""
        now = int(self.clock())
        with self.lock:
            c = self._mcache
            if c is None or c[0] != self.generation:
                frags = [self.frags[k] for k in sorted(self.frags)]
                fams = [b''.join([f[i] for f in frags]) for i in range(len(SERVICE_FAMILIES))]
                ups = [(f[_UPTIME], f[-1]) for f in frags]
                c = self._mcache = (self.generation, fams, ups)
            d = self.daemon_info_locked()
        fams, ups = c[1], c[2]
        out = []
        for i, (fam, (kind, text)) in enumerate(SERVICE_FAMILIES.items()):
            out.append(header(fam, kind, text).encode())
            if i == _UPTIME:
                out.append(b''.join([b'%s %d\n' % (lab, now - ts if ts >= 0 else 0)
                                     for lab, ts in ups]))
            else:
                out.append(fams[i])
        tail = []
        for fam, kind, text, value in (
                ('daemonproxy_up', 'gauge', '1 while dpweb is connected to daemonproxy and '
                 'its picture is complete, else 0.', d['connected'] and self.synced_once),
                ('daemonproxy_services', 'gauge', 'Services daemonproxy has.', d['services']),
                ('daemonproxy_handles', 'gauge', 'Handles (named fds) daemonproxy holds.',
                 d['handles']),
                ('daemonproxy_controllers', 'gauge', 'Controller services running (their fds '
                 'name control.event, control.cmd or control.socket); clients of the control '
                 'socket are not reported by daemonproxy.', d['controllers']),
                ('daemonproxy_events_total', 'counter', 'Events daemonproxy sent to dpweb '
                 '(it broadcasts every event to every controller; those lost in an overflow '
                 'are not counted).', d['events_total']),
                ('daemonproxy_web_commands_total', 'counter', 'Commands dpweb sent to '
                 'daemonproxy.', d['commands_total']),
                ('daemonproxy_web_resyncs_total', 'counter', 'Complete statedumps dpweb '
                 'rebuilt its picture from.', d['resyncs_total']),
                ('daemonproxy_web_reconnects_total', 'counter', 'Connections to '
                 'daemonproxy dpweb made again after losing one.', d['reconnects_total'])):
            tail.append(header(fam, kind, text))
            tail.append(sample(fam, '', value))
        out.append(''.join(tail).encode())
        out.append(extra)
        return out

    def daemon_info(self) -> Dict[str, Any]:
        with self.lock:
            return self.daemon_info_locked()

    def daemon_info_locked(self) -> Dict[str, Any]:
        d = dict(self.daemon)
        d.update(connected=self.connected, events_total=self.events_total,
                 commands_total=self.commands_total, resyncs_total=self.resyncs_total,
                 reconnects_total=self.reconnects_total)
        return d


def _is_controller(info: ServiceInfo) -> bool:
    return any(f in ('control.event', 'control.cmd', 'control.socket') for f in info.fds)


def _has_channel(info: ServiceInfo) -> bool:
    return 'notify' in info.opts or 'notify.fd' in info.fds


def service_row(info: ServiceInfo, st: _Stats, now: int) -> Dict[str, Any]:
    """The fields of ``dpctl status --json`` for one service (cli/show.c
    json_one), as of the monotonic second now, plus ``restarts``.
    ``uptime``, ``downtime`` and ``since`` change with time: :func:`live`
    recomputes them when the row is served."""
    s = info.state
    up = s.state == 'up'
    reason, value = s.reason, s.value
    if reason is None and st.last:
        reason, value = st.last[0][1], st.last[0][2]
    channel = _has_channel(info)
    row: Dict[str, Any] = {
        'name': _clean(info.name),
        'state': s.state,
        'pid': s.pid if up else None,
        'ts': s.ts,
        'since': None,
        'uptime': s.uptime,
        'downtime': s.downtime,
        'reason': reason,
        'value': None if value is None else str(value),
        'ready': None if not up or not channel else info.readiness == 'READY=1',
        'status': _clean(info.status),
        'mainpid': info.mainpid,
        'auto_up': ({'interval': info.interval, 'triggers': list(info.triggers)}
                    if info.triggers else None),
        'args': _clean_list(info.args),
        'fds': list(info.fds),
        'tags': _clean_list(info.tags),
        'env': _clean_list(info.env),
        'opts': list(info.opts),
        'want': (None if info.want is None else
                 {'want': info.want, 'by': info.want_by, 'ts': info.want_since,
                  'why': _clean_list(info.want_why.split('\t')) if info.want_why else []}),
        'exits': (None if not st.last else
                  {'count': st.count, 'ts': st.since,
                   'last': [{'ts': e[0], 'reason': e[1], 'value': e[2], 'uptime': e[3]}
                            for e in st.last]}),
        'restarts': st.restarts,
        # for the metrics: ready in dpctl's table's sense (up, and READY=1
        # when it has a channel); not a dpctl field, dropped by live()
        '_ready': up and (not channel or info.readiness == 'READY=1'),
    }
    return row


def live(row: Dict[str, Any], now: int, wall: Optional[float] = None) -> Dict[str, Any]:
    """row as of the monotonic second now (wall: the wall clock then, for
    ``since``): uptime of a running service and downtime of a stopped one
    counted to now, as a statedump does."""
    out = {k: v for k, v in row.items() if k[0] != '_'}
    ts = row['ts']
    if ts is not None:
        if row['state'] == 'up':
            out['uptime'] = max(0, now - ts)
        elif row['state'] == 'down':
            out['downtime'] = max(0, now - ts)
        if wall is not None:
            out['since'] = round(wall - (now - ts), 3)
    return out


_UPTIME = list(SERVICE_FAMILIES).index('daemonproxy_service_uptime_seconds')


def _encode(text: str) -> bytes:
    return text.encode('utf-8', 'replace')


def service_frags(row: Dict[str, Any], st: _Stats) -> Tuple[Any, ...]:
    """The metric lines of one service, UTF-8: one text per
    SERVICE_FAMILIES entry, but for the uptime, which changes every
    second: there the start of its line, and last the monotonic second
    the run began (-1: not up)."""
    lab = labels((('service', row['name']),))
    want = row['want']['want'] if row['want'] else None
    svc = row['name']
    out: List[Any] = []
    for fam in SERVICE_FAMILIES:
        if fam == 'daemonproxy_service_up':
            out.append(sample(fam, lab, row['state'] == 'up'))
        elif fam == 'daemonproxy_service_ready':
            out.append(sample(fam, lab, row['_ready']))
        elif fam == 'daemonproxy_service_uptime_seconds':
            out.append(fam + lab)
        elif fam == 'daemonproxy_service_desired_state':
            out.append(''.join(sample(fam, labels((('service', svc), ('state', w))), want == w)
                               for w in ('up', 'down', 'failed')))
        elif fam == 'daemonproxy_service_failed':
            out.append(sample(fam, lab, want == 'failed'))
        elif fam == 'daemonproxy_service_restarts_total':
            out.append(sample(fam, lab, st.restarts))
        elif fam == 'daemonproxy_service_exits_total':
            out.append(''.join(
                sample(fam, labels((('service', svc), ('reason', r), ('value', v))), n)
                for (r, v), n in sorted(st.by_reason.items())))
    up = row['state'] == 'up' and row['ts'] is not None
    return tuple(_encode(x) for x in out) + (row['ts'] if up else -1,)
