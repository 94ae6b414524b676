#!/usr/bin/env python3
"""Benchmark of dplog against runit's svlogd and s6's s6-log.

    bench/dplog_bench.py DPLOG DAEMONPROXY         "key value" lines (bench/run.py)
    bench/dplog_bench.py --table DPLOG DAEMONPROXY  the comparison table alone

The same input for all: 1,000,000 lines of 100 bytes ($DPLOG_BENCH_LINES),
a file fed through a pipe by cat; rotation at 1,000,000 bytes, 10 old files
kept (each tool's default), timestamps on, in each tool's human format
(dplog RFC 3339, svlogd -tt, s6-log T) and in TAI64N (dplog -t tai64n,
svlogd -t, s6-log t).  Each logger runs until EOF, REPS times
($BENCH_REPS, default 3), the tools taking turns so that a drift of the
machine hits all.  Per run, "key.N value" lines:

  TOOL_FMT_wall_s       from the logger's start to its exit (it has
                        written and rotated everything by then)
  TOOL_FMT_lines_per_s  lines / wall_s
  TOOL_FMT_cpu_s_per_M  the logger's user+sys (wait4 rusage) per 1M lines
  TOOL_FMT_maxrss_kb    the logger's peak RSS (VmHWM when it has read
                        all: see run_logger)
  TOOL_size_bytes       the size of its binary (once; dynamic builds; also
                        dplog_stripped_size_bytes, as Debian ships the
                        others)

TOOL is dplog, dplogs (dplog-static, when built), svlogd or s6log; FMT
human or tai64n.  A tool that is not installed (`make bench-deps`) prints
nothing.  Each logger runs with its own default buffer sizes (svlogd's -b
is 1024 bytes), as users run them.

Then daemonproxy's share of a service's log traffic: a service (dd, one
write(2) per 100-byte line) writes the lines into a pipe held by
daemonproxy, a dplog service reads it into a directory, and daemonproxy's
own CPU time (/proc/PID/schedstat: ns on a CPU) is taken before the two
start and after both exited:

  dp_cpu_all_s.N        daemonproxy's CPU for all the lines
  dp_cpu_1k_s.N         the same for 1,000 lines (no per-line work:
                        about the same)
  dp_services_cpu_all_s.N  the CPU of the two services (dd and dplog) in
                        that run, from daemonproxy's cutime+cstime
"""

import fcntl
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

LINES = int(os.environ.get('DPLOG_BENCH_LINES', '1000000'))
REPS = int(os.environ.get('BENCH_REPS', '3'))
SIZE = 1000000
LINE = 100
TICK = os.sysconf('SC_CLK_TCK')
SVLOGD = shutil.which('svlogd')
S6LOG = shutil.which('s6-log')
FORMATS = ('human', 'tai64n')
TOOLS = ('dplog', 'dplogs', 'svlogd', 's6log')
LABEL = {'dplog': 'dplog', 'dplogs': 'dplog-static', 'svlogd': 'svlogd', 's6log': 's6-log'}
MODE = {('dplog', 'human'): 'rfc3339', ('dplog', 'tai64n'): '-t tai64n',
        ('dplogs', 'human'): 'rfc3339', ('dplogs', 'tai64n'): '-t tai64n',
        ('svlogd', 'human'): '-tt', ('svlogd', 'tai64n'): '-t',
        ('s6log', 'human'): 'T', ('s6log', 'tai64n'): 't'}


def make_input(path, n):
    fill = b'x' * (LINE - 9)
    with open(path, 'wb') as f:
        for start in range(0, n, 10000):
            f.write(b''.join(b'%07d %s\n' % (i, fill) for i in range(start, min(n, start + 10000))))


def argv_of(tool, fmt, path, d):
    if tool in ('dplog', 'dplogs'):
        return [path, '-s', str(SIZE)] + (['-t', 'tai64n'] if fmt == 'tai64n' else []) + [d]
    if tool == 'svlogd':
        os.makedirs(d)
        with open(os.path.join(d, 'config'), 'w') as f:
            f.write('s%d\n' % SIZE)
        return [path, '-tt' if fmt == 'human' else '-t', d]
    return [path, 'T' if fmt == 'human' else 't', 's%d' % SIZE, d]


