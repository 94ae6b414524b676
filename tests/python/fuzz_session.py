"""Fuzz target for the Python library's parser: Session.feed, parse_event
and the mirror, fed what a daemon (or whatever listens on the socket)
might send.  Standard library only; a random-mutation fuzzer, no coverage
guidance.

    python3 tests/python/fuzz_session.py [--seconds N | --iterations N]
        [--seed S] [--artifacts DIR] CORPUS_DIR...

Each input is a seed of the corpus (tests/fuzz/py-corpus: real daemon
output, and hostile lines) with random mutations: bytes flipped, inserted,
deleted, ranges repeated (lines up to and past EVENT_LINE_MAX), keywords and
control characters inserted, pieces of other seeds spliced in.  The
placeholders ``@M1@`` .. ``@M4@`` become the echo markers of the four
requests a session has queued (a statedump, ``service.start web``,
``echo hello world``, ``log.filter``), so that replies, markers and
overflows meet real requests.

The input goes to a fresh Session twice: once in one piece, once split
at random points.  Invariants (a broken one writes the input to the
artifacts directory and exits 1):

* feed() and feed_eof() raise nothing but ProtocolError, and raise it
  exactly when a line is EVENT_LINE_MAX bytes or longer (newline not
  counted: the limit counts it) or has a control character other than
  TAB; after it the session is closed, takes no more input, and every
  request has ended;
* never more than EVENT_LINE_MAX - 1 bytes of a partial line are held;
* how the bytes are split changes nothing: the same events, the same
  request outcomes and replies, the same mirror (also when refused: the
  lines before the bad one count, whatever the split);
* every request ends (replied, failed or lost) by the end of the input,
  the mirror renders its lines without error, and every event queued
  parses back from its to_line() to an equal event.

``make fuzz`` runs it for FUZZ_PY_TIME seconds; the unit tests replay the
corpus and a fixed-seed run of a few hundred inputs
(test_fuzz_session.py).
"""

import argparse
import hashlib
import os
import random
import sys
import time

import _path

from daemonproxy import Mirror, ProtocolError, Resynced, Session, parse_event
from daemonproxy.protocol import EVENT_LINE_MAX

_path.check()

PLACEHOLDERS = (b'@M1@', b'@M2@', b'@M3@', b'@M4@', b'@M5@')
REQUESTS = (('statedump',), ('service.start', 'web'), ('echo', 'hello', 'world'),
            ('log.filter',), ('ctl.request', 'reload'))
KEYWORDS = (b'service.state', b'service.args', b'service.fds', b'service.tags',
            b'service.env', b'service.opts', b'service.auto_up', b'service.notify',
            b'service.cgroup', b'fd.state', b'signal', b'orphan', b'overflow', b'error',
            b'warning', b'log.filter', b'deleted', b'up', b'down', b'start', b'pipe', b'-',
            b'READY=1', b'STATUS=', b'MAINPID=', b'SIGTERM', b'\t', b'\n', b', for command "',
            b'Unknown command: ', b'line too long', b'service.want', b'failed', b'uid=0',
            b'ctl.request', b'ctl.reply', b'ok', b'info', b'1') + PLACEHOLDERS
BAD_BYTES = bytes(b for b in range(32) if b not in (9, 10))


class Broken(Exception):
    """An invariant did not hold."""


# --- the oracle: what the daemon can have sent ------------------------------------

def daemon_could_send(data: bytes) -> bool:
    """True unless a line (the last one may lack its newline) is too long
    or has a control character: what a Session must refuse."""
    for line in data.split(b'\n'):
        if len(line) >= EVENT_LINE_MAX:
            return False
        if any(b in BAD_BYTES for b in line):
            return False
    return True


# --- one run --------------------------------------------------------------------------

def new_session():
    s = Session(Mirror())
    reqs = [s.request(f) for f in REQUESTS]
    s.data_to_send()
    return s, reqs


def substitute(data: bytes, reqs) -> bytes:
    for ph, r in zip(PLACEHOLDERS, reqs):
        data = data.replace(ph, r.marker.encode())
    return data


def run_session(data: bytes, cuts):
    """Feed data (placeholders substituted) in the pieces cuts makes;
    returns what the run observed, with the session's tag masked."""
    s, reqs = new_session()
    tag = reqs[0].marker.rsplit('.', 1)[0]
    data = substitute(data, reqs)
    failure = None
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    try:
        for p in pieces:
            s.feed(p)
            if s.buffered >= EVENT_LINE_MAX:
                raise Broken('%d bytes of a partial line held' % s.buffered)
        s.feed_eof()
    except ProtocolError as e:
        failure = e
    except Broken:
        raise
    except Exception as e:
        raise Broken('feed raised %r' % e) from e
    if failure is not None:
        if not s.closed or s.failure is not failure:
            raise Broken('a ProtocolError did not close the session')
        try:
            s.feed(b'more\n')
        except ProtocolError:
            pass
        else:
            raise Broken('a failed session took more input')
    for r in reqs:
        if not r.done:
            raise Broken('request %r never ended' % (r.fields,))
    try:
        dump = s.mirror.dump_lines()
    except Exception as e:
        raise Broken('mirror.dump_lines raised %r' % e) from e

    def mask(text):
        return text.replace(tag, '@TAG')
    for ev in s.events:
        if not isinstance(ev, Resynced) and parse_event(ev.to_line()) != ev:
            raise Broken('%r does not survive to_line() and parse_event()' % (ev,))
    events = [mask(repr(ev)) for ev in s.events]
    outcomes = [(type(r.exception).__name__, [mask(x) for x in r.reply]) for r in reqs]
    return ('ok' if failure is None else 'refused', events, outcomes,
            [mask(x) for x in dump], s.mirror.synced), data


