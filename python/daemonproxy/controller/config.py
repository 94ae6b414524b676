"""Reading and checking the controller's TOML file.

:func:`load` reads a file and returns a :class:`Config`, or raises
:class:`ConfigError` listing every problem found, each as
``FILE: KEY: what is wrong`` (KEY like ``service.web.restart``).  Nothing
here talks to daemonproxy; :func:`parse` does the same for a dict.

The file::

    [controller]                    # optional
    main = "app"                    # container mode (see README): app's restart
                                    # defaults to "never", and its exit ends all
    shutdown_timeout = 30           # seconds for the whole shutdown
    exit_code = 0                   # terminate code of a normal shutdown
    log_dir = "/var/log/daemonproxy"  # where log = true writes (DIR/NAME)

    [service.web]
    run = ["httpd", "-f"]           # required
    env = { PORT = "8080" }
    env_file = "-/etc/default/web"  # or a list; systemd's EnvironmentFile= syntax,
                                    # read at each start; "-": optional; env wins
    cwd = "/srv/www"
    stdin = "null"                  # null | stdout | stderr | log
    stdout = "stdout"
    stderr = "stderr"
    log = ["svlogd", "/var/log/web"]  # or log = true: dplog (see below)
    restart = "always"              # always | on-failure | never
    backoff_base = 1
    backoff_max = 60
    backoff_reset = 30
    start_limit = "5/60s"           # N failures in T seconds: failed ("none": no limit)
    requires = ["db"]
    after = ["cache"]
    ready = "up"                    # up | notify | fd | seconds after up
    stop_signal = "SIGTERM"
    stop_timeout = 10
    start_timeout = 30              # not ready within it: a failure (not with ready = "up")
    autostart = true                # false: defined, started only by dpctl start
    type = "simple"                 # "oneshot": runs to completion; ready at exit 0
    user = "www"                    # or a uid; what it runs as (daemonproxy's service.opts)
    group = "www"                   # default: the user's primary group
    groups = ["adm"]                # supplementary; default: the user's; [] none
    umask = "0027"                  # octal digits (a string), or an integer (0o027)
    nice = 5                        # -20 to 19
    limits = { nofile = 65536, core = "infinity", nproc = "100:200" }  # "SOFT:HARD"
    no_new_privs = true
    capabilities = ["cap_net_bind_service"]  # ambient; needs user (not root)

    [service.api.log]               # dplog as api's logger (log = true: all defaults)
    dir = "/srv/api/log"            # default: log_dir/NAME
    max_size = "1M"                 # rotate before current exceeds it (bytes, or k/M/G)
    keep = 10                       # rotated files kept (or "all")
    timestamps = "rfc3339"          # rfc3339 | tai64n | none
    stdout = false                  # also "api: line" on daemonproxy's stdout

With ``log = true`` (or that table) the logger ``NAME.log`` runs
``dplog [options] DIR``, found in daemonproxy's PATH like any program,
and the service and its logger carry the tag ``log_dir=DIR``
(docs/protocol.md: how ``dpctl logs NAME`` finds the files).  In
container mode (``main`` set) without ``dir`` or ``log_dir``, the lines
go to daemonproxy's stdout only, prefixed (``dplog -o NAME``).  The
dplog options are the logger's definition, not the service's: a change
of them restarts the logger alone.

The execution attributes (``user`` to ``capabilities``, and ``cwd``)
are daemonproxy's ``service.opts`` words (docs/protocol.md, "Execution
attributes"): daemonproxy looks the names up when the controller
defines the service, and applies them in the child before the exec.  A
logger (``log``) runs as daemonproxy does, whatever its service's
``user``: its directory and its own attributes are the host's, not the
service's, and a service cannot then rewrite its own logs.

Everything that reaches a protocol line is checked against what the daemon
accepts, so that ``--check`` passes only a file the controller can run:
no control character (TAB, newline...) in any string, environment
variable names of the portable kind (``[A-Za-z_][A-Za-z0-9_]*``), a
stop signal of the daemon's own table (:data:`~daemonproxy.protocol.SIGNAL_NAMES`
or a number), and every command line within the daemon's 4,096 bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import tomllib
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple, Union, cast, get_args

from ..errors import InvalidArgument
from ..protocol import CAPABILITIES, LIMIT_RESOURCES, SIGNAL_NAMES, check_command, check_signal
from .envfile import split_optional

__all__ = ['Config', 'ConfigError', 'Service', 'load', 'parse', 'start_order', 'find_cycle',
           'RestartPolicy', 'ReadyKind', 'ServiceType', 'StdioTarget', 'DEFAULT_START_LIMIT',
           'parse_start_limit', 'describe_start_limit', 'default_log_dir', 'parse_size',
           'DPLOG', 'TIMESTAMP_FORMATS']

NAME_RE = re.compile(r'[A-Za-z0-9._-]{1,31}\Z')
# The portable names (POSIX's, and what a shell can set); the daemon takes
# more, but a name with a space or a '.' is not one a program looks up.
ENV_VAR_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,254}\Z')
LOG_SUFFIX = '.log'
# The values a key takes are strings in the file and stay strings here
# (Literal types, not Enums: code that compares them to strings, and the
# definition hash, go on as before).
#: ``restart``: when a service that stopped is started again.
RestartPolicy = Literal['always', 'on-failure', 'never']
#: ``stdin``/``stdout``/``stderr``: what each of a service's fds 0-2 is.
StdioTarget = Literal['null', 'stdout', 'stderr', 'log']
#: ``ready`` (when not a number of seconds after up): when a service
#: counts as ready.
ReadyKind = Literal['up', 'notify', 'fd']
#: ``type``: a service that runs (``simple``), or one that runs to
#: completion and counts as ready when it exits 0 (``oneshot``: s6-rc's
#: oneshots, systemd's Type=oneshot).
ServiceType = Literal['simple', 'oneshot']
RESTART_POLICIES: Tuple[RestartPolicy, ...] = get_args(RestartPolicy)
STDIO_TARGETS: Tuple[StdioTarget, ...] = get_args(StdioTarget)
READY_KINDS: Tuple[ReadyKind, ...] = get_args(ReadyKind)
SERVICE_TYPES: Tuple[ServiceType, ...] = get_args(ServiceType)

#: The restart rule of the main service (container mode) when its table
#: has no ``restart``: when it exits, everything stops and daemonproxy
#: exits with its code.  An explicit ``restart`` is the user's choice.
MAIN_RESTART: RestartPolicy = 'never'
#: A oneshot's restart rule when its table has none: a failure marks it
#: failed at once (systemd's Type=oneshot default, Restart=no).
ONESHOT_RESTART: RestartPolicy = 'never'

#: The execution attributes: sent as daemonproxy's service.opts words.
ATTRIBUTE_KEYS = ('user', 'group', 'groups', 'umask', 'nice', 'limits', 'no_new_privs',
                  'capabilities')
CONTROLLER_KEYS = ('main', 'shutdown_timeout', 'exit_code', 'log_dir')
SERVICE_KEYS = ('run', 'env', 'cwd', 'stdin', 'stdout', 'stderr', 'log', 'restart',
                'backoff_base', 'backoff_max', 'backoff_reset', 'start_limit', 'requires',
                'after', 'ready', 'stop_signal', 'stop_timeout', 'env_file', 'start_timeout',
                'autostart', 'type') + ATTRIBUTE_KEYS
#: ``start_limit`` when the file gives none: 5 failures within 60 s mark a
#: service failed.  systemd's default is 5 starts in 10 s, but it restarts
#: after 100 ms; with our back-off (1, 2, 4, 8 s) five quick failures take
#: 15 s, so 60 s is the window that catches a service that keeps failing
#: within about ten seconds of each start.
DEFAULT_START_LIMIT = (5, 60.0)
#: The keys of a ``[service.NAME.log]`` table (dplog's options).
LOG_KEYS = ('dir', 'max_size', 'keep', 'timestamps', 'stdout')
#: The logger of ``log = true``: looked up in daemonproxy's PATH, as a
#: ``run`` program is (check.py).
DPLOG = 'dplog'
TIMESTAMP_FORMATS = ('rfc3339', 'tai64n', 'none')
#: dplog's smallest ``--size`` (below 8 KiB + 64, dplog shortens its
#: records to fit: a record never spans files).
LOG_SIZE_MIN = 4096
LOG_SIZE_MAX = 1 << 40
SIZE_RE = re.compile(r'\s*(\d+)\s*([kKmMgG]?)\s*\Z')
_SIZE_UNITS = {'': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}
#: A service name that cannot be a directory of log_dir.
UNFIT_DIR_NAMES = ('.', '..')
#: A user or group: a name, or a decimal id (daemonproxy's range).
ID_MAX = 2 ** 32 - 2
#: A limit's value: daemonproxy's range.
LIMIT_MAX = 2 ** 63 - 1
LIMIT_RE = re.compile(r'\s*(\d+|infinity)\s*(?::\s*(\d+|infinity)\s*)?\Z')
START_LIMIT_RE = re.compile(r'\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*\Z')
_UNIT_SECONDS = {None: 1, 's': 1, 'm': 60, 'h': 3600}


class ConfigError(Exception):
    """The file is unusable.  ``problems`` lists every message."""

    def __init__(self, problems: List[str]) -> None:
        super().__init__('\n'.join(problems))
        self.problems = problems


@dataclass(slots=True)
class Service:
    """One service as the controller runs it (loggers included: a service
    with ``log`` gets a companion ``NAME.log`` with ``logger_of`` set)."""

    name: str
    run: Tuple[str, ...]
    env: Tuple[Tuple[str, str], ...] = ()
    cwd: Optional[str] = None
    stdin: StdioTarget = 'null'
    stdout: StdioTarget = 'stdout'
    stderr: StdioTarget = 'stderr'
    log: Tuple[str, ...] = ()
    restart: RestartPolicy = 'always'
    backoff_base: float = 1
    backoff_max: float = 60
    backoff_reset: float = 30
    #: at most this many failures within start_limit_interval seconds: the
    #: last one marks it failed (0: no limit)
    start_limit_burst: int = DEFAULT_START_LIMIT[0]
    start_limit_interval: float = DEFAULT_START_LIMIT[1]
    requires: Tuple[str, ...] = ()
    after: Tuple[str, ...] = ()
    ready: Union[ReadyKind, float] = 'up'
    stop_signal: str = 'SIGTERM'
    stop_timeout: float = 10
    logger_of: Optional[str] = None
    #: env_file's entries as written (a leading '-': optional), read at
    #: each start by the controller (envfile.py)
    env_file: Tuple[str, ...] = ()
    #: seconds from up to ready before the run counts as a failure (None: no limit)
    start_timeout: Optional[float] = None
    #: False: defined, but started only when wanted up (dpctl start)
    autostart: bool = True
    #: 'oneshot': ready (for what requires it) when it exits 0; a failure
    #: that is not restarted marks it failed
    type: ServiceType = 'simple'
    #: its logger is dplog (log = true, or a [service.NAME.log] table):
    #: the logger's options are then the logger's definition, not this one's
    dplog: bool = False
    #: where its logger writes (a service with a dplog logger writing
    #: files, and that logger): published as the tag log_dir=DIR
    log_dir: Optional[str] = None
    #: the execution attributes (ATTRIBUTE_KEYS), as the file gives them:
    #: user and group a name or a decimal id; groups None when not set
    #: (the user's), () for none; limits (RESOURCE, "V" or "SOFT:HARD")
    #: in LIMIT_RESOURCES order; capabilities as cap_NAME, by number
    user: Optional[str] = None
    group: Optional[str] = None
    groups: Optional[Tuple[str, ...]] = None
    umask: Optional[int] = None
    nice: Optional[int] = None
    limits: Tuple[Tuple[str, str], ...] = ()
    no_new_privs: bool = False
    capabilities: Tuple[str, ...] = ()

    def attributes(self) -> List[str]:
        """Its execution attributes as daemonproxy's service.opts words,
        in the daemon's order (cwd too: daemonproxy changes directory)."""
        words = ['%s=%s' % (k, getattr(self, k)) for k in ('user', 'group')
                 if getattr(self, k) is not None]
        if self.groups is not None:
            words.append('groups=' + ','.join(self.groups))
        if self.umask is not None:
            words.append('umask=%04o' % self.umask)
        if self.nice is not None:
            words.append('nice=%d' % self.nice)
        words += ['limit-%s=%s' % kv for kv in self.limits]
        if self.no_new_privs:
            words.append('no-new-privs')
        if self.cwd is not None:
            words.append('cwd=' + self.cwd)
        if self.capabilities:
            words.append('caps=' + ','.join(self.capabilities))
        return words

    @property
    def logger(self) -> Optional[str]:
        """The name of this service's logger, if it has one."""
        return self.name + LOG_SUFFIX if self.log else None

    @property
    def pipe(self) -> Tuple[str, str]:
        """The handles of the log pipe (read end, write end) of a service
        with ``log`` (or of a logger: its service's pipe)."""
        base = self.logger_of + LOG_SUFFIX if self.logger_of else self.name + LOG_SUFFIX
        return base + '.r', base + '.w'

    def definition(self) -> dict:
        """What daemonproxy is told about the service: a change here means
        the running process is out of date (policy settings are not in it:
        they change without a restart)."""
        d = {'run': list(self.run), 'env': [list(e) for e in self.env], 'cwd': self.cwd,
             'stdio': [self.stdin, self.stdout, self.stderr],
             # for dplog, only that it has one: a new max_size restarts
             # the logger (whose run it is), never the service
             'log': True if self.dplog else list(self.log),
             'ready': 'notify' if self.ready == 'notify' else
                      'fd' if self.ready == 'fd' else 'up'}
        if self.env_file:
            # the paths, not what they hold: read at each start, as
            # systemd does (a changed file counts at the next start); only
            # when set, so that the hash of every other service stays
            d['env_file'] = list(self.env_file)
        attrs = [w for w in self.attributes() if not w.startswith('cwd=')]
        if attrs:
            # only when set, as env_file: 'cwd' above is the same key as
            # before (then an env -C chain-loader, now daemonproxy's cwd=)
            d['attributes'] = attrs
        return d

    @property
    def hash(self) -> str:
        """Short sha256 of :meth:`definition`, kept in the service's tags."""
        text = json.dumps(self.definition(), sort_keys=True, separators=(',', ':'))
        return hashlib.sha256(text.encode('utf-8', 'surrogateescape')).hexdigest()[:12]


