"""The protocol state of one connection, without any I/O ("sans-I/O").

A :class:`Session` turns commands into bytes to send and received bytes
into events and replies.  The blocking client (client.py) and the asyncio
client (aio.py) only move bytes between a file descriptor and a Session;
everything else, and so every behaviour they share, lives here:

* **Requests.**  :meth:`Session.request` queues a command followed by
  ``echo→MARKER``.  Commands run in order, so the lines received before
  the marker belong to that command: its reply lines (echo replies,
  ``log.filter``, a statedump) and its ``error``/``warning``.  An error or
  warning is the command's own only if it quotes the command's excerpt
  (``..., for command "service.start→web"``, → a TAB) or is one of the fixed
  forms (``Unknown command: NAME``, ``line too long``); errors broadcast
  meanwhile (an auto-up start that failed, say) are events.  Events that
  arrive meanwhile go to the event queue and the mirror as usual.
* **Overflow.**  After ``overflow`` the replies of every request still
  waiting may have been discarded: each fails with ReplyLost, their
  markers are skipped if they still come, and (with ``auto_resync``) a
  statedump is requested to rebuild the mirror.
* **Statedump.**  The lines of a statedump are its reply; they rebuild the
  mirror (events interleaved with the dump apply to the new picture too,
  which keeps it exact) and are not queued as events.  A
  :class:`~daemonproxy.events.Resynced` event follows a completed rebuild.
* **Requests to a controller.**  The reply to our own ``ctl.request``
  (``ctl.request→ID→VERB``) is the command's reply; it opens a *call*, a
  Request of its own (``Request.call``) that the controller's
  ``ctl.reply→ID→…`` lines complete (``info`` ones are kept, the final
  ``ok`` or ``error`` ends it).  Those lines are the call's, not events.
* **Bounds.**  The session trusts nothing it receives to be short: a
  line longer than daemonproxy ever sends (EVENT_LINE_MAX bytes), or one
  with a control character, ends it with
  :class:`~daemonproxy.errors.ProtocolError` instead of growing a buffer.
"""

from __future__ import annotations

import collections
import os
import re
from typing import Callable, Deque, Dict, Iterable, List, Literal, Optional, Sequence, Tuple

from .errors import CommandError, ConnectionClosed, ControllerError, ProtocolError, ReplyLost
from .events import (
    DUMP_KINDS, CtlReply, CtlRequestId, Error, Event, EventsDropped, LogFilter, Overflow,
    RawEvent, Resynced, WarningEvent, parse_event, parse_fields,
)
from .mirror import Mirror
from .protocol import ENCODING, ERRORS, EVENT_LINE_MAX, Field, check_command, command_excerpt

__all__ = ['Session', 'Request', 'RequestKind', 'EventQueue', 'MAX_EVENTS', 'MAX_EVENT_BYTES']

#: What a Request waits for: ``'plain'`` (a command: replies are its error
#: and warnings), ``'dump'`` (a statedump: its lines are its reply),
#: ``'echo'`` (an echo: the echoed line is its reply), ``'final'`` (a
#: command after which the daemon may close the connection).  Plain
#: strings, so ``request.kind == 'dump'`` reads as before.
RequestKind = Literal['plain', 'dump', 'echo', 'final']

# daemonproxy replaces every control character of a field but TAB by '?'
_CONTROL_RE = re.compile('[\x00-\x08\x0b-\x1f]')
# UTF-8 takes at most 4 bytes per character
_LONG_CHARS = EVENT_LINE_MAX // 4
_TOO_LONG = 'a line of more than %d bytes' % EVENT_LINE_MAX
# `overflow` lines in a row that each get a resync at once
_OVERFLOW_BURST = 4
#: Unread events a Session queues at most, and the bytes of the lines they
#: came from (see EventsDropped): whichever is reached first.
MAX_EVENTS = 65536
MAX_EVENT_BYTES = 16 << 20
# What a made-up event (Resynced, EventsDropped) counts for.
_MADE_UP_BYTES = 64
# Reply lines kept for one command other than statedump: daemonproxy
# answers a command with one or two; more are counted, not kept.
_REPLY_LINES_MAX = 64
# A call's info replies kept: a controller sends a few (one per problem
# of a bad file, say); more are dropped, the final one always kept.
_CALL_INFO_MAX = 1024


