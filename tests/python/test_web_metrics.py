"""dpweb's /metrics: the Prometheus text format 0.0.4 (every family has
HELP and TYPE once, its samples together; label values escaped; counters
end in _total), and values that follow the model: up, ready, uptime,
desired state, failed, restarts and exits by reason seeded from the
daemon's exit history and counted from events; the per-generation cache
never serves stale values."""

import re
import unittest

import _path
from _prom import prometheus_parser
from _web import Fed, service_lines
from daemonproxy.events import parse_event
from daemonproxy.web.metrics import escape_help, escape_label, labels

_path.check()

text_string_to_metric_families = prometheus_parser()

_NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
_LVAL = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(r'^(%s)(\{%s=%s(?:,%s=%s)*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$'
                       % (_NAME, _NAME, _LVAL, _NAME, _LVAL))


def parse(text):
    """A strict reading of the format: {family: [(labels text, value)]};
    fails on a sample outside its family, a family twice, a bad line."""
    fams, current, seen = {}, None, set()
    assert text.endswith('\n')
    for line in text.splitlines():
        if line.startswith('# HELP '):
            name = line.split(' ')[2]
            assert name not in seen, 'family %s twice' % name
            seen.add(name)
            current = name
            fams[name] = {'samples': []}
        elif line.startswith('# TYPE '):
            _, _, name, kind = line.split(' ')
            assert name == current, line
            assert kind in ('gauge', 'counter'), line
            assert (kind == 'counter') == name.endswith('_total'), line
            fams[name]['type'] = kind
        else:
            m = SAMPLE_RE.match(line)
            assert m, 'bad sample line %r' % line
            assert m.group(1) == current, 'sample %r outside its family %s' % (line, current)
            fams[current]['samples'].append((m.group(2) or '', float(m.group(3))))
    return fams


def value(fams, name, lab):
    got = [v for l, v in fams[name]['samples'] if l == lab]
    assert len(got) == 1, (name, lab, fams[name]['samples'])
    return got[0]


class Escaping(unittest.TestCase):
    def test_label_values(self):
        self.assertEqual(escape_label('a\\b"c\nd'), 'a\\\\b\\"c\\nd')
        self.assertEqual(escape_label('plain'), 'plain')
        self.assertEqual(labels([('service', 'x"y'), ('reason', 'exit')]),
                         '{service="x\\"y",reason="exit"}')

    def test_help(self):
        self.assertEqual(escape_help('a\\b\nc "q"'), 'a\\\\b\\nc "q"')

    def test_a_hostile_name_stays_inside_its_label(self):
        # daemonproxy's names are [A-Za-z0-9._-]; a peer that sends others
        # must not be able to add lines or labels
        name = 'x"} 1\nfake_metric{a="'
        f = Fed(service_lines('ok'))
        f.event('\t'.join(['service.state', name, 'up', '995', '77', '-', '-', '0', '-']))
        f.model.flush()
        text = f.model.metrics().decode()
        fams = parse(text)
        self.assertNotIn('fake_metric', fams)
        lab = '{service="%s"}' % escape_label(name)
        self.assertEqual(value(fams, 'daemonproxy_service_up', lab), 1)