@dataclass
class Config:
    """A checked file: services by name (loggers included), in file order."""

    path: str
    services: Dict[str, Service] = field(default_factory=dict)
    main: Optional[str] = None
    shutdown_timeout: float = 30
    exit_code: int = 0
    #: [controller] log_dir, None when the file does not set it
    log_dir: Optional[str] = None
    #: service name -> the key its log directory comes from
    #: (``service.NAME.log.dir`` or ``controller.log_dir``), for messages
    log_dir_keys: Dict[str, str] = field(default_factory=dict)

    def dependencies(self, name: str) -> Tuple[str, ...]:
        """What name waits for: requires, then after."""
        s = self.services[name]
        return s.requires + tuple(a for a in s.after if a not in s.requires)

    def dependents(self) -> Dict[str, List[str]]:
        """name -> the services that wait for it."""
        out: Dict[str, List[str]] = {n: [] for n in self.services}
        for n in self.services:
            for d in self.dependencies(n):
                out[d].append(n)
        return out


# --- reading ------------------------------------------------------------------------

def load(path: str) -> Config:
    """Read and check the file at path.  Raises ConfigError."""
    try:
        with open(path, 'rb') as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(['%s: cannot read: %s' % (path, e.strerror or e)])
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(['%s: not valid TOML: %s' % (path, e)])
    return parse(data, path)