def vm_hwm_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def run_logger(argv, infile):
    """(wall seconds, user+sys seconds, peak RSS kB) of argv reading infile
    through a pipe until EOF.  The peak is the logger's VmHWM once all the
    input is read (this end of the pipe is closed only then): its own
    image's, where ru_maxrss would be that of the Python process it was
    forked from (the high-water mark is carried over exec)."""
    r, w = os.pipe()
    feeder = subprocess.Popen(['cat', infile], stdout=w)
    t0 = time.monotonic()
    logger = subprocess.Popen(argv, stdin=r, stdout=subprocess.DEVNULL)
    feeder.wait()
    while True:                 # until the logger has read the last bytes
        n = fcntl.ioctl(r, termios.FIONREAD, b'\0' * 4)
        if struct.unpack('i', n)[0] == 0:
            break
        time.sleep(0.001)
    hwm = vm_hwm_kb(logger.pid)
    os.close(w)                 # EOF: the logger finishes and exits
    os.close(r)
    _, status, ru = os.wait4(logger.pid, 0)
    wall = time.monotonic() - t0
    logger.returncode = os.waitstatus_to_exitcode(status)
    if logger.returncode != 0:
        sys.exit('%s exited %d' % (argv[0], logger.returncode))
    return wall, ru.ru_utime + ru.ru_stime, hwm


def loggers(dplog, tmp, infile):
    static = dplog + '-static'
    tools = [(t, path) for t, path in (('dplog', dplog), ('dplogs', static), ('svlogd', SVLOGD),
                                        ('s6log', S6LOG)) if path and os.path.exists(path)]
    for rep in range(REPS):
        for tool, path in tools:
            for fmt in FORMATS:
                d = os.path.join(tmp, 'log-%s-%s' % (tool, fmt))
                shutil.rmtree(d, ignore_errors=True)
                wall, cpu, rss = run_logger(argv_of(tool, fmt, path, d), infile)
                key = '%s_%s_' % (tool, fmt)
                print('%swall_s.%d %.6f' % (key, rep, wall))
                print('%slines_per_s.%d %.1f' % (key, rep, LINES / wall))
                print('%scpu_s_per_M.%d %.6f' % (key, rep, cpu * 1e6 / LINES))
                print('%smaxrss_kb.%d %d' % (key, rep, rss))
                sys.stdout.flush()
    for tool, path in (('dplog', dplog), ('svlogd', SVLOGD), ('s6log', S6LOG)):
        if path:
            print('%s_size_bytes %d' % (tool, os.path.getsize(path)))
    if os.path.exists(static):
        print('dplogs_size_bytes %d' % os.path.getsize(static))
    strip = shutil.which('strip')
    if strip:                   # svlogd and s6-log come stripped
        out = os.path.join(tmp, 'dplog.stripped')
        subprocess.run([strip, '-o', out, dplog], check=True)
        print('dplog_stripped_size_bytes %d' % os.path.getsize(out))


def dp_cpu(pid):
    """(own CPU seconds, reaped children's CPU seconds) of pid."""
    try:
        with open('/proc/%d/schedstat' % pid) as f:
            own = int(f.read().split()[0]) / 1e9
    except OSError:
        own = None
    with open('/proc/%d/stat' % pid) as f:
        st = f.read().rsplit(')', 1)[1].split()
    if own is None:
        own = (int(st[11]) + int(st[12])) / TICK
    return own, (int(st[13]) + int(st[14])) / TICK


