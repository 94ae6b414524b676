"""Helpers for the dpweb unit tests: a model built from statedump lines
(no daemon), and a real dpweb HTTP server on a free loopback port with a
stand-in for the feed."""

import http.client
import threading

import _path
from daemonproxy import Mirror
from daemonproxy.events import parse_event
from daemonproxy.web.model import Model
from daemonproxy.web.server import Settings, WebServer

_path.check()


class Clock:
    """A monotonic and a wall clock the test moves."""

    def __init__(self, mono=1000.0, wall=1_800_000_000.0):
        self.mono, self.wall_t = mono, wall

    def __call__(self):
        return self.mono

    def wall(self):
        return self.wall_t

    def advance(self, s):
        self.mono += s
        self.wall_t += s


def service_lines(name, state='up', ts=990, pid=4000, reason='-', value='-', uptime='-',
                  downtime='-', args=('sleep', '100'), tags=(), fds=('null', 'null', 'null'),
                  opts=(), auto_up=('-',)):
    out = ['\t'.join(map(str, ('service.state', name, state, ts, pid, reason, value, uptime,
                                downtime))),
           '\t'.join(('service.tags', name) + tuple(tags or ('',))),
           '\t'.join(('service.args', name) + tuple(args)),
           '\t'.join(('service.fds', name) + tuple(fds)),
           '\t'.join(('service.auto_up', name) + tuple(auto_up))]
    if opts:
        out.append('\t'.join(('service.opts', name) + tuple(opts)))
    return out


class Fed:
    """A Mirror and a Model fed the way feed.py feeds them."""

    def __init__(self, dump_lines, exits=None, clock=None):
        self.clock = clock or Clock()
        self.mirror = Mirror()
        self.model = Model(clock=self.clock, wall=self.clock.wall)
        self.batches = []
        self.model.listeners.append(lambda *a: self.batches.append(a))
        self.resync(dump_lines, exits)

    def resync(self, dump_lines, exits=None):
        self.mirror.begin_rebuild()
        for line in dump_lines:
            assert self.mirror.apply_fields(line.split('\t')), line
        self.mirror.end_rebuild()
        ex = {}
        for line in exits or ():
            ex[line.split('\t')[1]] = line
        self.model.resynced(self.mirror, ex)
        self.model.flush()

    def event(self, line):
        ev = parse_event(line)
        self.mirror.apply(ev)
        self.model.event(ev)


class FakeFeed:
    """Records the actions asked of it."""

    def __init__(self):
        self.acts = []
        self.error = None

    def act(self, verb, name):
        self.acts.append((verb, name))
        return {'ok': True, 'action': verb, 'service': name}


class Served:
    """A WebServer on 127.0.0.1:0 in a thread; close() ends it."""

    def __init__(self, model, token='t' * 20, read_only=False, feed=None):
        self.settings = Settings('127.0.0.1', 0, token, read_only=read_only)
        self.feed = feed if feed is not None else FakeFeed()
        self.server = WebServer(self.settings, model, self.feed)
        self.port = self.server.server_address[1]
        self.token = token
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def request(self, method, path, headers=None, host=None):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        try:
            h = {'Host': host or '127.0.0.1:%d' % self.port}
            h.update(headers or {})
            c.putrequest(method, path, skip_host=True)
            for k, v in h.items():
                c.putheader(k, v)
            c.endheaders()
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