def parse(data: dict, path: str = '<config>') -> Config:
    """Check a decoded TOML document.  Raises ConfigError."""
    problems: List[str] = []

    def bad(key: str, msg: str) -> None:
        problems.append('%s: %s: %s' % (path, key, msg))

    cfg = Config(path)
    for key in data:
        if key not in ('controller', 'service'):
            bad(key, 'unknown table (expected [controller] or [service.NAME])')
    ctl = data.get('controller', {})
    if not isinstance(ctl, dict):
        bad('controller', 'must be a table')
        ctl = {}
    _check_controller(ctl, cfg, bad)
    services = data.get('service', {})
    if not isinstance(services, dict):
        bad('service', 'must be tables [service.NAME]')
        services = {}
    for name, table in services.items():
        key = 'service.' + name
        if not isinstance(table, dict):
            bad(key, 'must be a table')
            continue
        if not NAME_RE.match(name):
            bad(key, 'invalid service name (1 to 31 bytes of A-Z a-z 0-9 . _ -)')
            continue
        svc = _check_service(name, table, key, bad, cfg)
        if svc is None:
            continue
        if name == cfg.main and 'restart' not in table:
            svc.restart = MAIN_RESTART
        cfg.services[name] = svc
        if svc.log:
            _add_logger(cfg, svc, data['service'], key, bad)
    _check_references(cfg, bad)
    _check_log_dirs(cfg, bad)
    _check_lines(cfg, bad)
    if cfg.main is not None and cfg.main not in cfg.services:
        bad('controller.main', 'no service named %r' % cfg.main)
    if not problems:
        cycle = find_cycle(cfg)
        if cycle:
            bad('service.%s' % cycle[0], 'dependency cycle: %s' % ' -> '.join(cycle))
    if problems:
        raise ConfigError(problems)
    return cfg


