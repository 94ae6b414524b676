#!/usr/bin/env python3
"""Benchmarks of the Python library (python/daemonproxy).

    bench/pylib_bench.py [DAEMONPROXY]

Prints "key value" lines, like bench/dpbench:

  parse_lines_per_s    parse_event() over a realistic mix of event lines
                       (target: >= 300000)
  session_lines_per_s  the same lines fed as bytes through a Session with a
                       mirror: framing, decoding, parsing, mirror updates
  mirror_10k_s         seconds to mirror a statedump of 10,000 services and
                       10,000 handles: its bytes fed to a Session whose
                       resync request they answer, until the mirror is
                       rebuilt (target: <= 0.2)
  mirror_10k_lines     lines in that statedump
  mirror_10k_real      1 if the statedump was captured from DAEMONPROXY
                       (10k services and 10k handles defined through the
                       library), 0 if generated in the same form

Each figure is the median of several runs.
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'python'))

import daemonproxy  # noqa: E402
from daemonproxy import Mirror, Session, parse_event  # noqa: E402

REPS = 5
NSVC = NHANDLE = 10000


def event_mix(n):
    """n event lines in proportions a busy controller sees: state changes
    first, then definitions, handles, readiness, replies and the rest."""
    kinds = [
        (30, lambda i: 'service.state\tsvc%06d\tup\t%d\t%d\t-\t-\t0\t-' % (i, 5000 + i, 40000 + i)),
        (20, lambda i: 'service.state\tsvc%06d\tdown\t%d\t%d\texit\t%d\t%d\t0'
         % (i, 5000 + i, 40000 + i, i % 3, i % 50)),
        (8, lambda i: 'service.state\tsvc%06d\tstart\t%d\t-\t-\t-\t-\t-' % (i, 5001 + i)),
        (8, lambda i: 'service.args\tsvc%06d\tsleep\t%d' % (i, 1000 + i)),
        (4, lambda i: 'service.fds\tsvc%06d\tnull\tlog%d.w\tstderr' % (i, i % 7)),
        (3, lambda i: 'service.tags\tsvc%06d\tweb\ttier=%d' % (i, i % 3)),
        (3, lambda i: 'service.auto_up\tsvc%06d\t%d\talways' % (i, 1 + i % 5)),
        (8, lambda i: 'fd.state\th%06d\tfile\tread\t/var/lib/app/data%d' % (i, i)),
        (3, lambda i: 'fd.state\tp%06d.r\tpipe\tfrom\tp%06d.w' % (i, i)),
        (5, lambda i: 'service.notify\tsvc%06d\t%d\t%d\tREADY=1\tSTATUS=serving %d'
         % (i, 5000 + i, 40000 + i, i)),
        (2, lambda i: 'signal\tSIGHUP\t%d\t%d' % (5000 + i, 1 + i % 3)),
        (2, lambda i: 'orphan\t%d\t%d\texit\t0\tsvc%06d' % (5000 + i, 60000 + i, i)),
        (2, lambda i: 'error\tservice svc%06d: exec /usr/bin/x failed: No such file or directory'
         % i),
        (2, lambda i: 'service.env\tsvc%06d\tPORT=%d\t-DEBUG' % (i, 8000 + i % 100)),
    ]
    pattern = []
    for weight, fn in kinds:
        pattern += [fn] * weight
    return [pattern[i % len(pattern)](i) for i in range(n)]


def best_rate(fn, n):
    rates = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench_parse():
    lines = event_mix(200000)

    def run():
        for line in lines:
            parse_event(line)
    return best_rate(run, len(lines))


def bench_session():
    lines = event_mix(200000)
    data = ''.join(l + '\n' for l in lines).encode()
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]

    def run():
        s = Session(Mirror(), queue_events=False)
        for c in chunks:
            s.feed(c)
    return best_rate(run, len(lines))


def generated_dump():
    base = ['fd.state\tcontrol.cmd\tspecial\twrite\tdaemonproxy command pipe',
            'fd.state\tcontrol.event\tspecial\tread\tdaemonproxy event stream',
            'fd.state\tcontrol.socket\tspecial\tread,write\tdaemonproxy control socket']
    handles = ['fd.state\th%06d\tfile\tread\t/dev/null' % i for i in range(NHANDLE)]
    rest = ['fd.state\tnotify.fd\tspecial\twrite\treadiness notification pipe',
            'fd.state\tnull\tspecial\tread,write\t/dev/null',
            'fd.state\tstderr\tspecial\twrite\tpipe:[1]',
            'fd.state\tstdin\tspecial\tread,write\t/dev/null',
            'fd.state\tstdout\tspecial\tread,write\t/dev/null']
    out = base + handles + rest
    for i in range(NSVC):
        n = 'svc%06d' % i
        out += ['service.state\t%s\tdown\t-\t-\t-\t-\t-\t-' % n, 'service.tags\t%s\tt' % n,
                'service.args\t%s\tsleep\t1000' % n, 'service.fds\t%s\tnull\tnull\tnull' % n,
                'service.auto_up\t%s\t-' % n]
    return out


def captured_dump(binary):
    """Define 10k services and 10k handles in a real daemonproxy and read
    its statedump (the lines exactly as received)."""
    with daemonproxy.Client.spawn(binary, ['-q', '-q'], mirror=False, queue_events=False,
                                  timeout=120) as c:
        for i in range(NSVC):
            c.session.send(('service.args', 'svc%06d' % i, 'sleep', '1000'))
            c.session.send(('service.tags', 'svc%06d' % i, 't'))
        for i in range(NHANDLE):
            c.session.send(('fd.open', 'h%06d' % i, 'read', '/dev/null'))
        c.echo('loaded')
        lines = c.request('statedump', timeout=120)
    return lines


def bench_mirror(lines):
    data = ''.join(l + '\n' for l in lines).encode()
    times = []
    for _ in range(REPS):
        s = Session(Mirror())
        req = s.resync()
        marker = s.data_to_send().split(b'\n')[-2].split(b'\t')[1]
        payload = data + marker + b'\n'
        t0 = time.perf_counter()
        for i in range(0, len(payload), 65536):
            s.feed(payload[i:i + 65536])
        dt = time.perf_counter() - t0
        if not req.done or req.exception is not None:
            raise SystemExit('pylib_bench: the statedump did not complete: %r' % req)
        m = s.mirror
        if len(m.services) != NSVC or len(m.handles) < NHANDLE:
            raise SystemExit('pylib_bench: mirror has %d services, %d handles'
                             % (len(m.services), len(m.handles)))
        if m.dump_lines() != lines:
            raise SystemExit('pylib_bench: the mirror does not render the statedump back')
        times.append(dt)
    return statistics.median(times)


def main(argv):
    binary = argv[1] if len(argv) > 1 else None
    print('parse_lines_per_s %.0f' % bench_parse())
    print('session_lines_per_s %.0f' % bench_session())
    lines = captured_dump(binary) if binary else generated_dump()
    print('mirror_10k_s %.4f' % bench_mirror(lines))
    print('mirror_10k_lines %d' % len(lines))
    print('mirror_10k_real %d' % (1 if binary else 0))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
