#!/usr/bin/env python3
"""make bench: run bench/dpbench for every figure, print one table and write
bench/out/results.json.

Every figure is measured several times and reported as median (min..max).
Ratios compare medians measured in this same run against a baseline measured
by the same instrument (a bare fork/exec loop, cat, a direct waitpid, pipe
and datagram relays), since only ratios carry across noisy machines.  A benchmark never
fails the build.
"""
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DPBENCH = os.environ.get('DPBENCH', os.path.join(ROOT, 'build', 'dpbench'))
DP = os.environ.get('DAEMONPROXY', os.path.join(ROOT, 'daemonproxy'))
DP_STATIC = os.path.join(ROOT, 'daemonproxy-static')
DPCTL = os.environ.get('DPCTL', os.path.join(ROOT, 'dpctl'))
DPCTL_STATIC = os.path.join(ROOT, 'dpctl-static')
# daemontools' svstat, the baseline of dpctl status (`make bench-deps`
# installs Debian's package daemontools); without it that baseline is '-'.
SVSTAT = os.environ.get('SVSTAT') or shutil.which('svstat')
DPLOG = os.environ.get('DPLOG', os.path.join(ROOT, 'dplog'))
QUICK = os.environ.get('BENCH_QUICK') == '1'
REPS = 3 if QUICK else 5


def run(*args):
    out = subprocess.run([DPBENCH] + [str(a) for a in args], check=True,
                         stdout=subprocess.PIPE, text=True, timeout=300).stdout
    vals = {}
    for line in out.splitlines():
        k, v = line.split()
        vals[k] = float(v)
    return vals


def run_py(script, *args, timeout=300):
    """The same "key value" protocol from a Python instrument in bench/."""
    out = subprocess.run([sys.executable, os.path.join(HERE, script)] + [str(a) for a in args],
                         check=True, stdout=subprocess.PIPE, text=True, timeout=timeout).stdout
    return {k: float(v) for k, v in (line.split() for line in out.splitlines())}


def samples(vals):
    """{"key": [v0, v1, ...]} from the "key.N value" lines of an instrument
    that repeats a measurement itself."""
    out = {}
    for k, v in vals.items():       # in the order printed
        out.setdefault(k.rsplit('.', 1)[0], []).append(v)
    return out


def rep(key, *args, reps=REPS):
    return [run(*args)[key] for _ in range(reps)]


def summary(vals):
    return {'median': statistics.median(vals), 'min': min(vals), 'max': max(vals), 'n': len(vals)}


rows = []
results = {}


def fmt(v, unit):
    if unit == 's':
        return '%.3f s' % v
    if unit == 'ms':
        return '%.1f ms' % (v * 1e3)
    if unit == 'us':
        return '%.1f us' % v
    if unit == 'l/s':
        return '%.2fM/s' % (v / 1e6)
    if unit == 'kB':
        return '%d kB' % v
    if unit == 'B':
        return '%d B' % v
    return '%g' % v


def figure(name, vals, unit, base=None, target=None, higher_is_better=False):
    s = summary(vals)
    results[name] = {'unit': unit, **s}
    ratio = None
    if base is not None:
        b = statistics.median(base)
        ratio = s['median'] / b
        results[name]['baseline_median'] = b
        results[name]['ratio'] = ratio
    met = None
    if target is not None:
        kind, lim = target
        v = ratio if kind == 'ratio' else s['median']
        met = None if v is None else v >= lim if higher_is_better else v <= lim
        results[name]['target'] = '%s %s %g' % (kind, '>=' if higher_is_better else '<=', lim)
        results[name]['met'] = met
    spread = '%s (%s..%s)' % (fmt(s['median'], unit), fmt(s['min'], unit), fmt(s['max'], unit))
    rows.append((name, spread,
                 fmt(statistics.median(base), unit) if base is not None else '-',
                 '%.2f' % ratio if ratio is not None else '-',
                 results[name].get('target', '-'),
                 '-' if met is None else ('yes' if met else 'NO')))
    sys.stderr.write('  %s: %s\n' % (name, spread))