def _check_controller(ctl: dict, cfg: Config, bad) -> None:
    for key, value in ctl.items():
        k = 'controller.' + key
        if key not in CONTROLLER_KEYS:
            bad(k, 'unknown key (expected one of %s)' % ', '.join(CONTROLLER_KEYS))
        elif key == 'main':
            if not isinstance(value, str) or not NAME_RE.match(value):
                bad(k, 'must be a service name')
            else:
                cfg.main = value
        elif key == 'shutdown_timeout':
            if _seconds(value, k, bad, positive=True) is not None:
                cfg.shutdown_timeout = value
        elif key == 'exit_code':
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                bad(k, 'must be an integer from 0 to 255')
            else:
                cfg.exit_code = value
        elif key == 'log_dir':
            why = _dir_problem(value)
            if why is not None:
                bad(k, why)
            else:
                cfg.log_dir = os.path.normpath(value)


def default_log_dir(euid: Optional[int] = None, environ=None) -> str:
    """Where ``log = true`` writes when ``[controller] log_dir`` is not
    set: /var/log/daemonproxy for root, else the XDG state directory's
    daemonproxy/log ($XDG_STATE_HOME, or ~/.local/state)."""
    euid = os.geteuid() if euid is None else euid
    env = os.environ if environ is None else environ
    if euid == 0:
        return '/var/log/daemonproxy'
    state = env.get('XDG_STATE_HOME', '')
    if not state.startswith('/'):              # unset, or relative: invalid (XDG)
        home = env.get('HOME', '')
        if not home.startswith('/'):
            import pwd
            try:
                home = pwd.getpwuid(euid).pw_dir
            except KeyError:
                home = '/'
        state = os.path.join(home, '.local', 'state')
    return os.path.join(state, 'daemonproxy', 'log')


def _dir_problem(value: object) -> Optional[str]:
    """Why value is no usable log directory, or None."""
    if not isinstance(value, str) or not value or _has_control(value):
        return 'must be a directory path (without control characters), not %r' % (value,)
    if not value.startswith('/'):
        return 'must be an absolute path (daemonproxy and the logger may run elsewhere), ' \
               'not %r' % value
    return None


