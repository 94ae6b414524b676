"""A managed service as the controller sees it: one :class:`Unit` record
per service, in exactly one :class:`Phase`.

Only :meth:`Controller.set_phase <daemonproxy.controller.controller.Controller.set_phase>`
changes a unit's phase (it logs each change and cancels the timers the
phase it leaves owned); everything else here is data.  Nothing in a unit
has to survive the controller's crash: what must (the failure count, the
definition hash, a pending start, a shutdown) is kept in daemonproxy, and
:meth:`~daemonproxy.controller.controller.Controller.reconcile` sets the
phases again from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Dict, FrozenSet, Literal, Optional, Tuple

from .config import Service

__all__ = ['Phase', 'NEXT', 'Unit', 'StopPurpose']

#: Why a service is being stopped, which decides what follows once it is
#: down: ``'shutdown'`` (the next shutdown step), ``'remove'`` (delete it:
#: no longer configured), ``'change'`` (define and start it again: its
#: definition changed), ``'wanted-down'`` (someone sent
#: ``service.want→NAME→down``: HELD once down), ``'dependency'`` (it
#: requires a service wanted down, stopped first: WAITING once down),
#: ``'start-timeout'`` (not ready within its start_timeout: once down, a
#: failure for its restart policy).  Strings, as the log lines show them.
StopPurpose = Literal['shutdown', 'remove', 'change', 'wanted-down', 'dependency',
                      'start-timeout']


class Phase(enum.Enum):
    """Where a managed service is in the controller's plan."""

    #: Nothing planned: not started yet, down for a shutdown, or defined
    #: with ``autostart = false`` and not wanted up.  A new unit's phase.
    STOPPED = 'stopped'
    #: To be started once what it requires is ready (or finished) and what
    #: it comes after has started (:attr:`Unit.start_why` says why).
    WAITING = 'waiting'
    #: Started, or a start is due (a back-off start pending in the daemon);
    #: not ready yet.
    STARTING = 'starting'
    #: Running and ready: what requires it may start.
    READY = 'ready'
    #: Being stopped (:attr:`Unit.stop_purpose` says what follows once it
    #: is down and its cgroup empty).
    STOPPING = 'stopping'
    #: Exited 0 and its restart rule says no restart: counts as ready for
    #: what requires it.
    FINISHED = 'finished'
    #: Failed (or what it requires was given up) and not to be restarted.
    GAVE_UP = 'gave-up'
    #: Wanted down in daemonproxy (``service.want→NAME→down``, ``dpctl
    #: stop``): down, and not started until someone wants it up.
    HELD = 'held'
    #: Its start limit was hit: the controller marked it failed
    #: (``service.want→NAME→failed``); not started until someone wants it
    #: up (``dpctl start``), which starts supervising it afresh.
    FAILED = 'failed'


#: The phases each phase may move to.  Any, except that a stop in progress
#: ends only once the service is down (in STOPPED, or WAITING to start
#: again with a changed definition, or HELD / FAILED when it was wanted
#: down / failed), or is asked again with another purpose: a STOPPING
#: unit that a late READY=1 or an exit moved elsewhere would lose what its
#: stop was for.  A move this table does not allow is
#: a bug: set_phase logs it loudly and does not make it.
NEXT: Dict[Phase, FrozenSet[Phase]] = {p: frozenset(Phase) for p in Phase}
NEXT[Phase.STOPPING] = frozenset({Phase.STOPPED, Phase.WAITING, Phase.STOPPING, Phase.HELD,
                                  Phase.FAILED})


@dataclass(eq=False, slots=True)
class Unit:
    """Everything the controller tracks for one service (slots: 1,000
    services are 1,000 of these)."""

    name: str
    #: changed only by Controller.set_phase
    phase: Phase = Phase.STOPPED
    #: WAITING: why it is to be started (``'configured'``, ``'added by reload'`` ...)
    start_why: str = ''
    #: STOPPING: what follows once it is down
    stop_purpose: Optional[StopPurpose] = None
    #: STOPPING: the pid its stop signalled (its SIGKILL is for that run only)
    stop_pid: Optional[int] = None
    #: failures in a row (kept in its tags too, to survive a controller crash)
    failures: int = 0
    #: (pid, ts) of the last exit acted on, so that a resync does not act twice
    handled: Optional[Tuple[Optional[int], Optional[int]]] = None
    #: its definition once it is no longer configured (to stop it and
    #: delete its log pipe); None while configured
    removed: Optional[Service] = None
    #: the daemon's TS of its recent failures, within its start limit's
    #: window (kept in its tags too)
    fails: Tuple[int, ...] = ()
    #: GAVE_UP because what it requires (this name) was given up or
    #: failed: waits again once that one is wanted up
    given_up_for: Optional[str] = None
    #: why daemonproxy refused its execution attributes when it was last
    #: defined (its argv is then unset): not started until defined again
    refused: Optional[str] = None
