"""Scale (docs/protocol.md, statedump; the services issue): 20,000 services
defined, 10,000 of them running at once, 10,000 handles; statedump lists
everything sorted by name and completes through a slow reader."""

import re

from dp import TIMEOUT, VALGRIND_DIR
from svc_util import SvcTest, children

# Under valgrind every spawn is a fork of a valgrind process: a tenth of the
# sizes there keeps the same paths covered in minutes instead of hours.
SCALE = 10 if VALGRIND_DIR else 1
N_DEFINED = 20000 // SCALE
N_RUNNING = 10000 // SCALE
N_HANDLES = 10000 // SCALE
CHUNK = 1000 // SCALE


class Scale(SvcTest):

    def test_20k_defined_10k_running_10k_handles(self):
        # The config file defines everything before any controller exists,
        # so no events are generated for it.
        lines = []
        for i in range(N_DEFINED):
            lines.append('service.args\ts%05d\tsleep\t1000' % i)
        for i in range(N_HANDLES):
            lines.append('fd.open\th%05d\tread\t/dev/null' % i)
        # The socket is created by the config's last line, so a client can
        # only connect once everything is defined (config commands are
        # broadcast to connected controllers like any other).
        sock = self.path('ctl.sock')
        lines.append('socket.create\t-\t' + sock)
        conf = self.write_file('scale.conf', '\n'.join(lines) + '\n')
        d = self.start('-q', '-c', conf, interactive=False)
        c = self.connect(sock, timeout=60)
        out = c.cmd('service.args\ts%05d' % (N_DEFINED - 1), timeout=60)
        self.assertEqual([l for l in out if l.startswith('error')], [])

        # Start 10,000 at once (in chunks, reading events as they come).
        ups = 0
        for base in range(0, N_RUNNING, CHUNK):
            out = c.cmd(*['service.start\ts%05d' % i for i in range(base, base + CHUNK)],
                        timeout=120)
            self.assertEqual([l for l in out if l.startswith('error') or l == 'overflow'], [])
            ups += sum(1 for l in out if re.match(r'service\.state\ts\d+\tup\t', l))
        self.assertEqual(ups, N_RUNNING)
        self.assertEqual(len(children(d.pid)), N_RUNNING)

        # statedump through a reader with a tiny socket buffer.
        slow = self.connect(sock, rcvbuf=4096)
        slow.send('statedump', 'echo\tdump-end')
        handles, services, states = [], [], {}
        n = 0
        while True:
            line = slow.readline(timeout=TIMEOUT * 6)
            self.assertIsNotNone(line, 'EOF during statedump')
            if line == 'dump-end':
                break
            n += 1
            f = line.split('\t')
            if f[0] == 'fd.state':
                handles.append(f[1])
            elif f[0] == 'service.state':
                services.append(f[1])
                states[f[2]] = states.get(f[2], 0) + 1
        self.assertEqual(handles, sorted(handles))
        self.assertEqual(services, sorted(services))
        self.assertEqual(len(services), N_DEFINED)
        self.assertEqual(len([h for h in handles if h.startswith('h')]), N_HANDLES)
        self.assertEqual(states.get('up'), N_RUNNING)
        self.assertEqual(states.get('down'), N_DEFINED - N_RUNNING)
        self.assertGreaterEqual(n, len(handles) + 5 * N_DEFINED)

        # Stop them all again; every pid is looked up as it is reaped.  The
        # down events come from the reaper, not from this controller's
        # commands, so they are not throttled by its output buffer: kill in
        # chunks small enough for the 64 KiB buffer and collect each
        # chunk's events before sending the next (else: overflow, by design).
        kill_chunk = 500
        downs = 0
        for base in range(0, N_RUNNING, kill_chunk):
            want = downs + kill_chunk
            out = c.cmd(*['service.signal\ts%05d\tSIGKILL' % i
                          for i in range(base, base + kill_chunk)], timeout=120)
            self.assertEqual([l for l in out if l.startswith('error') or l == 'overflow'], [])
            downs += sum(1 for l in out if '\tdown\t' in l)
            while downs < want:
                c.expect(re.compile(r'^service\.state\ts\d+\tdown\t'), timeout=120)
                downs += 1
        self.assertEqual(downs, N_RUNNING)