def parse_size(value: object) -> Optional[int]:
    """A log file size: bytes (an integer) or a string with k, M or G
    (binary: 1M = 1048576), from LOG_SIZE_MIN; None if it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and SIZE_RE.match(value):
        m = SIZE_RE.match(value)
        n = int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]   # type: ignore[union-attr]
    else:
        return None
    return n if LOG_SIZE_MIN <= n <= LOG_SIZE_MAX else None


def _seconds(value: object, key: str, bad, positive: bool = False) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
            or value != value or value > 10 ** 7 or (positive and value == 0):
        bad(key, 'must be a number of seconds (%s)' % ('> 0' if positive else '>= 0'))
        return None
    return value


def _strings(value: object, key: str, bad, nonempty: bool = False) -> Optional[Tuple[str, ...]]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad(key, 'must be a list of strings')
        return None
    if nonempty and not value:
        bad(key, 'must not be empty')
        return None
    for v in value:
        if _has_control(v):
            bad(key, 'control characters (TAB, newline...) are not allowed: %r' % v)
            return None
    return tuple(value)


def _signal_name(value: object) -> Optional[str]:
    """value as the daemon's service.signal takes it (a name of its table,
    a number for the others), or None if the daemon would refuse it."""
    try:
        sig = check_signal(value)                              # type: ignore[arg-type]
    except InvalidArgument:
        return None
    if sig.isdigit():
        try:
            name = signal.Signals(int(sig)).name
        except ValueError:
            return sig
        return name if name in SIGNAL_NAMES else sig
    return sig


def _has_control(s: str) -> bool:
    return any(ord(c) < 0x20 for c in s)


def _check_service(name: str, table: dict, key: str, bad, cfg: Config) -> Optional[Service]:
    svc = Service(name, ())
    ok = True

    def fail(k: str, msg: str) -> None:
        nonlocal ok
        ok = False
        bad(key + '.' + k, msg)

    for k, v in table.items():
        if k not in SERVICE_KEYS:
            fail(k, 'unknown key (expected one of %s)' % ', '.join(SERVICE_KEYS))
        elif k == 'log' and (v is True or isinstance(v, dict)):
            dplog = _dplog_argv(name, {} if v is True else v, cfg, fail)
            if dplog is not None:
                svc.log, svc.log_dir = dplog
                svc.dplog = True
        elif k == 'log' and v is False:
            pass                                        # no logger, said plainly
        elif k == 'log' and not isinstance(v, list):
            fail(k, 'must be true (dplog), a table [%s.log] of dplog settings, or a '
                    "logger's argv (a list of strings), not %r" % (key, v))
        elif k in ('run', 'log'):
            argv = _strings(v, key + '.' + k, fail_key(fail, k), nonempty=True)
            if argv is not None and not argv[0]:
                fail(k, 'the program (the first string) must not be empty')
            elif argv is not None:
                setattr(svc, k, argv)
        elif k == 'env':
            if not isinstance(v, dict):
                fail(k, 'must be a table of VAR = "value"')
                continue
            for var, val in v.items():
                # a name with a newline would break the message's line: quoted
                vkey = 'env.' + (repr(var) if _has_control(var) else var)
                if not ENV_VAR_RE.match(var):
                    fail(vkey, 'invalid variable name (1 to 255 of A-Z a-z 0-9 _, not '
                               'starting with a digit)')
                elif not isinstance(val, str) or _has_control(val):
                    fail(vkey, 'must be a string without control characters (TAB, '
                               'newline...), not %r' % (val,))
            svc.env = tuple(sorted((str(a), str(b)) for a, b in v.items()))
        elif k == 'cwd':
            if not isinstance(v, str) or not v or _has_control(v):
                fail(k, 'must be a directory path (without control characters), not %r'
                        % (v,))
            else:
                svc.cwd = v
        elif k in ATTRIBUTE_KEYS:
            _check_attribute(svc, k, v, fail)
        elif k in ('stdin', 'stdout', 'stderr'):
            if v not in STDIO_TARGETS:
                fail(k, 'must be one of %s' % ', '.join('"%s"' % t for t in STDIO_TARGETS))
            else:
                setattr(svc, k, v)
        elif k == 'restart':
            if v not in RESTART_POLICIES:
                fail(k, 'must be one of %s' % ', '.join('"%s"' % p for p in RESTART_POLICIES))
            else:
                svc.restart = v
        elif k in ('backoff_base', 'backoff_max', 'backoff_reset', 'stop_timeout'):
            if _seconds(v, key + '.' + k, fail_key(fail, k), positive=(k != 'backoff_reset')) \
                    is not None:
                setattr(svc, k, v)
        elif k == 'start_limit':
            limit = parse_start_limit(v)
            if limit is None:
                fail(k, 'must be "N/T" (N failures within T seconds mark it failed; T may end '
                        'in s, m or h; N from 1 to 100) or "none", not %r' % (v,))
            else:
                svc.start_limit_burst, svc.start_limit_interval = limit
        elif k == 'env_file':
            files = _strings([v] if isinstance(v, str) else v, key + '.' + k,
                             fail_key(fail, k), nonempty=True)
            if files is not None:
                for f in files:
                    if not split_optional(f)[0].startswith('/'):
                        fail(k, 'must be an absolute path (with a leading "-" if optional), '
                                'not %r' % f)
                        break
                else:
                    svc.env_file = tuple(files)
        elif k == 'start_timeout':
            if _seconds(v, key + '.' + k, fail_key(fail, k), positive=True) is not None:
                svc.start_timeout = v
        elif k == 'type':
            if v not in SERVICE_TYPES:
                fail(k, 'must be one of %s, not %r'
                        % (', '.join('"%s"' % t for t in SERVICE_TYPES), v))
            else:
                svc.type = v
        elif k == 'autostart':
            if not isinstance(v, bool):
                fail(k, 'must be true or false, not %r' % (v,))
            else:
                svc.autostart = v
        elif k in ('requires', 'after'):
            names = _strings(v, key + '.' + k, fail_key(fail, k))
            if names is not None:
                setattr(svc, k, tuple(dict.fromkeys(names)))
        elif k == 'ready':
            if isinstance(v, str) and v in READY_KINDS:
                svc.ready = cast(ReadyKind, v)
            elif not isinstance(v, str) and _seconds(v, key + '.ready', lambda *_: None) \
                    is not None:
                svc.ready = v
            else:
                fail(k, 'must be "up", "notify", "fd" or a number of seconds')
        elif k == 'stop_signal':
            sig = _signal_name(v)
            if sig is None:
                fail(k, 'unknown signal %r (a number from 1 to %d, or a name daemonproxy '
                        'knows: %s)' % (v, signal.SIGRTMAX,
                                        ' '.join(n[3:] for n in SIGNAL_NAMES)))
            else:
                svc.stop_signal = sig
    if 'run' not in table:
        fail('run', 'missing (the program and its arguments, a list of strings)')
    if svc.log:
        if len(name) + len(LOG_SUFFIX) + 2 > 31:
            fail('log', 'a service with a logger needs a name of at most 25 bytes '
                        '(for the handles %s.log.r/.w)' % name)
    else:
        for k in ('stdin', 'stdout', 'stderr'):
            if getattr(svc, k) == 'log' and k in table:
                fail(k, '"log" needs a log = [...] logger')
    if 'stdin' in table and table['stdin'] == 'log':
        fail('stdin', '"log" is an output: stdin cannot read from the log pipe')
    if svc.log:
        for k in ('stdout', 'stderr'):
            if k not in table:
                setattr(svc, k, 'log')
    if ok and svc.backoff_max < svc.backoff_base:
        fail('backoff_max', 'must not be less than backoff_base')
    if ok and svc.type == 'oneshot':
        if 'ready' in table:
            fail('ready', 'a oneshot is ready when it exits 0: no ready key')
        if table.get('restart') == 'always':
            fail('restart', 'a oneshot is not restarted after exit 0: "on-failure" or '
                            '"never" (its default)')
        elif 'restart' not in table:
            svc.restart = ONESHOT_RESTART
    if ok and svc.start_timeout is not None and svc.type != 'oneshot':
        if svc.ready == 'up':
            fail('start_timeout', 'needs ready = "notify", "fd" or seconds (with "up" a '
                                  'service is ready as soon as it runs)')
        elif not isinstance(svc.ready, str) and svc.ready >= svc.start_timeout:
            fail('start_timeout', 'must be more than ready = %g (it could never be ready '
                                  'in time)' % svc.ready)
    if ok and svc.capabilities and svc.user in (None, '0', 'root'):
        fail('capabilities', 'needs user = a user that is not root (root gets every '
                             'capability at the exec)')
    if ok and not svc.autostart and name == cfg.main:
        fail('autostart', 'the main service (controller.main) must start: its exit ends '
                          'everything')
    return svc if ok else None


def _check_attribute(svc: Service, k: str, v: object, fail) -> None:
    """One execution attribute key (ATTRIBUTE_KEYS) into svc, or fail:
    its form and range as daemonproxy takes them (whether a user exists is
    --check's, and daemonproxy's when the service is defined)."""
    if k in ('user', 'group'):
        ident = _ident(v)
        if ident is None:
            fail(k, 'must be a %s name or a number from 0 to %d, not %r'
                    % (k, ID_MAX, v))
        else:
            setattr(svc, k, ident)
    elif k == 'groups':
        ids = [_ident(g) for g in v] if isinstance(v, list) else [None]
        if None in ids:
            fail(k, 'must be a list of group names or numbers ([]: none), not %r' % (v,))
        else:
            svc.groups = tuple(dict.fromkeys(cast(List[str], ids)))
    elif k == 'umask':
        mask = v if isinstance(v, int) and not isinstance(v, bool) else \
            int(v, 8) if isinstance(v, str) and re.fullmatch('[0-7]{1,4}', v) else None
        if mask is None or not 0 <= mask <= 0o777:
            fail(k, 'must be octal digits in a string ("0027") or an integer (0o027), '
                    'at most 0777, not %r' % (v,))
        else:
            svc.umask = mask
    elif k == 'nice':
        if isinstance(v, bool) or not isinstance(v, int) or not -20 <= v <= 19:
            fail(k, 'must be an integer from -20 to 19, not %r' % (v,))
        else:
            svc.nice = v
    elif k == 'limits':
        if not isinstance(v, dict):
            fail(k, 'must be a table: { nofile = 65536, core = "infinity", nproc = '
                    '"100:200" }, not %r' % (v,))
            return
        limits = {}
        for res, value in v.items():
            rkey = 'limits.' + (repr(res) if _has_control(res) else res)
            if res not in LIMIT_RESOURCES:
                fail(rkey, 'unknown resource (expected one of %s)' % ', '.join(LIMIT_RESOURCES))
                continue
            why, word = _limit(value)
            if why is not None:
                fail(rkey, why)
            else:
                limits[res] = word
        svc.limits = tuple((r, limits[r]) for r in LIMIT_RESOURCES if r in limits)
    elif k == 'no_new_privs':
        if not isinstance(v, bool):
            fail(k, 'must be true or false, not %r' % (v,))
        else:
            svc.no_new_privs = v
    elif k == 'capabilities':
        names = [name.lower() for name in v] if isinstance(v, list) and \
            all(isinstance(name, str) for name in v) else None
        if names is None:
            fail(k, 'must be a list of capability names (["cap_net_bind_service"]), not %r'
                    % (v,))
            return
        unknown = [name for name in names if name.removeprefix('cap_') not in CAPABILITIES]
        if unknown:
            fail(k, 'no such capability %r (capabilities(7): cap_net_bind_service, ...)'
                    % unknown[0])
        else:
            nums = sorted({CAPABILITIES.index(name.removeprefix('cap_')) for name in names})
            svc.capabilities = tuple('cap_' + CAPABILITIES[n] for n in nums)


def _ident(value: object) -> Optional[str]:
    """A user or group as daemonproxy takes it (a name, or a decimal id
    as a string or an integer), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if 0 <= value <= ID_MAX else None
    if not isinstance(value, str) or not value or _has_control(value) \
            or ',' in value or value != value.strip():
        return None
    if value.isdigit() and int(value) > ID_MAX:
        return None
    return value


