"""The credential engine the site runs per lock, tuned for a run of ``--duration`` seconds
(the library's defaults are for real sites: re-probes of an unreachable lock from 60 s up to
30 min, full reads hourly)."""

from __future__ import annotations

import contextlib

from ..core import Backoff, Jitter
from ..credentials import LockProvider, LockSync, open_lock_sync
from ..store import Store
from ._config import Behaviour, DemoOptions, LockSpec

__all__ = ["engine_for"]

#: full reads of the lock that goes offline: its 2 s outage (a 15 s run) is seen
_OFFLINE_DRIFT = 0.5


def _unreachable_retry(duration: float) -> Backoff:
    """Re-probes of an offline lock, scaled to the run: 2 s doubling to 5 s at 60 s (a 12 s
    run: 0.5 s to 1 s), so the gate is back in sync well before the run ends (the library's
    default, 60 s doubling to 30 min, is for real sites)."""
    initial = min(2.0, max(0.5, duration / 30))
    maximum = max(initial, min(5.0, duration / 12))
    return Backoff(initial=initial, maximum=maximum, jitter=Jitter.NONE)


def engine_for(
    spec: LockSpec, provider: LockProvider, store: Store, options: DemoOptions
) -> contextlib.AbstractAsyncContextManager[LockSync]:
    """Keep ``spec``'s slots as configured, with one engine for the whole run: a lock that
    drops off the network is re-probed on a backoff scaled to the run and read again once
    back."""
    retry = _unreachable_retry(options.duration)
    # full reads often (the demo shows a lock going offline), the one that goes offline more
    # often still, so that three failed reads fall inside its (compressed) outage
    drift = max(2.0, options.duration / 20)
    if spec.behaviour is Behaviour.OFFLINE:
        drift = min(drift, _OFFLINE_DRIFT)
    # the PINs as open_lock_sync takes them: revealed here, handed to the engine only
    desired = {slot: None if pin is None else pin.reveal() for slot, pin in spec.slots.items()}
    return open_lock_sync(
        provider,
        desired,
        store=store,
        operation_spacing=0.05,
        pending_ttl=2.0,
        retry_interval=0.5,
        suspended_retry=Backoff(initial=2.0, maximum=5.0, jitter=Jitter.NONE),
        unreachable_retry=retry,
        drift_interval=drift,
    )
