#!/usr/bin/env python3
"""Round trip of a request to the controller (docs/protocol.md, "Requests to
the controller"), from one Python process holding both ends:

    bench/request_bench.py [DAEMONPROXY] [N]

Prints "key value" lines, like bench/dpbench:

  request_rtt_p50_us, request_rtt_p99_us
        one `ctl.request→reload` from the asker's socket, the daemon's
        `ctl.request→ID→reload` reply read, the request read on the serving
        socket, `ctl.reply→ID→ok` written there and read back on the
        asker's: N of them one at a time, after 100 warm-up ones
  echo_rtt_p50_us, echo_rtt_p99_us
        the baseline: an `echo` round trip on the asker's socket, measured
        the same way (the same Python overhead per line, half the lines)
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DP = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(HERE), 'daemonproxy')
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        for _ in range(500):
            try:
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.01)
        self.buf = b''

    def send(self, line):
        self.s.sendall(line.encode() + b'\n')

    def line(self):
        while b'\n' not in self.buf:
            self.buf += self.s.recv(65536)
        l, self.buf = self.buf.split(b'\n', 1)
        return l.decode()


def pcts(v):
    v.sort()
    return v[len(v) // 2] / 1e3, v[len(v) * 99 // 100] / 1e3


def main():
    tmp = tempfile.mkdtemp(prefix='dpreqb')
    sock = os.path.join(tmp, 's')
    d = subprocess.Popen([DP, '-S', sock, '-q', '-q'], stdin=subprocess.DEVNULL)
    try:
        srv, ask = Conn(sock), Conn(sock)
        srv.send('ctl.serve\treload\necho\tserving')
        assert srv.line() == 'serving'
        req, echo = [], []
        for i in range(-100, N):
            t0 = time.perf_counter_ns()
            ask.send('ctl.request\treload')
            rid = ask.line().split('\t')[1]
            srv.line()
            srv.send('ctl.reply\t%s\tok' % rid)
            ask.line()
            t1 = time.perf_counter_ns()
            ask.send('echo\tx')
            ask.line()
            t2 = time.perf_counter_ns()
            if i >= 0:
                req.append(t1 - t0)
                echo.append(t2 - t1)
        p50, p99 = pcts(req)
        e50, e99 = pcts(echo)
        print('request_rtt_p50_us %.2f\nrequest_rtt_p99_us %.2f' % (p50, p99))
        print('echo_rtt_p50_us %.2f\necho_rtt_p99_us %.2f' % (e50, e99))
    finally:
        d.kill()
        d.wait()
        subprocess.run(['rm', '-rf', tmp])


if __name__ == '__main__':
    main()
