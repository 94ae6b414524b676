"""-M/--mlockall (docs/daemonproxy.1, OPTIONS): all memory is locked after setup."""

import os
import unittest

from dp import DPTest, binary


def vm_locked_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmLck:'):
                return int(line.split()[1])
    return 0


@unittest.skipUnless(os.geteuid() == 0, 'mlockall of a whole process needs root or a high RLIMIT_MEMLOCK')
class MlockAll(DPTest):

    def test_mlockall_short_and_long(self):
        with open(binary(), 'rb') as f:
            if b'__asan_init' in f.read():
                self.skipTest('ASan reserves terabytes of shadow memory: mlockall fails there')
        for opt in ('-M', '--mlockall'):
            d = self.start(opt)
            d.ping()
            self.assertGreater(vm_locked_kb(d.pid), 0, opt)

    def test_without_mlockall_nothing_locked(self):
        d = self.start()
        d.ping()
        self.assertEqual(vm_locked_kb(d.pid), 0)
