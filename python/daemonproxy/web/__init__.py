"""dpweb: a web page, a JSON API and Prometheus metrics for daemonproxy.

A client of the control socket like dpctl (one connection, the library's
mirror kept by a statedump and the events), serving over HTTP what it
knows: ``python3 -m daemonproxy.web`` or ``dpweb`` (see ``dpweb --help``
and docs/dpweb.1).  Standard library only.

Modules: ``model`` (the rows, counters, history and batches, no I/O),
``metrics`` (the Prometheus text format), ``feed`` (the thread that owns
the connection and runs the actions), ``security`` (tokens, Host and
Origin rules), ``logs`` (a service's log directory), ``server`` (HTTP and
Server-Sent Events), ``__main__`` (the command line).  It uses only the
public API of the daemonproxy library (tests/python/test_library_rules.py).
"""
