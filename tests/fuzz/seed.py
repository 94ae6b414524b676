#!/usr/bin/env python3
"""Turn what the integration tests sent (DP_FUZZ_RECORD=DIR, one file per
test) into the fuzz target's seed corpus: test temp paths become /tmp (the
sandbox has a /tmp), and files are named by content hash.

    make fuzz-corpus       (runs the suite with recording, then this)
"""
import hashlib
import os
import re
import sys

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for old in os.listdir(dst):
    os.unlink(os.path.join(dst, old))
names = set()
for name in sorted(os.listdir(src)):
    with open(os.path.join(src, name), 'rb') as f:
        data = re.sub(rb'/tmp/dpt[A-Za-z0-9_]+', b'/tmp', f.read())
    h = hashlib.sha1(data).hexdigest()
    if h not in names:
        names.add(h)
        with open(os.path.join(dst, h), 'wb') as f:
            f.write(data)
print('%d seeds in %s' % (len(names), dst))