class Values(unittest.TestCase):
    def setUp(self):
        dump = (service_lines('web', 'up', 990, 4000, opts=('notify',)) +
                service_lines('db', 'up', 900, 4001) +
                service_lines('crash', 'down', 995, 4002, 'exit', '3', '0', '5',
                              auto_up=('1', 'always')) +
                ['service.want\tdb\tdown\tuid=0\t950\tmaint'] +
                ['service.notify\tweb\t991\t4000\tREADY=1\tSTATUS=<b>fine</b>'])
        exits = ['service.exits\tcrash\t7\t900\t995,exit,3,0\t994,signal,SIGSEGV,1\t993,exit,3,0'
                 '\t992,exit,3,0\t991,exit,3,0']
        self.f = Fed(dump, exits)

    def fams(self):
        return parse(self.f.model.metrics().decode())

    def test_values_follow_the_model(self):
        f = self.fams()
        self.assertEqual(value(f, 'daemonproxy_service_up', '{service="web"}'), 1)
        self.assertEqual(value(f, 'daemonproxy_service_up', '{service="crash"}'), 0)
        self.assertEqual(value(f, 'daemonproxy_service_ready', '{service="web"}'), 1)
        self.assertEqual(value(f, 'daemonproxy_service_ready', '{service="db"}'), 1)
        self.assertEqual(value(f, 'daemonproxy_service_uptime_seconds', '{service="web"}'), 10)
        self.assertEqual(value(f, 'daemonproxy_service_uptime_seconds', '{service="db"}'), 100)
        self.assertEqual(value(f, 'daemonproxy_service_uptime_seconds', '{service="crash"}'), 0)
        self.assertEqual(value(f, 'daemonproxy_service_desired_state',
                               '{service="db",state="down"}'), 1)
        self.assertEqual(value(f, 'daemonproxy_service_desired_state',
                               '{service="db",state="up"}'), 0)
        self.assertEqual(value(f, 'daemonproxy_service_failed', '{service="db"}'), 0)
        self.assertEqual(value(f, 'daemonproxy_services', ''), 3)
        self.assertEqual(value(f, 'daemonproxy_up', ''), 0)      # never connected

    def test_exits_seeded_from_the_history_then_counted(self):
        f = self.fams()
        ex = 'daemonproxy_service_exits_total'
        self.assertEqual(value(f, ex, '{service="crash",reason="exit",value="3"}'), 4)
        self.assertEqual(value(f, ex, '{service="crash",reason="signal",value="SIGSEGV"}'), 1)
        self.assertEqual(value(f, ex, '{service="crash",reason="unknown",value=""}'), 2)
        self.assertEqual(value(f, 'daemonproxy_service_restarts_total', '{service="crash"}'), 6)
        # a run, then a crash by SIGKILL
        self.f.event('service.state\tcrash\tup\t996\t4100\t-\t-\t0\t-')
        self.f.event('service.state\tcrash\tdown\t997\t4100\tsignal\tSIGKILL\t1\t0')
        self.f.model.flush()
        f = self.fams()
        self.assertEqual(value(f, ex, '{service="crash",reason="signal",value="SIGKILL"}'), 1)
        self.assertEqual(value(f, 'daemonproxy_service_restarts_total', '{service="crash"}'), 7)
        self.assertEqual(self.f.model.row('crash')['exits']['count'], 8)

    def test_an_exit_during_the_first_statedump_is_counted_once(self):
        # the library queues the events that came during the dump before
        # its end: the model hears of the exit, then the dump lists it too
        f = Fed([])
        f.mirror.begin_rebuild()
        for line in service_lines('late', 'down', 996, 4100, 'signal', 'SIGTERM', '1', '0'):
            f.mirror.apply_fields(line.split('\t'))
        f.mirror.end_rebuild()
        f.model.event(parse_event('service.state\tlate\tdown\t996\t4100\tsignal\tSIGTERM\t1\t0'))
        f.model.resynced(f.mirror, {'late': 'service.exits\tlate\t2\t990\t996,signal,SIGTERM,1'
                                            '\t993,exit,0,2'})
        f.model.flush()
        fams = parse(f.model.metrics().decode())
        ex = 'daemonproxy_service_exits_total'
        self.assertEqual(value(fams, ex, '{service="late",reason="signal",value="SIGTERM"}'), 1)
        self.assertEqual(value(fams, ex, '{service="late",reason="exit",value="0"}'), 1)
        self.assertEqual(value(fams, 'daemonproxy_service_restarts_total', '{service="late"}'), 1)

    def test_the_cache_follows_every_flush_and_the_clock(self):
        first = self.f.model.metrics().decode()
        self.assertEqual(self.f.model.metrics().decode(), first)
        self.f.clock.advance(5)
        f = self.fams()
        self.assertEqual(value(f, 'daemonproxy_service_uptime_seconds', '{service="web"}'), 15)
        self.f.event('service.want\tdb\tfailed\tcontroller\t1001\tgave up')
        self.f.model.flush()
        f = self.fams()
        self.assertEqual(value(f, 'daemonproxy_service_failed', '{service="db"}'), 1)
        self.f.event('service.state\tweb\tdeleted\t-\t-\t-\t-\t-\t-')
        self.f.model.flush()
        f = self.fams()
        self.assertNotIn('{service="web"}',
                         [l for l, _ in f['daemonproxy_service_up']['samples']])

    @unittest.skipIf(text_string_to_metric_families is None,
                     'prometheus_client not installed (Debian: python3-prometheus-client)')
    def test_a_real_parser_reads_it(self):
        fams = {f.name: f for f in text_string_to_metric_families(self.f.model.metrics().decode())}
        self.assertEqual(fams['daemonproxy_service_restarts'].type, 'counter')
        up = {s.labels['service']: s.value for s in fams['daemonproxy_service_up'].samples}
        self.assertEqual(up, {'web': 1, 'db': 1, 'crash': 0})


if __name__ == '__main__':
    unittest.main()
