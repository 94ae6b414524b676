"""docs/daemonproxy.1, OPTIONS: --service-pool / --fd-pool: preallocated objects, no
allocation beyond them, minimum/maximum warnings."""

from svc_util import SvcTest


def alloc_error(line, kind):
    return line.startswith('error\t') and 'allocate' in line and kind in line


class Pools(SvcTest):
    def test_service_pool_limit_and_reuse(self):
        d = self.start('--service-pool', '3')
        for name in ('a', 'b', 'c'):
            self.assertEqual(d.cmd('service.args\t%s\tsleep\t1' % name),
                             ['service.args\t%s\tsleep\t1' % name])
        for cmd in ('service.args\td\tsleep\t1', 'service.tags\td\tx', 'service.fds\td\tnull',
                    'service.auto_up\td\t1\talways'):
            out = d.cmd(cmd)
            self.assertEqual(len(out), 1, out)
            self.assertTrue(alloc_error(out[0], 'service'), out)
        self.assertFalse([l for l in self.dump(d) if l.startswith('service.state\td\t')])
        # existing services can still be changed
        self.assertEqual(d.cmd('service.args\ta\tsleep\t2'), ['service.args\ta\tsleep\t2'])
        self.assertEqual(d.cmd('service.delete\tb'), ['service.state\tb\tdeleted\t-\t-\t-\t-\t-\t-'])
        self.assertEqual(d.cmd('service.args\td\tsleep\t1'), ['service.args\td\tsleep\t1'])
        self.assertTrue(alloc_error(d.cmd1('service.args\te\tsleep\t1'), 'service'))

    def test_service_pool_services_run(self):
        d = self.start('--service-pool', '2x256')
        d.cmd('service.args\tx\tsh\t-c\texit 7', 'service.fds\tx\tnull\tnull\tstderr',
              'service.tags\tx\tt1\tt2')
        d.send('service.start\tx')
        self.expect_state(d, 'x', 'up')
        self.assertEqual(self.expect_state(d, 'x', 'down')[5:7], ['exit', '7'])

    def test_fd_pool_minimum_is_full(self):
        d = self.start('--fd-pool', '7')
        for cmd in ('fd.pipe\tr\tw', 'fd.open\tf\tread\t/dev/null', 'fd.socket\ts\tunix'):
            out = d.cmd(cmd)
            self.assertTrue(out and alloc_error(out[-1], 'file descriptor'), (cmd, out))
            self.assertFalse([l for l in out if l.startswith('fd.state')], out)
        # the seven start handles are all there (and the notify.fd
        # placeholder, an extension that takes no pool block)
        names = sorted(l.split('\t')[1] for l in self.dump(d) if l.startswith('fd.state\t'))
        self.assertEqual(names, ['control.cmd', 'control.event', 'control.socket', 'notify.fd',
                                 'null', 'stderr', 'stdin', 'stdout'])

    def test_fd_pool_below_minimum_warns(self):
        d = self.start('--fd-pool', '3')
        d.log.expect(lambda l: l.startswith('warning: ') and 'minimum' in l)
        # raised to 7: the start handles exist (and notify.fd, outside the
        # pool), nothing more fits
        self.assertEqual(len([l for l in self.dump(d) if l.startswith('fd.state\t')]), 7 + 1)
        self.assertTrue(alloc_error(d.cmd1('fd.open\tf\tread\t/dev/null'), 'file descriptor'))

    def test_fd_pool_object_size_clamped(self):
        d = self.start('--fd-pool', '10x16')
        d.log.expect(lambda l: l.startswith('warning: ') and 'minimum' in l)
        d.ping()
        d2 = self.start('--fd-pool', '10x100000')
        d2.log.expect(lambda l: l.startswith('warning: ') and 'maximum' in l)
        # long paths fit in a PATH_MAX-sized object
        long_path = '/' + '/'.join(['.'] * 1500) + '/dev/null'
        out = d2.cmd('fd.open\tlong\tread\t' + long_path)
        self.assertEqual(out, ['fd.state\tlong\tfile\tread\t' + long_path])

    def test_fd_pool_nine_allows_two(self):
        d = self.start('--fd-pool', '9')
        self.assertEqual(d.cmd('fd.pipe\tr\tw'), ['fd.state\tr\tpipe\tfrom\tw',
                                                  'fd.state\tw\tpipe\tto\tr'])
        out = d.cmd('fd.open\tf\tread\t/dev/null')
        self.assertEqual(len(out), 1, out)
        self.assertTrue(alloc_error(out[0], 'file descriptor'), out)
        out = d.cmd('fd.pipe\ta\tb')
        self.assertTrue(out and alloc_error(out[-1], 'file descriptor'), out)
        self.assertFalse([l for l in out if l.startswith('fd.state')])
        names = sorted(l.split('\t')[1] for l in self.dump(d) if l.startswith('fd.state\t'))
        self.assertIn('r', names)
        self.assertIn('w', names)
        self.assertEqual(len(names), 9 + 1)     # + notify.fd, outside the pool
