"""The Prometheus text exposition format (version 0.0.4), no I/O.

The official exporters' conventions: every name has the ``daemonproxy_``
prefix (dpweb's own ones ``daemonproxy_web_``, its process the client
libraries' ``process_``), counters end in ``_total``, values are in base
units (seconds, bytes), and each family has ``# HELP`` and ``# TYPE``
before its samples, all of them together.  A label value escapes
backslash, double quote and newline; a HELP text backslash and newline.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

__all__ = ['CONTENT_TYPE', 'escape_label', 'escape_help', 'labels', 'header', 'sample',
           'number']

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'


def escape_label(value: str) -> str:
    """A label value as it goes between the double quotes."""
    if '\\' in value or '"' in value or '\n' in value:
        value = value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')
    return value


def escape_help(text: str) -> str:
    return text.replace('\\', '\\\\').replace('\n', '\\n')


def labels(pairs: Iterable[Tuple[str, str]]) -> str:
    """``{a="x",b="y"}`` (escaped), or '' for no pairs."""
    inner = ','.join('%s="%s"' % (k, escape_label(v)) for k, v in pairs)
    return '{%s}' % inner if inner else ''


def number(v: float) -> str:
    """A sample value: integers without a decimal point, NaN and infinities
    as the format spells them."""
    if isinstance(v, bool):
        return '1' if v else '0'
    if isinstance(v, int):
        return str(v)
    if v != v:
        return 'NaN'
    if v in (float('inf'), float('-inf')):
        return '+Inf' if v > 0 else '-Inf'
    return repr(float(v))


def header(name: str, kind: str, help_text: str) -> str:
    return '# HELP %s %s\n# TYPE %s %s\n' % (name, escape_help(help_text), name, kind)


def sample(name: str, label_text: str, value: float) -> str:
    return '%s%s %s\n' % (name, label_text, number(value))


def family(name: str, kind: str, help_text: str, samples: List[Tuple[str, float]]) -> str:
    """A whole family: header, then (label text, value) samples."""
    return header(name, kind, help_text) + ''.join(sample(name, l, v) for l, v in samples)


#: Per-service families: name -> (type, help).  The order is the output's.
SERVICE_FAMILIES: Dict[str, Tuple[str, str]] = {
    'daemonproxy_service_up': (
        'gauge', '1 while the service runs (state up), else 0.'),
    'daemonproxy_service_ready': (
        'gauge', '1 while the service is up and ready: READY=1 for a service with a '
                 'notification channel, up for one without (dpctl status READY).'),
    'daemonproxy_service_uptime_seconds': (
        'gauge', 'Seconds the current run has lasted; 0 when not up.'),
    'daemonproxy_service_desired_state': (
        'gauge', 'The desired state (service.want): 1 for the one recorded '
                 '(up, down or failed), 0 for the others; all 0 without one.'),
    'daemonproxy_service_failed': (
        'gauge', '1 while a policy gave the service up (wanted failed), else 0.'),
    'daemonproxy_service_restarts_total': (
        'counter', 'Runs that began after an exit of the service (counted by dpweb since '
                   'it first saw the service, from the exits daemonproxy had counted then).'),
    'daemonproxy_service_exits_total': (
        'counter', 'Exits of the service by reason (exit or signal) and value (exit code or '
                   'signal name), counted by dpweb; exits before it started whose detail '
                   'daemonproxy no longer keeps have reason "unknown".'),
}