def _encode(fields: Sequence[str]) -> bytes:
    return ('\t'.join(fields) + '\n').encode(ENCODING, ERRORS)


class Request:
    """One command sent with an echo marker behind it.

    ``done`` becomes True when its outcome is known; then ``reply`` holds
    its reply lines and ``exception`` is None, a CommandError, ReplyLost
    or ConnectionClosed.  ``events`` holds the parsed lines of a statedump
    (of a call: its CtlReply lines).  ``call``: for a ``ctl.request`` the
    daemon accepted, the Request its controller's replies complete.
    """

    __slots__ = ('fields', 'kind', 'marker', 'excerpt_suffixes', 'expect', 'reply', 'events',
                 'error', 'exception', 'done', 'lost', 'active', 'keep', 'call', '_callbacks')

    def __init__(self, fields: Sequence[str], kind: RequestKind, marker: Optional[str],
                 data: bytes) -> None:
        self.fields = tuple(fields)
        self.kind: RequestKind = kind
        self.marker = marker
        # The excerpt as daemonproxy quotes it (TABs kept), and as earlier
        # releases did (TABs as spaces).
        self.excerpt_suffixes = tuple({', for command "%s"' % command_excerpt(data, tabs)
                                       for tabs in (True, False)})
        self.expect = '\t'.join(self.fields[1:]) if kind == 'echo' else None
        self.reply: List[str] = []
        self.events: List[Event] = []
        self.error: Optional[Error] = None
        self.exception: Optional[BaseException] = None
        self.done = False
        self.lost = False
        self.active = False
        self.keep = True                # keep the reply (False: a resync only rebuilds)
        self.call: Optional[Request] = None
        self._callbacks: List[Callable[['Request'], None]] = []

    def add_done_callback(self, fn: Callable[['Request'], None]) -> None:
        """Call fn(request) once done (at once if it is already)."""
        if self.done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def result(self) -> List[str]:
        """The reply lines; raises the request's exception if it failed."""
        if self.exception is not None:
            raise self.exception
        return self.reply

    def _complete(self, exc: Optional[BaseException] = None) -> None:
        if self.done:
            return
        self.done = True
        self.exception = exc
        cbs, self._callbacks = self._callbacks, []
        for fn in cbs:
            fn(self)

    def __repr__(self) -> str:
        state = 'done' if self.done else 'lost' if self.lost else 'pending'
        return '<Request %s %s>' % (' '.join(self.fields)[:60], state)


class EventQueue(collections.deque):
    """The events a Session queued for the application, oldest first: a
    deque to consume with ``popleft()`` (or ``pop()``, ``clear()``) that
    also counts the bytes of the lines they came from (``nbytes``), so
    that the Session can bound it."""

    def __init__(self) -> None:
        super().__init__()
        self._sizes: Deque[int] = collections.deque()
        self.nbytes = 0

    def push(self, ev: Event, size: int) -> None:
        self.append(ev)
        self._sizes.append(size)
        self.nbytes += size

    def popleft(self) -> Event:
        ev = super().popleft()
        self.nbytes -= self._sizes.popleft()
        return ev

    def pop(self) -> Event:
        ev = super().pop()
        self.nbytes -= self._sizes.pop()
        return ev

    def clear(self) -> None:
        super().clear()
        self._sizes.clear()
        self.nbytes = 0