def _limit(value: object) -> Tuple[Optional[str], str]:
    """(why value is no limit, or None; daemonproxy's word for it: "V"
    or "SOFT:HARD")."""
    if isinstance(value, int) and not isinstance(value, bool):
        soft = hard = str(value) if 0 <= value <= LIMIT_MAX else None
    elif isinstance(value, str) and LIMIT_RE.match(value):
        m = LIMIT_RE.match(value)
        soft = m.group(1)                                       # type: ignore[union-attr]
        hard = m.group(2) or soft                               # type: ignore[union-attr]
    else:
        soft = hard = None
    number = [None if x in (None, 'infinity') else int(x) for x in (soft, hard)]
    if soft is None or any(n is not None and n > LIMIT_MAX for n in number):
        return ('must be an integer from 0 to %d, "infinity", or "SOFT:HARD" of those, '
                'not %r' % (LIMIT_MAX, value)), ''
    if hard != 'infinity' and (soft == 'infinity' or number[0] > number[1]):
        return 'the soft limit is above the hard limit: %r' % (value,), ''
    return None, soft if soft == hard else '%s:%s' % (soft, hard)


def parse_start_limit(value: object) -> Optional[Tuple[int, float]]:
    """``"5/60s"`` -> (5, 60.0); ``"none"`` or false -> (0, 0.0), no
    limit; None if value is neither."""
    if value is False or value == 'none':
        return 0, 0.0
    if not isinstance(value, str):
        return None
    m = START_LIMIT_RE.match(value)
    if m is None:
        return None
    burst, interval = int(m.group(1)), float(m.group(2)) * _UNIT_SECONDS[m.group(3)]
    if not 1 <= burst <= 100 or not 0 < interval <= 10 ** 7:
        return None
    return burst, interval