def through_daemonproxy(dp, dplog, tmp, infile, rep, tag):
    """daemonproxy's CPU (and its services') while dd writes infile line
    by line into daemonproxy's pipe and a dplog service logs it."""
    d = os.path.join(tmp, 'dp-log')
    shutil.rmtree(d, ignore_errors=True)
    p = subprocess.Popen([dp, '-i'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def send(*lines):
        p.stdin.write(''.join(l + '\n' for l in lines))
        p.stdin.flush()

    def until(pred):
        while True:
            line = p.stdout.readline()
            if not line:
                sys.exit('daemonproxy ended')
            line = line.rstrip('\n')
            if line.startswith('error\t'):
                sys.exit('daemonproxy: ' + line)
            if pred(line):
                return line

    try:
        send('fd.pipe\tlog.r\tlog.w',
             '\t'.join(['service.args', 'logger', dplog, '-s', str(SIZE), d]),
             'service.fds\tlogger\tlog.r\tnull\tnull',
             '\t'.join(['service.args', 'feeder', 'dd', 'if=' + infile, 'bs=%d' % LINE,
                        'status=none']),
             'service.fds\tfeeder\tnull\tlog.w\tnull',
             'echo\tready')
        until(lambda l: l == 'echo\tready' or l == 'ready')
        own0, kids0 = dp_cpu(p.pid)
        # the feeder's copy of log.w is then the only write end: dplog
        # gets EOF when the feeder exits, and exits
        send('service.start\tlogger', 'service.start\tfeeder', 'fd.delete\tlog.w')
        down = set()
        while down != {'logger', 'feeder'}:
            f = until(lambda l: l.startswith('service.state\t') and '\tdown\t' in l).split('\t')
            if f[5:7] != ['exit', '0']:
                sys.exit('%s ended %r' % (f[1], f))
            down.add(f[1])
        own1, kids1 = dp_cpu(p.pid)
    finally:
        p.kill()
        p.wait()
    print('dp_cpu_%s_s.%d %.6f' % (tag, rep, own1 - own0))
    print('dp_services_cpu_%s_s.%d %.6f' % (tag, rep, kids1 - kids0))
    sys.stdout.flush()


def samples(lines):
    out = {}
    for line in lines:
        k, v = line.split()
        out.setdefault(k.rsplit('.', 1)[0] if '.' in k else k, []).append(float(v))
    return out


def table(s):
    """The comparison table (a list of lines) from the samples: medians,
    and each baseline's ratio to dplog in the same format."""
    med = {k: statistics.median(v) for k, v in s.items()}
    cols = ('wall_s', 'lines_per_s', 'cpu_s_per_M', 'maxrss_kb')
    head = ('logger (timestamps)', 'wall', 'lines/s', 'CPU s/1M lines', 'peak RSS',
            'binary', '/dplog: lines/s', 'CPU', 'RSS', 'binary')
    rows = []
    for fmt in FORMATS:
        for tool in TOOLS:
            key = '%s_%s_' % (tool, fmt)
            name = '%s %s' % (LABEL[tool], MODE[(tool, fmt)])
            size = med.get('%s_size_bytes' % tool)
            if tool == 'dplog':     # compared stripped, as Debian ships the others
                size = med.get('dplog_stripped_size_bytes', size)
            if key + 'wall_s' not in med:
                rows.append((name,) + ('-',) * 9)
                continue
            v = [med[key + c] for c in cols]
            base = '%s_%s_' % ('dplog', fmt)
            if base + 'wall_s' in med and tool != 'dplog':
                ratios = ('%.2f' % (v[1] / med[base + 'lines_per_s']),
                          '%.2f' % (v[2] / med[base + 'cpu_s_per_M']),
                          '%.2f' % (v[3] / med[base + 'maxrss_kb']),
                          '%.2f' % (size / med.get('dplog_stripped_size_bytes',
                                                   med['dplog_size_bytes'])) if size else '-')
            else:
                ratios = ('-',) * 4
            rows.append((name, '%.3f s' % v[0], '%.0f' % v[1], '%.3f' % v[2], '%d kB' % v[3],
                         '%d B' % size if size else '-') + ratios)
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    out = ['  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
           for r in [head] + rows]
    if 'dp_cpu_all_s' in med:
        out.append('daemonproxy CPU while %d lines pass service -> pipe -> dplog: %.1f ms '
                   '(1,000 lines: %.1f ms; the service and dplog: %.0f ms)' % (
                       LINES, med['dp_cpu_all_s'] * 1e3, med['dp_cpu_1k_s'] * 1e3,
                       med['dp_services_cpu_all_s'] * 1e3))
    return out


def main():
    args = sys.argv[1:]
    show = args[:1] == ['--table']
    if show:
        args = args[1:]
    if len(args) != 2:
        sys.exit('usage: dplog_bench.py [--table] DPLOG DAEMONPROXY')
    dplog, dp = (os.path.abspath(a) for a in args)
    tmp = tempfile.mkdtemp(prefix='dplogbench')
    out = sys.stdout
    if show:                    # collect the lines instead of printing them
        import io
        sys.stdout = io.StringIO()
    try:
        infile = os.path.join(tmp, 'in')
        make_input(infile, LINES)
        small = os.path.join(tmp, 'in-1k')
        make_input(small, 1000)
        loggers(dplog, tmp, infile)
        for rep in range(REPS):
            through_daemonproxy(dp, dplog, tmp, infile, rep, 'all')
            through_daemonproxy(dp, dplog, tmp, small, rep, '1k')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if show:
        lines = sys.stdout.getvalue().splitlines()
        sys.stdout = out
        print('\n'.join(table(samples(lines))))


if __name__ == '__main__':
    main()
