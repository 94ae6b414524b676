"""One client against a peer that is not daemonproxy, in a process of its
own (so that its memory can be measured): run by test_hostile_peer.py.

    python3 hostile_peer.py CLIENT KIND TIMEOUT [OPTION=VALUE...]

CLIENT: ``blocking`` or ``asyncio`` over a socketpair (a control socket),
``blocking-pipes`` or ``asyncio-pipes`` over two pipes (the controller
service's stdin/stdout).  KIND, what a forked writer sends for ever:

* ``endless``: one line without a newline;
* ``lines``: short valid event lines, faster than the client reads;
* ``garbage``: random bytes;
* ``silence``: nothing (it never answers).

The client sends ``echo x`` and waits for the reply with TIMEOUT.  Options
go to the client's constructor (``queue_events=0``).  Prints one JSON
object: the exception's class (or ``returned``) and message, the seconds
taken, the growth of the process's peak RSS in KiB, and the most bytes of a
partial line the session held.  The address space is capped at 1 GiB, so a
client that buffers without bound fails with MemoryError instead of taking
the machine.
"""

import asyncio
import ctypes
import json
import os
import resource
import signal
import socket
import sys
import time

import _path

import daemonproxy

PAYLOADS = {
    'endless': lambda: b'x' * 65536,
    'lines': lambda: b'service.state\tweb\tup\t1\t2\t-\t-\t0\t-\n' * 2000,
    'garbage': lambda: os.urandom(65536),
}


def start_writer(kind, fd):
    """Fork a process that sends kind on fd until killed."""
    pid = os.fork()
    if pid == 0:
        try:
            # ends with its parent, even if that is killed (a test that timed out)
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
            if kind == 'silence':
                signal.pause()
            while True:
                os.write(fd, PAYLOADS[kind]())
        finally:
            os._exit(0)
    return pid


def channel(client):
    """(client read fd, client write fd, writer fd).  The commands' pipe
    is never read: its buffer holds the few bytes the client sends."""
    if client.endswith('-pipes'):
        ev_r, ev_w = os.pipe()
        _, cmd_w = os.pipe()
        return ev_r, cmd_w, ev_w
    a, b = socket.socketpair()
    fd = a.detach()
    return fd, fd, b.detach()


def main(argv):
    client, kind, timeout = argv[1], argv[2], float(argv[3])
    kw = {k: bool(int(v)) for k, v in (a.split('=', 1) for a in argv[4:])}
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    rfd, wfd, peer = channel(client)
    writer = start_writer(kind, peer)
    os.close(peer)
    most = [0]

    def watch(session):
        feed = session.feed

        def counted(data):
            try:
                feed(data)
            finally:
                # (a session of before the limit has no .buffered: its partial line)
                held = getattr(session, 'buffered', None)
                most[0] = max(most[0], len(session._partial) if held is None else held)
        session.feed = counted

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    outcome = {'exception': 'returned', 'message': ''}
    try:
        if client.startswith('asyncio'):
            async def run():
                c = daemonproxy.AsyncClient(rfd, wfd, timeout=timeout, **kw)
                watch(c.session)
                await c.request('echo', 'x')
            asyncio.run(run())
        else:
            c = daemonproxy.Client(rfd, wfd, timeout=timeout, **kw)
            watch(c.session)
            c.request('echo', 'x')
    except BaseException as e:          # MemoryError included: that is the old bug
        outcome = {'exception': type(e).__name__, 'message': str(e)[:300]}
    outcome['seconds'] = time.monotonic() - t0
    outcome['rss_growth_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    outcome['max_buffered'] = most[0]
    os.kill(writer, signal.SIGKILL)
    os.waitpid(writer, 0)
    print(json.dumps(outcome))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