class Session:
    """Protocol state of one connection.

    ``mirror`` (a Mirror or None) is kept current; ``events`` is the queue
    of events not yet consumed (only filled with ``queue_events``), at
    most ``max_events`` long and ``max_event_bytes`` of the lines they came
    from: beyond that, events are counted instead and one
    :class:`~daemonproxy.events.EventsDropped` takes their place once there
    is room (the mirror still applies every one).  Feed received
    bytes to :meth:`feed` (and :meth:`feed_eof` at end of file); send what
    :meth:`data_to_send` returns.
    """

    def __init__(self, mirror: Optional[Mirror] = None, *, auto_resync: bool = True,
                 queue_events: bool = True, max_events: int = MAX_EVENTS,
                 max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.mirror = mirror
        self.auto_resync = auto_resync
        self.queue_events = queue_events
        self.max_events = max(1, max_events)
        self.max_event_bytes = max(_MADE_UP_BYTES, max_event_bytes)
        self.events = EventQueue()
        #: Events not queued since the last EventsDropped (queue full).
        self.dropped = 0
        self.closed = False
        #: The ProtocolError that ended the session, or None.
        self.failure: Optional[ProtocolError] = None
        self._partial = b''
        self._out: List[bytes] = []
        self._pending: Deque[Request] = collections.deque()
        self._by_marker: Dict[str, Request] = {}
        self._tag = '_dpy.%s.' % os.urandom(5).hex()
        self._seq = 0
        self._resync: Optional[Request] = None
        # our ctl.request calls the daemon accepted, by ID, until answered
        self._calls: Dict[int, Request] = {}
        # `overflow` lines in a row (nothing else between), and an
        # overflow's resync waiting for another line (see _overflow)
        self._overflows = 0
        self._resync_deferred = False

    # --- sending ------------------------------------------------------------

    def send(self, fields: Sequence[Field]) -> None:
        """Queue one command without a marker (no reply is waited for)."""
        self._out.append(_encode(check_command(fields)))

    def send_many(self, commands: Iterable[Sequence[Field]]) -> None:
        """Queue several commands without markers, all or none: each is
        checked first, and one that is invalid raises InvalidArgument with
        nothing queued."""
        self._out.extend([_encode(check_command(fields)) for fields in commands])

    def request(self, fields: Sequence[Field], kind: Optional[RequestKind] = None) -> Request:
        """Queue one command and its echo marker; returns its Request.

        kind: ``'dump'`` for statedump (detected from the name when not
        given), ``'echo'`` for echo, ``'final'`` for a command after which
        the daemon may close the connection (terminate: end of file then
        means success), else ``'plain'``.
        """
        checked = check_command(fields)
        data = _encode(checked)
        name = checked[0]
        if kind is None:
            kind = ('dump' if name == 'statedump' else
                    'echo' if name == 'echo' and len(checked) > 1 else 'plain')
        return self._push(Request(checked, kind, self._marker(), data), data)

    def request_final(self, fields: Sequence[Field]) -> Request:
        """Queue a command after which the daemon reads no more commands
        (``exit``): no marker; it is done at end of file."""
        checked = check_command(fields)
        data = _encode(checked)
        return self._push(Request(checked, 'final', None, data), data)

    def resync(self) -> Request:
        """Request a statedump that rebuilds the mirror (or return the one
        already on its way)."""
        r = self._resync
        if r is not None and not r.done and not r.lost:
            return r
        data = _encode(('statedump',))
        req = Request(('statedump',), 'dump', self._marker(), data)
        req.keep = False                # the mirror is the result
        self._resync = self._push(req, data)
        self._resync_deferred = False
        return req

    def data_to_send(self) -> bytes:
        """The bytes queued for sending (and forget them)."""
        if not self._out:
            return b''
        data = b''.join(self._out)
        self._out.clear()
        return data

    @property
    def wants_write(self) -> bool:
        return bool(self._out)

    def closed_error(self) -> ConnectionError:
        """What a call on the closed session raises: a ProtocolError like
        the one that ended it, else ConnectionClosed."""
        f = self.failure
        if f is not None:
            return ProtocolError(f.message, f.received)
        return ConnectionClosed('daemonproxy closed the connection')

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held (always below EVENT_LINE_MAX)."""
        return len(self._partial)

    @property
    def pending(self) -> int:
        """How many requests still wait for their marker."""
        return len(self._pending)

    # --- receiving ----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Process received bytes (any amount, lines may be split).

        What daemonproxy sends is bounded: no line is longer than
        EVENT_LINE_MAX bytes (newline included) and none has a control
        character other than TAB.  Anything else means the peer is not
        daemonproxy (or the stream is corrupt): the lines before it are
        processed, then the session closes, pending requests fail, and
        ProtocolError is raised, here and by every later call.  So at most
        EVENT_LINE_MAX - 1 bytes of a partial line are ever held, whatever
        the peer sends."""
        if not data:
            return
        if self.failure is not None:
            raise self.closed_error()
        buf = self._partial + data if self._partial else data
        end = buf.rfind(b'\n')
        if end < 0:
            if len(buf) >= EVENT_LINE_MAX:
                self._refuse(_TOO_LONG, buf)
            self._partial = buf
            return
        self._partial = buf[end + 1:]
        texts, bad = self._split_checked(buf[:end].decode(ENCODING, ERRORS))
        if bad is None and len(self._partial) >= EVENT_LINE_MAX:
            bad = (len(texts), _TOO_LONG, self._partial)
        n = len(texts) if bad is None else bad[0]
        i = 0
        pending = self._pending
        while i < n:
            if pending and pending[0].kind == 'dump' and not pending[0].lost:
                start = i
                i = self._dump_run(texts, i, n)
                if i > start:
                    self._overflows = 0         # dump lines came, not `overflow`
                if i >= n:
                    break
            self._line(texts[i])
            i += 1
        if bad is not None:
            self._refuse(bad[1], bad[2])

    @staticmethod
    def _split_checked(text: str) -> Tuple[List[str], Optional[Tuple[int, str, bytes]]]:
        """The lines of text (complete lines without the last newline), and
        the first one daemonproxy cannot have sent, as (index, what is
        wrong, its first bytes), or None."""
        texts = text.split('\n')
        bad = None
        m = _CONTROL_RE.search(text)
        if m is not None:
            index = text.count('\n', 0, m.start())
            bad = (index, 'a control character %r in a line' % m.group(), texts[index])
        # A line of EVENT_LINE_MAX bytes has at least a quarter as many
        # characters: only such lines need their bytes counted.
        if len(text) >= _LONG_CHARS and max(map(len, texts)) >= _LONG_CHARS:
            for index, t in enumerate(texts[:None if bad is None else bad[0]]):
                if len(t) >= _LONG_CHARS and len(t.encode(ENCODING, ERRORS)) >= EVENT_LINE_MAX:
                    bad = (index, _TOO_LONG, t)
                    break
        if bad is not None:
            bad = (bad[0], bad[1], bad[2][:40].encode(ENCODING, ERRORS))
        return texts, bad

    def _refuse(self, what: str, sample: bytes) -> None:
        """The peer sent what daemonproxy never does: give up the session."""
        exc = ProtocolError('received %s' % what, sample)
        self.failure = exc
        self._partial = b''
        self.closed = True
        self._fail_all(lambda r: exc, eof=False)
        raise exc

    def _dump_run(self, texts: List[str], i: int, n: int) -> int:
        """The fast path for the lines of a statedump (most of a resync):
        takes texts[i:n] while they are well-formed dump lines; returns the
        index of the first line that needs the general path (_line: a
        marker, an event of another kind, an echo reply, a malformed line)."""
        head = self._pending[0]
        mirror = self.mirror
        if mirror is not None and not head.keep:
            # a resync: the mirror is the result, no event objects needed
            apply_fields = mirror.apply_fields
            while i < n and apply_fields(texts[i].split('\t')):
                i += 1
            return i
        kinds = DUMP_KINDS
        keep = head.keep
        reply, events = head.reply, head.events
        while i < n:
            text = texts[i]
            f = text.split('\t')
            if f[0] not in kinds:
                return i
            ev = parse_fields(f, text)
            if ev is None:
                return i
            if keep:
                reply.append(text)
                events.append(ev)
            if mirror is not None:
                mirror.apply(ev)
            i += 1
        return i

    def feed_line(self, line: str) -> None:
        """Process one line given as text (without newline)."""
        self._line(line)

    def feed_eof(self) -> None:
        """The connection ended: pending requests fail (a ``final`` one
        succeeds), the mirror is no longer current."""
        if self.failure is not None:
            return
        if self._partial:
            part, self._partial = self._partial, b''
            (line,), bad = self._split_checked(part.decode(ENCODING, ERRORS))
            if bad is not None:
                self._refuse(bad[1], bad[2])
            self._line(line)
        self.closed = True
        self._fail_all(lambda r: ConnectionClosed('connection closed while waiting for %r'
                                                  % ' '.join(r.fields)[:60]))

    def reset(self) -> None:
        """Start over on a new connection (reconnect): pending requests fail
        with ConnectionClosed, the mirror needs a resync (a ProtocolError
        is forgotten: the new peer gets its own chance)."""
        self._partial = b''
        self.failure = None
        self._out.clear()
        self._fail_all(lambda r: ConnectionClosed('reconnected while waiting for %r'
                                                  % ' '.join(r.fields)[:60]))
        self.closed = False

    def _fail_all(self, exc: Callable[[Request], BaseException], eof: bool = True) -> None:
        pending = list(self._pending)
        self._pending.clear()
        self._by_marker.clear()
        calls = list(self._calls.values())
        self._calls.clear()
        for r in pending + calls:
            if eof and r.kind == 'final' and not r.lost:
                r._complete(self._command_error(r))
            else:
                r._complete(exc(r))
        if self.mirror is not None:
            self.mirror.abort_rebuild()
        self._resync = None
        self._overflows = 0
        self._resync_deferred = False

    # --- the line dispatcher ------------------------------------------------

    def _line(self, line: str) -> None:
        if self._overflows and line != 'overflow':
            self._overflows = 0
            if self._resync_deferred:
                self._resync_deferred = False
                self.resync()
        pending = self._pending
        if not pending:
            ev = parse_event(line)
            if type(ev) is Overflow:
                self._overflow(ev)
            else:
                self._deliver(ev, len(line) + 1)
            return
        head = pending[0]
        if line == head.marker:
            self._finish(head)
            return
        if line.startswith(self._tag):
            req = self._by_marker.get(line)
            if req is not None:         # earlier markers were discarded
                while pending[0] is not req:
                    self._drop_head()
                self._finish(req)
            return                      # else the marker of a forgotten request
        if head.expect is not None and line == head.expect and not head.reply:
            head.reply.append(line)
            return
        ev = parse_event(line)
        t = type(ev)
        if t is Overflow:
            self._overflow(ev)
            return
        if head.lost and ev.kind in DUMP_KINDS and \
                any(r.lost and r.kind == 'dump' for r in pending):
            return      # maybe the output of a dump whose reply was lost: not events
        if head.kind == 'dump' and ev.kind in DUMP_KINDS:
            if not head.lost:
                if head.keep:
                    head.reply.append(line)
                    head.events.append(ev)
                if self.mirror is not None:
                    self.mirror.apply(ev)
            return
        if t is Error or t is WarningEvent:
            if self._is_reply(ev, head):        # type: ignore[arg-type]
                if not head.lost:
                    if len(head.reply) < _REPLY_LINES_MAX:
                        head.reply.append(line)
                    if t is Error and head.error is None:
                        head.error = ev         # type: ignore[assignment]
                return
        elif (t is RawEvent or t is LogFilter) and head.kind != 'dump':
            if not head.lost and len(head.reply) < _REPLY_LINES_MAX:
                head.reply.append(line)
            return
        elif t is CtlRequestId and head.fields[0] == 'ctl.request' and head.call is None:
            head.reply.append(line)
            if not head.lost:
                self._open_call(head, ev)       # type: ignore[arg-type]
            return
        self._deliver(ev, len(line) + 1)

    # --- requests to a controller ---------------------------------------------

    def _open_call(self, req: Request, ev: CtlRequestId) -> None:
        """The daemon accepted our ctl.request as ID: its replies complete
        req.call from now on (they may come before our marker)."""
        call = Request(req.fields, 'plain', None, b'')
        req.call = call
        self._calls[ev.id] = call

    def _call_reply(self, ev: CtlReply) -> bool:
        """A ctl.reply: True if it answers one of our calls (then it is
        the call's, not an event)."""
        call = self._calls.get(ev.id)
        if call is None:
            return False
        if ev.final or len(call.events) < _CALL_INFO_MAX:
            call.events.append(ev)
            call.reply.append(ev.to_line())
        if ev.final:
            del self._calls[ev.id]
            call._complete(None if ev.status == 'ok' else ControllerError(
                call.fields, ev.text, ev.to_line(), call.events))
        return True

    def forget_call(self, call: Request) -> None:
        """Stop waiting for call's replies (its asker gave up: a timeout);
        those that still come are events."""
        for k, v in list(self._calls.items()):
            if v is call:
                del self._calls[k]

    @staticmethod
    def _is_reply(ev: Error, head: Request) -> bool:
        msg = ev.message
        if msg.endswith(head.excerpt_suffixes):
            return True
        return msg == 'line too long' or msg == 'Unknown command: ' + head.fields[0]

    def _deliver(self, ev: Event, size: int = _MADE_UP_BYTES) -> None:
        if type(ev) is CtlReply and self._calls \
                and self._call_reply(ev):       # type: ignore[arg-type]
            return
        if self.mirror is not None:
            self.mirror.apply(ev)
        if self.queue_events:
            self._enqueue(ev, size)

    def _enqueue(self, ev: Event, size: int = _MADE_UP_BYTES) -> None:
        """Queue ev (from a line of size bytes), or count it when the queue
        is full already."""
        q = self.events
        if len(q) >= self.max_events or q.nbytes + size > self.max_event_bytes:
            self.dropped += 1
            return
        if self.dropped:
            q.push(EventsDropped(self.dropped), _MADE_UP_BYTES)
            self.dropped = 0
        q.push(ev, size)

    def _marker(self) -> str:
        self._seq += 1
        return '%s%d' % (self._tag, self._seq)

    def _push(self, req: Request, data: bytes) -> Request:
        """Queue req and the bytes of its command (and marker)."""
        if self._pending and self._pending[-1].lost:
            # Requests whose replies were lost to an overflow wait for
            # markers that may never come: a bare marker first, so that
            # everything before it is known to be theirs.
            self._queue(Request(('echo',), 'plain', self._marker(), b''), b'')
        return self._queue(req, data)

    def _queue(self, req: Request, data: bytes) -> Request:
        if data:
            self._out.append(data)
        if req.marker is not None:
            self._out.append(b'echo\t' + req.marker.encode() + b'\n')
            self._by_marker[req.marker] = req
        self._pending.append(req)
        if len(self._pending) == 1:
            self._activate()
        return req

    def _activate(self) -> None:
        """The head request's output starts now (the previous one ended)."""
        if not self._pending:
            return
        head = self._pending[0]
        if not head.active:
            head.active = True
            if head.kind == 'dump' and not head.lost and self.mirror is not None:
                self.mirror.begin_rebuild()

    def _command_error(self, req: Request) -> Optional[CommandError]:
        if req.error is None:
            return None
        return CommandError(req.fields, req.error.text, 'error\t' + req.error.message)

    def _finish(self, req: Request) -> None:
        self._pending.popleft()
        if req.marker is not None:
            self._by_marker.pop(req.marker, None)
        if req.lost:
            pass                        # already failed
        elif req.kind == 'dump':
            if self.mirror is not None:
                self.mirror.end_rebuild()
                if self.queue_events:
                    self._enqueue(Resynced(self.mirror.generation))
            req._complete(None)
        else:
            req._complete(self._command_error(req))
        self._activate()

    def _drop_head(self) -> None:
        req = self._pending.popleft()
        if req.marker is not None:
            self._by_marker.pop(req.marker, None)
        req.lost = True
        req._complete(ReplyLost(req.fields))

    def _overflow(self, ev: Event) -> None:
        self._deliver(ev)
        calls = list(self._calls.values())
        self._calls.clear()                     # their replies may be lost too
        for r in list(self._pending) + calls:
            if not r.lost:
                r.lost = True
                r._complete(ReplyLost(r.fields))
        if self.mirror is not None:
            self.mirror.abort_rebuild()
            self.mirror.invalidate()
            if self.auto_resync and not self.closed:
                self._overflows += 1
                if self._overflows > _OVERFLOW_BURST:
                    # The daemon sends `overflow` again only after a drained
                    # buffer (lines between) or RESET seconds without
                    # progress: a flood of them is no daemon.  One more
                    # resync when another line comes, not one per line
                    # (each would wait for ever, sent to a peer that may
                    # not even read).
                    self._resync_deferred = True
                else:
                    self.resync()
