"""dpcontroller, the reference controller for daemonproxy.

It runs the services of a TOML file (see :mod:`.config`) with restart
policies and back-off, dependencies and readiness, logger pairing,
ordered shutdown, reload (``dpctl reload`` or SIGHUP), ``dpctl shutdown``,
a bad file at start reported once then waiting for a reload, and crash
safety.  Python 3.11+ (tomllib); the rest of the daemonproxy package
keeps to 3.9.

Modules: ``config`` (reading and checking the file, the dependency
graph), ``check`` (what will run: programs, ``cwd``, loggers, found on
this host), ``requests`` (the ``reload`` and ``shutdown`` requests it
serves: their lines), ``policy`` (decisions as pure functions), ``unit`` (one record per
service and its phase: stopped, waiting, starting, ready, stopping,
finished, gave-up), ``controller`` (the event loop; the one place a phase
changes, ``Controller.set_phase``, which logs each change; the timer
table), ``__main__`` (the command line: ``dpcontroller FILE``,
``dpcontroller --check FILE``).  It uses only the public API of the
daemonproxy library (tests/python/test_library_rules.py checks).
"""
