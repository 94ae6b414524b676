"""dpcontroller, the reference controller for daemonproxy.

It runs the services of a TOML file (see :mod:`.config`) with restart
policies and back-off, dependencies and readiness, logger pairing,
ordered shutdown, reload on SIGHUP and crash safety.  Python 3.11+
(tomllib); the rest of the daemonproxy package keeps to 3.9.

Modules: ``config`` (reading and checking the file, the dependency
graph), ``policy`` (decisions as pure functions), ``controller`` (the
event loop), ``__main__`` (the command line: ``dpcontroller FILE``,
``dpcontroller --check FILE``).
"""