def describe_start_limit(svc: Service) -> str:
    """``"5/60s"``, or ``"none"``: the limit as the file writes it."""
    if not svc.start_limit_burst:
        return 'none'
    return '%d/%gs' % (svc.start_limit_burst, svc.start_limit_interval)


def fail_key(fail, k: str):
    """An error reporter for _strings/_seconds that reports under k."""
    return lambda _key, msg: fail(k, msg)


def _dplog_argv(name: str, table: dict, cfg: Config,
                fail) -> Optional[Tuple[Tuple[str, ...], Optional[str]]]:
    """log = true or a [service.NAME.log] table: dplog's argv and the
    directory it writes (None: prefixed lines on stdout only, container
    mode's default), or None after reporting what is wrong."""
    ok = True

    def bad(k: str, msg: str) -> None:
        nonlocal ok
        ok = False
        fail('log.' + k, msg)

    opts: List[str] = []
    directory: Optional[str] = None
    for k, v in table.items():
        if k not in LOG_KEYS:
            bad(k, 'unknown key (expected one of %s)' % ', '.join(LOG_KEYS))
        elif k == 'dir':
            why = _dir_problem(v)
            if why is not None:
                bad(k, why)
            else:
                directory = os.path.normpath(v)
        elif k == 'max_size':
            size = parse_size(v)
            if size is None:
                bad(k, 'must be a size from %d bytes to 1T: bytes (an integer), or a string '
                       'ending in k, M or G ("64k", "1M"), not %r' % (LOG_SIZE_MIN, v))
                continue
            opts += ['-s', str(size)]
        elif k == 'keep':
            if v != 'all' and (isinstance(v, bool) or not isinstance(v, int)
                               or not 0 <= v <= 1000000):
                bad(k, 'must be how many rotated files to keep (0 to 1000000) or "all", '
                       'not %r' % (v,))
            else:
                opts += ['-n', str(v)]
        elif k == 'timestamps':
            if v not in TIMESTAMP_FORMATS:
                bad(k, 'must be one of %s, not %r'
                       % (', '.join('"%s"' % f for f in TIMESTAMP_FORMATS), v))
            else:
                opts += ['-t', v]
        elif k == 'stdout':
            if not isinstance(v, bool):
                bad(k, 'must be true or false, not %r' % (v,))
    if not ok:
        return None
    if directory is not None:
        cfg.log_dir_keys[name] = 'service.%s.log.dir' % name
    elif cfg.log_dir is not None or cfg.main is None:
        if name in UNFIT_DIR_NAMES:
            bad('dir', 'missing, and the service name %r cannot be a directory of log_dir'
                       % name)
            return None
        directory = os.path.join(cfg.log_dir or default_log_dir(), name)
        cfg.log_dir_keys[name] = 'controller.log_dir'
    copy = table.get('stdout', directory is None)
    if directory is None:
        # container mode without a directory: "NAME: line" on stdout only
        if not copy:
            bad('stdout', 'false, and no dir: the lines would go nowhere (in container mode '
                          'without dir or [controller] log_dir, they go to stdout)')
        for k in ('max_size', 'keep', 'timestamps'):
            if k in table:
                bad(k, 'no files are written (container mode without dir or [controller] '
                       'log_dir: prefixed lines on stdout): set dir')
        if not ok:
            return None
    if copy:
        opts += ['-o', name]
    return (DPLOG,) + tuple(opts) + ((directory,) if directory else ()), directory


