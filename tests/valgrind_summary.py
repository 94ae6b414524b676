#!/usr/bin/env python3
"""Summarise a `make valgrind` run: DIR holds run.PID (one per daemonproxy
started by the suite: how it ended) and vg.PID.log (valgrind's reports,
diverted from daemonproxy's stderr).  Prints the figures; exit status 1 if
memcheck reported any error or any definitely-lost byte."""

import collections
import os
import re
import sys

d = sys.argv[1]
runs = collections.Counter()
captured = 0
errors, lost_bytes, reports = 0, 0, []
for name in sorted(os.listdir(d)):
    path = os.path.join(d, name)
    with open(path, errors='replace') as f:
        text = f.read()
    if name.startswith('run.'):
        how, _code, where = text.rstrip('\n').split('\t')
        runs[how] += 1
        captured += where == 'stderr captured'
    elif name.startswith('vg.'):
        lost = [int(n.replace(',', '')) for n in
                re.findall(r'([\d,]+) bytes in [\d,]+ blocks are definitely lost', text)]
        lost_bytes += sum(lost)
        # every other report starts with a line naming the problem, then "   at"
        errs = len(re.findall(r'^==\d+== \S.*\n==\d+==    (?:at|by) ', text, re.M)) - len(lost)
        errors += max(errs, 0)
        reports.append(name)

total = sum(runs.values())
print('valgrind memcheck: %d daemonproxy runs (%s); stderr of %d captured'
      % (total, ', '.join('%d %s' % (n, how) for how, n in sorted(runs.items())), captured))
print('valgrind memcheck: %d errors, %d bytes definitely lost (leak check in the %d runs '
      'that exited)' % (errors, lost_bytes, runs['exited'] + runs['exited at EOF']))
for r in reports:
    print('  report: ' + os.path.join(d, r))
sys.exit(1 if errors or lost_bytes or reports else 0)
