"""How the demo tunes the site runner (:class:`~._runner.Tuning`) for a run of ``--duration``
seconds: the library's defaults are for real sites (re-probes of an unreachable lock from 60 s
up to 30 min, full reads hourly, reconnects from 1 s up to 60 s)."""

from __future__ import annotations

from ..core import Backoff, Jitter
from ._config import FAST, Behaviour, DemoOptions, behaviour_of
from ._runner import Tuning

__all__ = ["demo_tuning"]

#: full reads of the lock that goes offline: its 2 s outage (a 15 s run) is seen
_OFFLINE_DRIFT = 0.5


def _unreachable_retry(duration: float) -> Backoff:
    """Re-probes of an offline lock, scaled to the run: 2 s doubling to 5 s at 60 s (a 12 s
    run: 0.5 s to 1 s), so the gate is back in sync well before the run ends (the library's
    default, 60 s doubling to 30 min, is for real sites)."""
    initial = min(2.0, max(0.5, duration / 30))
    maximum = max(initial, min(5.0, duration / 12))
    return Backoff(initial=initial, maximum=maximum, jitter=Jitter.NONE)


def demo_tuning(options: DemoOptions) -> Tuning:
    """One engine per lock for the whole run, a lock that drops off the network re-probed on a
    backoff scaled to the run and read again once back; quick reconnects, short timeouts."""
    # full reads often (the demo shows a lock going offline), the one that goes offline more
    # often still, so that three failed reads fall inside its (compressed) outage
    drift = max(2.0, options.duration / 20)
    offline = [s.name for s in options.site.locks if behaviour_of(s) is Behaviour.OFFLINE]
    return Tuning(
        backoff=FAST,
        stable_after=2.0,
        engine={
            "operation_spacing": 0.05,
            "pending_ttl": 2.0,
            "retry_interval": 0.5,
            "suspended_retry": Backoff(initial=2.0, maximum=5.0, jitter=Jitter.NONE),
            "unreachable_retry": _unreachable_retry(options.duration),
            "drift_interval": drift,
        },
        engine_for={name: {"drift_interval": min(drift, _OFFLINE_DRIFT)} for name in offline},
        # a lock not read yet (the Z-Wave locks before the server is up) surveyed again soon
        plan={"survey_retry": Backoff(initial=1.0, maximum=3.0, jitter=Jitter.NONE)},
        zigbee={"read_timeout": 1.0, "publish_timeout": 3.0, "command_timeout": 3.0},
        # the Z-Wave locks join once the server is up (about 10 s): an operation before that
        # gives up soon, and three such make the lock unreachable until its re-probe finds it
        zwave_operation_timeout=2.0,
        zwave_command_timeout=10.0,
        isy_quiet=0.5,
        isy_cap=5.0,
        autolock_backoff=FAST,
        autolock_seconds=options.autolock_seconds,
    )
