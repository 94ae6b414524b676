#!/usr/bin/env python3
"""Integration test runner for daemonproxy (Python 3 standard library only).

    tests/run.py [-j N] [-v] [FILTER...]

Discovers tests/integration/test_*.py (unittest).  A test is selected when
any FILTER is a substring of its id (module.Class.method); no filter selects
all.  Each module runs in its own worker process, N (default 2, or $DP_JOBS)
at a time.  Failure details are printed, then as the last line
"N passed, N failed" (", N skipped" when some were).  Exit status 0 only if
nothing failed.

The binary comes from $DAEMONPROXY (default: build-test/daemonproxy).
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEG = os.path.join(HERE, 'integration')
REPO = os.path.dirname(HERE)
MODULE_TIMEOUT = float(os.environ.get('DP_MODULE_TIMEOUT', '300'))


def test_ids(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from test_ids(t)
        else:
            yield t.id()


# --- worker: run some tests of one module, write JSON results ---------------

class Result(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.records = {}
        self.started = {}

    def _rec(self, test, status, detail=''):
        tid = test.id()
        prev = self.records.get(tid)
        if prev and prev['status'] == 'fail':
            if status == 'fail':
                prev['detail'] += '\n' + detail
            return
        self.records[tid] = {'status': status, 'detail': detail,
                             'time': time.monotonic() - self.started.get(tid, time.monotonic())}

    def startTest(self, test):
        super().startTest(test)
        self.started[test.id()] = time.monotonic()

    def addSuccess(self, test):
        self._rec(test, 'pass')

    def addFailure(self, test, err):
        self._rec(test, 'fail', self._exc_info_to_string(err, test))

    def addError(self, test, err):
        self._rec(test, 'fail', self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self._rec(test, 'skip', reason)

    def addExpectedFailure(self, test, err):
        self._rec(test, 'pass')

    def addUnexpectedSuccess(self, test):
        self._rec(test, 'fail', 'unexpected success')

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._rec(test, 'fail', '[%s]\n%s' % (subtest.id(), self._exc_info_to_string(err, test)))


def worker(outfile, ids):
    sys.path.insert(0, INTEG)
    suite = unittest.defaultTestLoader.loadTestsFromNames(ids)
    result = Result()
    suite.run(result)
    # tests the loader could not import show up as errors under other ids
    with open(outfile, 'w') as f:
        json.dump(result.records, f)


# --- main ------------------------------------------------------------------

def discover(filters):
    sys.path.insert(0, INTEG)
    selected = {}
    load_errors = {}
    for fn in sorted(os.listdir(INTEG)):
        if not (fn.startswith('test_') and fn.endswith('.py')):
            continue
        mod = fn[:-3]
        try:
            suite = unittest.defaultTestLoader.loadTestsFromName(mod)
            ids = list(test_ids(suite))
        except Exception as e:  # import error: report as a failure
            load_errors[mod] = '%s: %s' % (type(e).__name__, e)
            continue
        if filters:
            ids = [i for i in ids if any(f in i for f in filters)]
        if ids:
            selected[mod] = ids
    return selected, load_errors


def run_module(mod, ids, verbose):
    fd, outfile = tempfile.mkstemp(prefix='dprun-', suffix='.json')
    os.close(fd)
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, os.path.abspath(__file__), '--worker', outfile] + ids,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=MODULE_TIMEOUT, cwd=REPO)
        output = p.stdout.decode('utf-8', 'replace')
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b'').decode('utf-8', 'replace')
        rc = 'timeout after %ds' % MODULE_TIMEOUT
    records = {}
    try:
        with open(outfile) as f:
            records = json.load(f)
    except (OSError, ValueError):
        pass
    finally:
        try:
            os.unlink(outfile)
        except OSError:
            pass
    for tid in ids:
        if tid not in records:
            records[tid] = {'status': 'fail', 'time': 0,
                            'detail': 'no result (worker exit status %s)\n%s' % (rc, output[-4000:])}
    return mod, records, time.monotonic() - t0, output


def main(argv):
    if len(argv) >= 2 and argv[1] == '--worker':
        worker(argv[2], argv[3:])
        return 0
    jobs = int(os.environ.get('DP_JOBS', '2'))
    verbose = False
    filters = []
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a == '-j' and args:
            jobs = int(args.pop(0))
        elif a.startswith('-j') and a[2:].isdigit():
            jobs = int(a[2:])
        elif a == '-v':
            verbose = True
        elif a in ('-h', '--help'):
            print(__doc__.strip())
            return 0
        else:
            filters.append(a)

    binary = os.environ.get('DAEMONPROXY') or os.path.join(REPO, 'build-test', 'daemonproxy')
    if not os.path.isfile(binary):
        print('warning: daemonproxy binary %s does not exist' % binary)
    os.environ['DAEMONPROXY'] = os.path.abspath(binary)

    selected, load_errors = discover(filters)
    passed = failed = skipped = 0
    failures = []
    for mod, err in sorted(load_errors.items()):
        failed += 1
        failures.append((mod, 'cannot load module: ' + err))

    t0 = time.monotonic()
    order = sorted(selected, key=lambda m: -len(selected[m]))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        futs = [ex.submit(run_module, m, selected[m], verbose) for m in order]
        for fut in concurrent.futures.as_completed(futs):
            mod, records, dt, output = fut.result()
            np = nf = ns = 0
            for tid in selected[mod]:
                r = records[tid]
                st = r['status']
                if st == 'pass':
                    np += 1
                elif st == 'skip':
                    ns += 1
                else:
                    nf += 1
                    failures.append((tid, r['detail']))
                if verbose:
                    print('  %-4s %6.2fs %s%s' % (st, r.get('time', 0), tid,
                                                  (' (%s)' % r['detail']) if st == 'skip' else ''))
            passed += np
            failed += nf
            skipped += ns
            print('%-28s %3d passed, %d failed%s  (%.1fs)'
                  % (mod, np, nf, (', %d skipped' % ns) if ns else '', dt), flush=True)
            if verbose and output.strip():
                print(output.rstrip())

    for tid, detail in failures:
        print('=' * 70)
        print('FAIL: %s' % tid)
        print('-' * 70)
        print(detail.rstrip())
    if failures:
        print('=' * 70)
    print('total time %.1fs' % (time.monotonic() - t0))
    summary = '%d passed, %d failed' % (passed, failed)
    if skipped:
        summary += ', %d skipped' % skipped
    print(summary)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