def reexec_figures():
    """Live re-exec: from writing `reexec` to the answer of an echo sent on
    reading the new process's `reexec` event (an echo sent with `reexec`
    would be answered by the old process, during the check).  REPS
    re-execs of one daemon (1k of its services running: starting all 10k
    would dominate the run); baselines: the same instrument against an
    empty daemon, and a statedump of the same daemon before each re-exec."""
    big = samples(run('reexec', DP, 10000, 1000, 10000, REPS))
    empty = samples(run('reexec', DP, 0, 0, 0, REPS))
    floor = samples(run('execfloor', 10000, REPS))
    figure('re-exec -> echo answered, 10k services (1k up) + 10k handles', big['echo_s'], 'ms',
           empty['echo_s'], ('value', 0.050))
    figure('  same, until the reexec event', big['event_s'], 'ms', empty['event_s'])
    figure('  same, vs a statedump of that daemon', big['echo_s'], 'ms', big['dump_s'])
    # What the kernel alone charges for the same hand-over (a check child,
    # 10k fcntl, execve, close_range, one poll): the rest is daemonproxy's
    # own work on the state.
    figure('  same, vs the kernel floor for 10k fds', big['echo_s'], 'ms', floor['floor_s'])


def status_figures():
    """dpctl status, the whole process (connect, statedump, table, exit),
    with N services running, against daemontools' svstat reading the
    status of N services (bench/dpbench.c statusrun); both builds of
    dpctl, taking turns with svstat."""
    dpctls = [(b, w) for b, w in ((DPCTL_STATIC, 'static'), (DPCTL, 'glibc'))
              if os.path.exists(b)]
    if not SVSTAT:
        sys.stderr.write('  (no svstat: `make bench-deps` installs daemontools for the '
                         'dpctl status baseline)\n')
    for n, k in ((1000, 7), (10000, 3 if QUICK else 5)):
        r = run('statusrun', DP, n, k, SVSTAT or '-', *[b for b, _ in dpctls])
        base = [r['svstat_seconds']] if SVSTAT else None
        for i, (_, which) in enumerate(dpctls):
            figure('dpctl status, %dk running (%s) vs svstat' % (n // 1000, which),
                   [r['dpctl%d_seconds' % i]], 'ms', base, ('ratio', 0.2))


def dplog_figures():
    """dplog against runit's svlogd and s6's s6-log on the same 1M lines
    (200k with BENCH_QUICK) of 100 bytes, rotating at 1 MB, timestamps on (bench/dplog_bench.py; its
    own medians of 3 runs, the tools taking turns); a baseline whose tool
    is not installed is '-' (`make bench-deps`).  Returns the comparison
    table's lines, printed after the main table."""
    if not os.path.exists(DPLOG):
        sys.stderr.write('  (no %s: dplog figures skipped)\n' % DPLOG)
        return []
    lines = 200000 if QUICK else 1000000
    os.environ['DPLOG_BENCH_LINES'] = str(lines)
    # svlogd takes 5 s for 1M lines alone, 13 s on a loaded box: 18 runs
    s = samples(run_py('dplog_bench.py', DPLOG, DP, timeout=900))
    n = '1M' if lines == 1000000 else '%dk' % (lines // 1000)
    for fmt, what in (('human', 'RFC 3339'), ('tai64n', 'TAI64N')):
        d = 'dplog_%s_' % fmt
        for tool, name in (('svlogd', 'svlogd'), ('s6log', 's6-log')):
            b = '%s_%s_' % (tool, fmt)
            figure('dplog, %s lines, %s, rotating at 1 MB: lines/s vs %s' % (n, what, name),
                   s[d + 'lines_per_s'], 'l/s', s.get(b + 'lines_per_s'), ('ratio', 1.0), True)
            figure('  same, CPU per 1M lines vs %s' % name, s[d + 'cpu_s_per_M'], 's',
                   s.get(b + 'cpu_s_per_M'), ('ratio', 1.0))
            figure('  same, peak RSS vs %s' % name, s[d + 'maxrss_kb'], 'kB',
                   s.get(b + 'maxrss_kb'), ('ratio', 1.0))
    size = s.get('dplog_stripped_size_bytes', s['dplog_size_bytes'])
    for tool, name in (('svlogd', 'svlogd'), ('s6log', 's6-log')):
        figure('dplog binary size (glibc, stripped) vs %s' % name, size, 'B',
               s.get(tool + '_size_bytes'))
    if 'dplogs_size_bytes' in s:
        figure('  dplog-static (musl) size', s['dplogs_size_bytes'], 'B')
    if 'dplogs_human_maxrss_kb' in s:
        for tool, name in (('svlogd', 'svlogd'), ('s6log', 's6-log')):
            figure('dplog-static, peak RSS vs %s' % name, s['dplogs_human_maxrss_kb'], 'kB',
                   s.get(tool + '_human_maxrss_kb'), ('ratio', 1.0))
    # No work per line in daemonproxy: the pipe goes from the service to
    # the logger.  Its CPU while the lines pass (dd writing one line per
    # write into a pipe it holds, a dplog service reading), against the
    # same for 1,000 lines, and against the two services' own CPU.
    figure('daemonproxy CPU while %s lines pass service -> pipe -> dplog' % n, s['dp_cpu_all_s'],
           'ms', s['dp_cpu_1k_s'])
    figure('  same, vs the CPU of the service and dplog', s['dp_cpu_all_s'], 'ms',
           s['dp_services_cpu_all_s'])
    sys.path.insert(0, HERE)
    import dplog_bench
    return ['dplog vs svlogd vs s6-log, %s lines of 100 bytes piped in, rotating at 1 MB '
            '(medians of 3; ratios: theirs / dplog\'s):' % n] + dplog_bench.table(s)


def elf_separate_code(path):
    """Whether no loadable segment of the ELF file at path is executable
    besides the code's own: the ELF header and the read-only data not
    mapped executable, as ld's -z separate-code lays them out."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF' or data[4] != 2:
        return False
    phoff, = struct.unpack_from('<Q', data, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
    execs = []
    for i in range(phnum):
        p_type, p_flags, p_offset = struct.unpack_from('<IIQ', data, phoff + i * phentsize)
        if p_type == 1 and p_flags & 1:     # PT_LOAD, PF_X
            execs.append(p_offset)
    return len(execs) == 1 and execs[0] != 0


def main():
    t0 = time.monotonic()
    n = 2000
    sys.stderr.write('running benchmarks (%d repetitions)...\n' % REPS)
    base_spawn = rep('seconds', 'forkexec', n, '/bin/true')
    dp_spawn = rep('seconds', 'spawn', DP, n, '/bin/true', 0, 0)
    figure('spawn+reap 2000 /bin/true', dp_spawn, 's', base_spawn, ('ratio', 1.10))
    big = rep('seconds', 'spawn', DP, n, '/bin/true', 20000, 5000)
    figure('  same, 20k services + 5k handles held', big, 's', dp_spawn, ('ratio', 1.05))
    if os.geteuid() == 0:
        # Every execution attribute at once (as root: the ids change), taking
        # turns with the same spawns without: a drift hits both.
        attrs = ('user=nobody', 'umask=022', 'nice=1', 'limit-nofile=1024',
                 'limit-core=0', 'no-new-privs', 'cwd=/', 'caps=cap_net_bind_service')
        plain, withattr = [], []
        for _ in range(REPS):
            plain.append(run('spawn', DP, n, '/bin/true', 0, 0)['seconds'])
            withattr.append(run('spawn', DP, n, '/bin/true', 0, 0, *attrs)['seconds'])
        figure('  same, with every execution attribute', withattr, 's', plain, ('ratio', 1.05))

    lines = 200000 if QUICK else 1000000
    cat, dpt, dps = [], [], []
    for _ in range(REPS):           # taking turns: a drift of the machine hits all
        cat.append(run('tput', 'cat', '--', lines)['lines_per_sec'])
        dpt.append(run('tput', DP, '-i', '-q', '-q', '--', lines)['lines_per_sec'])
        if os.path.exists(DP_STATIC):
            dps.append(run('tput', DP_STATIC, '-i', '-q', '-q', '--', lines)['lines_per_sec'])
    figure('pipelined echo, %d lines' % lines, dpt, 'l/s', cat, ('ratio', 0.40), True)
    if dps:
        figure('  same, static musl build', dps, 'l/s', cat, ('ratio', 0.9), True)

    rtt_n = 5000 if QUICK else 20000
    cat_rtt = [run('rtt', 'cat', '--', rtt_n) for _ in range(REPS)]
    dp_rtt = [run('rtt', DP, '-i', '-q', '-q', '--', rtt_n) for _ in range(REPS)]
    figure('echo round trip p50 (pinned)', [r['rtt_p50_us'] for r in dp_rtt], 'us',
           [r['rtt_p50_us'] for r in cat_rtt], ('ratio', 1.2))
    figure('echo round trip p99 (pinned)', [r['rtt_p99_us'] for r in dp_rtt], 'us',
           [r['rtt_p99_us'] for r in cat_rtt])
    # A request to the controller and its reply (ctl.request -> ctl.reply,
    # through the daemon both ways), from one Python client holding the
    # asker's and the server's sockets: against an echo round trip on the
    # same socket, the same way.
    rq = [run_py('request_bench.py', DP, 300 if QUICK else 1000) for _ in range(3)]
    figure('request round trip p50 (python, ctl.request -> reply)',
           [r['request_rtt_p50_us'] for r in rq], 'us', [r['echo_rtt_p50_us'] for r in rq])
    # A controller's echo while 1000 services "true" crash-loop (auto-up
    # always, 1 s): echos spaced 5-15 ms over a few restart periods, not
    # pinned (the services would inherit the CPU).  Baseline: the same
    # instrument against the same daemon with no services.
    storm_n = 100 if QUICK else 200
    idle = [run('stormrtt', DP, 0, storm_n, '--', '-i', '-q', '-q') for _ in range(3)]
    storm = [run('stormrtt', DP, 1000, storm_n, '--', '-i', '-q', '-q') for _ in range(3)]
    figure('echo round trip p50, 1000 services crash-looping',
           [r['storm_rtt_p50_us'] for r in storm], 'us', [r['storm_rtt_p50_us'] for r in idle])
    figure('echo round trip p99, 1000 services crash-looping',
           [r['storm_rtt_p99_us'] for r in storm], 'us', [r['storm_rtt_p99_us'] for r in idle])
    overflows = [int(r['storm_overflows']) for r in storm]
    results['echo round trip p50, 1000 services crash-looping']['overflows'] = overflows
    if any(overflows):
        sys.stderr.write('  (overflows while measuring the storm: %s)\n' % overflows)

    lat_n = 300 if QUICK else 1000
    # baseline and measurement take turns, so a drift of the machine hits both
    wl, dl = [], []
    for _ in range(REPS):
        wl.append(run('waitlat', lat_n))
        dl.append(run('exitlat', DP, lat_n))
    figure('child exit -> down event p50', [r['exit_p50_us'] for r in dl], 'us',
           [r['exit_p50_us'] for r in wl], ('ratio', 1.1))
    figure('child exit -> down event p99', [r['exit_p99_us'] for r in dl], 'us',
           [r['exit_p99_us'] for r in wl])

    # Readiness: a service's sd_notify datagram (stamped just before its
    # send) -> daemonproxy -> the controller reading the service.notify
    # line.  Baselines: the same two hops over bare pipes (A -> B -> A),
    # and over the same kind of socket to a minimal relay (epoll, recvmsg,
    # write): the least any sd_notify relay costs.  All pinned to CPU 0,
    # one message in flight; the three take turns, so a drift of the
    # machine hits all of them.
    notify_n = 500 if QUICK else 2000
    pl, rl, nl = [], [], []
    for _ in range(REPS):
        pl.append(run('pipelat', notify_n))
        rl.append(run('relaylat', notify_n))
        nl.append(run('notifylat', DP, notify_n))
    figure('notification latency p50 (pinned)', [r['notify_p50_us'] for r in nl], 'us',
           [r['notify_p50_us'] for r in pl], ('ratio', 1.2))
    figure('notification latency p99 (pinned)', [r['notify_p99_us'] for r in nl], 'us',
           [r['notify_p99_us'] for r in pl])
    figure('  same p50, vs a minimal datagram relay', [r['notify_p50_us'] for r in nl], 'us',
           [r['notify_p50_us'] for r in rl])

    dump = rep('seconds', 'dump', DP, 10000, 10000, reps=3)
    figure('statedump 10k services + 10k handles', dump, 'ms', None, ('value', 0.050))
    reexec_figures()
    dplog_table = dplog_figures()

    # dpctl status: connect, statedump, parse, sort, print the table (or
    # JSON), exit; against a bare socket client reading the same statedump.
    ctl = [run('dpctl', DP, DPCTL, 10000, 10000) for _ in range(3)]
    figure('dpctl status, 10k services + 10k handles', [r['status_seconds'] for r in ctl], 'ms',
           [r['dump_seconds'] for r in ctl], ('value', 0.100))
    figure('  dpctl status --json, same', [r['json_seconds'] for r in ctl], 'ms',
           [r['dump_seconds'] for r in ctl], ('value', 0.100))
    status_figures()

    # The Python library: parsing a realistic mix of event lines, and
    # mirroring a real statedump of 10k services + 10k handles.
    py = [run_py('pylib_bench.py', DP) for _ in range(3)]
    figure('python: event lines parsed', [r['parse_lines_per_s'] for r in py], 'l/s', None,
           ('value', 300000), True)
    figure('python: mirror a 10k+10k statedump', [r['mirror_10k_s'] for r in py], 's', None,
           ('value', 0.2))

    # dpweb at 10k services (1k running): a scrape of /metrics with the
    # picture unchanged and just after a change, /api/services, against
    # dpctl status --json of the same daemon (each the median of 7 inside).
    web = [run_py('web_bench.py', DP, DPCTL) for _ in range(3)]
    figure('dpweb /metrics, 10k services vs dpctl status --json',
           [r['metrics_s'] for r in web], 'ms', [r['dpctl_json_s'] for r in web],
           ('value', 0.100))
    figure('  same, just after a change', [r['metrics_cold_s'] for r in web], 'ms',
           [r['dpctl_json_s'] for r in web], ('value', 0.100))
    figure('  dpweb /api/services, same', [r['api_s'] for r in web], 'ms',
           [r['dpctl_json_s'] for r in web])
    figure('  dpweb RSS then', [r['dpweb_rss_kb'] for r in web], 'kB')

    # dpweb's page in headless Chromium (none without chromium): from the
    # navigation to the 10k services' table laid out, against the same
    # rows fetched from /api/services by Python (server and transfer, no
    # browser); then 1,000 services crash-looping: the events per second
    # daemonproxy sends and the page applies (lag: messages a second SSE
    # client had that the page had not; 0 or 1 is keeping up).
    page = [run_py('page_bench.py', DP, timeout=600) for _ in range(1 if QUICK else 2)]
    page = [p for p in page if p]
    if page:
        figure('dpweb page: 10k services, navigation to rows shown',
               [p['load_render_s'] for p in page], 's',
               [p['api_services_s'] for p in page], ('value', 1.0))
        figure('  same, to the main thread free (interactive)',
               [p['load_interactive_s'] for p in page], 's', None, ('value', 1.0))
        figure('dpweb page: events/s applied, 1k services crash-looping',
               [p['storm_events_per_s'] for p in page], 'ev/s')
        figure('  service rows the page updated per second',
               [p['storm_updates_per_s'] for p in page], 'rows/s')
        figure('  JavaScript per changes batch (mean)',
               [p['storm_batch_ms_mean'] / 1e3 for p in page], 'ms', None, ('value', 0.016))
        figure('  batches behind at the end (0-1: kept up)',
               [p['storm_lag_batches'] for p in page], '', None, ('value', 1))

    # The reference controller: 1,000 services from a TOML file until all
    # are ready, against daemonproxy alone starting the same (each the
    # median of 3 inside the script), and the controller's RSS.  It runs
    # under Debian's python3 when there is one, the interpreter users get.
    env = dict(os.environ)
    if os.path.exists('/usr/bin/python3'):
        env.setdefault('CTL_PYTHON', '/usr/bin/python3')
    out = subprocess.run([sys.executable, os.path.join(HERE, 'controller_bench.py'), DP],
                         check=True, stdout=subprocess.PIPE, text=True, timeout=900,
                         env=env).stdout
    cb = {k: v for k, v in (line.split() for line in out.splitlines())}
    cb = {k: float(v) for k, v in cb.items() if k != 'ctl_python'}
    figure('controller: 1000 services ready', [cb['ctl_1000_ready_s']], 's',
           [cb['dp_1000_up_s']], ('ratio', 1.2))
    # The target is on its own memory: RSS also counts the pages of
    # shared files (libpython; libcrypto, which hashlib maps: 3.4 MB)
    figure('controller: its RSS at 1000 services', [cb['ctl_rss_kb']], 'kB')
    figure('  same, private to it', [cb['ctl_private_kb']], 'kB', None, ('value', 20480))

    up_n = 2000 if QUICK else 10000
    bare = rep('seconds', 'bareup', up_n, reps=3)
    up = rep('seconds', 'up', DP, up_n, reps=3)
    figure('%d long-running services -> up' % up_n, up, 's', bare, ('ratio', 1.1))

    mem_bin = DP_STATIC if os.path.exists(DP_STATIC) else DP
    mem = run('mem', mem_bin)
    which = 'static' if mem_bin == DP_STATIC else 'dynamic'
    figure('idle VmRSS (%s build)' % which, [mem['idle_rss_kb']], 'kB', None, ('value', 200))
    figure('idle private memory', [mem['idle_private_kb']], 'kB')
    figure('1k services defined: RSS', [mem['defined1000_rss_kb']], 'kB')
    figure('10k services defined: RSS', [mem['defined10000_rss_kb']], 'kB')
    figure('private bytes per defined service', [mem['defined10000_private_bytes_per_service']],
           'B', None, ('value', 200))
    figure('1k running: added private memory', [mem['running1000_added_private_kb']], 'kB')
    if os.path.exists(DP_STATIC):
        figure('static musl daemonproxy size (separate-code: %s)' % (
               'yes' if elf_separate_code(DP_STATIC) else 'NO'),
               [os.path.getsize(DP_STATIC)], 'B', None, ('value', 131072))

    header = ('figure', 'median (min..max)', 'baseline', 'ratio', 'target', 'met')
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print()
    print('machine: %s, %d cpus, %s; %d repetitions' % (
        platform.node(), os.cpu_count(), platform.release(), REPS))
    for r in [header] + rows:
        print('  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    if dplog_table:
        print('\n' + dplog_table[0])
        for line in dplog_table[1:]:
            print('  ' + line)
    os.makedirs(os.path.join(HERE, 'out'), exist_ok=True)
    out = os.path.join(HERE, 'out', 'results.json')
    with open(out, 'w') as f:
        json.dump({'machine': {'node': platform.node(), 'cpus': os.cpu_count(),
                               'kernel': platform.release()},
                   'repetitions': REPS, 'figures': results}, f, indent=2)
    print('\nwritten %s in %.0f s' % (os.path.relpath(out, ROOT), time.monotonic() - t0))


if __name__ == '__main__':
    main()