def check(data: bytes, rng: random.Random) -> None:
    """Run data whole and split; raise Broken if an invariant fails."""
    whole, sent = run_session(data, [])
    n = len(data)
    cuts = sorted(set(rng.randrange(n + 1) for _ in range(rng.randint(1, 12)))) if n else []
    if rng.random() < 0.2 and n:
        cuts = list(range(1, n, rng.randint(1, 7)))        # dribbled in small pieces
    split, _ = run_session(data, cuts)
    if whole != split:
        raise Broken('the split at %s changed the outcome: %s' % (cuts[:20], difference(whole, split)))
    expect_ok = daemon_could_send(sent)
    if (whole[0] == 'ok') != expect_ok:
        raise Broken('outcome %s, but the input %s daemonproxy\'s'
                     % (whole[0], 'could be' if expect_ok else 'cannot be'))


def difference(a, b) -> str:
    """The first place where two outcomes differ, briefly."""
    names = ('outcome', 'events', 'requests', 'mirror', 'synced')
    for name, x, y in zip(names, a, b):
        if x == y:
            continue
        if isinstance(x, list) and isinstance(y, list):
            for i, (u, v) in enumerate(zip(x, y)):
                if u != v:
                    return '%s[%d]: %.300r != %.300r' % (name, i, u, v)
            return '%s: %d items != %d' % (name, len(x), len(y))
        return '%s: %.300r != %.300r' % (name, x, y)
    return 'outcome kinds %r != %r' % (a[0], b[0])


# --- mutations ------------------------------------------------------------------------

def mutate(data: bytes, seeds, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(10)
        pos = rng.randint(0, len(b))
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 2 and b:
            del b[pos:pos + rng.randint(1, 64)]
        elif op == 3 and b:
            # repeat a range: long lines, near the limit and past it
            start = rng.randrange(len(b))
            piece = bytes(b[start:start + rng.randint(1, 40)])
            target = rng.choice((EVENT_LINE_MAX - 2, EVENT_LINE_MAX - 1, EVENT_LINE_MAX,
                                 EVENT_LINE_MAX + 1, rng.randint(1, 3 * EVENT_LINE_MAX)))
            b[pos:pos] = (piece * (target // len(piece) + 1))[:target]
        elif op == 4:
            b[pos:pos] = rng.choice(KEYWORDS)
        elif op == 5:
            b[pos:pos] = bytes([rng.choice(BAD_BYTES)])
        elif op == 6:
            other = rng.choice(seeds)
            if other:
                start = rng.randrange(len(other))
                b[pos:pos] = other[start:start + rng.randint(1, 400)]
        elif op == 7:
            del b[pos:]
        elif op == 8:
            # an exact-length line: the limit's edges, newline included
            length = rng.choice((EVENT_LINE_MAX - 1, EVENT_LINE_MAX, EVENT_LINE_MAX + 1))
            b[pos:pos] = b'\n' + b'x' * (length - 1) + b'\n'
        else:
            b[pos:pos] = rng.choice((b'\t', b'\n', b'-', b'0', b'99999999999999999999', b'\xff',
                                     '\u00e9'.encode()))
    return bytes(b)


# --- driver ---------------------------------------------------------------------------

def load_corpus(dirs):
    seeds = []
    for d in dirs:
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                with open(path, 'rb') as f:
                    seeds.append(f.read())
    return seeds


def save(artifacts: str, data: bytes) -> str:
    os.makedirs(artifacts, exist_ok=True)
    path = os.path.join(artifacts, 'py-session-' + hashlib.sha1(data).hexdigest())
    with open(path, 'wb') as f:
        f.write(data)
    return path


def fuzz(seeds, seed: int, seconds: float = 0, iterations: int = 0, artifacts: str = '',
         out=sys.stdout) -> int:
    """Check every seed as it is, then mutations until the time or count
    is up.  Returns the number of inputs run; raises Broken (after saving
    the input when artifacts is set)."""
    rng = random.Random(seed)
    end = time.monotonic() + seconds if seconds else None
    n = 0
    inputs = iter(seeds)
    while True:
        data = next(inputs, None)
        if data is None:
            if (end is not None and time.monotonic() >= end) or \
                    (end is None and n >= len(seeds) + iterations):
                break
            data = mutate(rng.choice(seeds), seeds, rng)
        try:
            check(data, rng)
        except Broken as e:
            where = save(artifacts, data) if artifacts else 'not saved'
            raise Broken('%s\n(input of %d bytes: %s)' % (e, len(data), where)) from None
        n += 1
    out.write('fuzz_session: %d inputs, seed %d, invariants held\n' % (n, seed))
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seconds', type=float, default=0)
    ap.add_argument('--iterations', type=int, default=0)
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--artifacts', default='')
    ap.add_argument('corpus', nargs='+')
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), 'big')
    seeds = load_corpus(args.corpus)
    try:
        fuzz(seeds, seed, args.seconds, args.iterations, args.artifacts)
    except Broken as e:
        sys.stderr.write('fuzz_session: seed %d: %s\n' % (seed, e))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