def _check_log_dirs(cfg: Config, bad) -> None:
    """Two loggers never share a directory (the second would wait for
    the first's lock for ever)."""
    seen: Dict[str, str] = {}
    for svc in cfg.services.values():
        if svc.log_dir is None or svc.logger_of:
            continue
        other = seen.setdefault(svc.log_dir, svc.name)
        if other != svc.name:
            bad(cfg.log_dir_keys.get(svc.name, 'service.%s.log' % svc.name),
                '%r is service %s\'s log directory too: two loggers cannot share one'
                % (svc.log_dir, other))


def _add_logger(cfg: Config, svc: Service, tables: dict, key: str, bad) -> None:
    lname = svc.name + LOG_SUFFIX
    if lname in tables:
        bad(key + '.log', 'the logger would be named %r, which is defined too' % lname)
        return
    # dplog -o NAME copies lines to its stdout: daemonproxy's (containers)
    copies = svc.dplog and '-o' in svc.log
    cfg.services[lname] = Service(lname, svc.log, stdin='log',
                                  stdout='stdout' if copies else 'stderr',
                                  stderr='stderr', logger_of=svc.name, log_dir=svc.log_dir)
    # the logger runs first, so that the first lines already have a reader
    if lname not in svc.after:
        svc.after = (lname,) + svc.after


def _check_references(cfg: Config, bad) -> None:
    for s in cfg.services.values():
        for k in ('requires', 'after'):
            for other in getattr(s, k):
                if other not in cfg.services:
                    bad('service.%s.%s' % (s.name, k), 'no service named %r' % other)
                elif other == s.name:
                    bad('service.%s.%s' % (s.name, k), 'a service cannot wait for itself')


# The key a command's line comes from, for the messages.
_LINE_KEYS = {'service.args': 'run', 'service.env': 'env', 'service.signal': 'stop_signal'}


def _check_lines(cfg: Config, bad) -> None:
    """Every command the controller would send for a service, checked as
    the daemon reads it (a line of at most 4,096 bytes, no control
    characters), in its longest form (a large failure count and a full
    start-limit window in the tags)."""
    # policy builds the commands and imports this module: import it late
    from .policy import define_commands, pipe_command
    for svc in cfg.services.values():
        cmds = define_commands(svc, 10 ** 9, fails=(10 ** 10,) * svc.start_limit_burst)
        cmds.append(('service.signal', svc.name, svc.stop_signal, 'cgroup'))
        if svc.log:
            cmds.append(pipe_command(svc))
        for cmd in cmds:
            try:
                check_command(cmd)
            except InvalidArgument as e:
                key = _LINE_KEYS.get(cmd[0])
                if cmd[0] == 'service.opts' and svc.cwd is not None:
                    key = 'cwd'                         # the longest word it has
                if svc.logger_of:
                    where = 'service.%s.log' % svc.logger_of
                else:
                    where = 'service.%s%s' % (svc.name, '.' + key if key else '')
                bad(where, 'the daemon would refuse it: %s' % e)


# --- the dependency graph ----------------------------------------------------------

def find_cycle(cfg: Config) -> Optional[List[str]]:
    """A dependency cycle as a list of names (first repeated at the end),
    or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in cfg.services}
    for root in cfg.services:
        if colour[root] != WHITE:
            continue
        path = [root]
        stack = [iter(cfg.dependencies(root))]
        colour[root] = GREY
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = BLACK
                stack.pop()
            elif colour[nxt] == GREY:
                return path[path.index(nxt):] + [nxt]
            elif colour[nxt] == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append(iter(cfg.dependencies(nxt)))
    return None


def start_order(cfg: Config) -> List[List[str]]:
    """The services in waves: each wave depends only on earlier ones
    (within a wave, file order).  Shutdown goes through it backwards."""
    deps = {n: set(cfg.dependencies(n)) for n in cfg.services}
    waves: List[List[str]] = []
    done: set = set()
    while len(done) < len(deps):
        wave = [n for n in cfg.services if n not in done and deps[n] <= done]
        if not wave:
            raise ValueError('dependency cycle')
        waves.append(wave)
        done.update(wave)
    return waves
