"""The config's grants, applied to the access plan at start. The config is the whole truth:

* a grant in the config and not in the plan, or changed since the plan took it, is granted
  (``plan.grant`` replaces a grant of the same name);
* a grant the plan holds unchanged is left as it is — its slots, and the uses it has left,
  carry over a restart;
* a grant the plan holds and the config no longer names is revoked: its codes come off every
  lock.

A grant the plan refuses (the same PIN as a code on the lock it does not manage, no free slot,
uses on a lock that cannot count them) is said in one line and the rest go on: one refused
grant does not keep the site down."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping

from ..access import AccessError, AccessPlan, AccessState
from ._events import DemoEvent, Info
from ._schema import LockKind, SiteConfig

__all__ = ["apply_grants", "plan_slots"]

logger = logging.getLogger("trio_locksync.site")

#: the plan's candidate slots on a lock that names none: 1-30 (a Zigbee lock numbers its
#: users from 0, and a 30-user one has no user 30: 1-29)
DEFAULT_SLOTS = range(1, 31)
DEFAULT_ZIGBEE_SLOTS = range(1, 30)


def plan_slots(config: SiteConfig) -> Mapping[str, Collection[int]]:
    """Each lock's candidate slots for the plan: its ``slots``, else the default range
    without its fixed slots."""
    chosen: dict[str, Collection[int]] = {}
    for spec in config.locks:
        if spec.slots is not None:
            chosen[spec.name] = spec.slots
            continue
        default = DEFAULT_ZIGBEE_SLOTS if spec.kind is LockKind.ZIGBEE2MQTT else DEFAULT_SLOTS
        chosen[spec.name] = [slot for slot in default if slot not in spec.fixed]
    return chosen


def name_held(plan: AccessPlan, name: str) -> bool:
    """The plan holds a grant ``name`` that is not revoked (a revoked one is granted anew)."""
    if name not in plan.grants():
        return False
    return set(plan.status(name).values()) != {AccessState.REVOKED}


async def apply_grants(
    plan: AccessPlan, config: SiteConfig, publish: Callable[[DemoEvent], None]
) -> None:
    """Make the plan's grants the config's (see the module's docstring)."""
    wanted = {spec.name: spec for spec in config.grants}
    revoked = granted = kept = refused = 0
    for name in plan.grants():
        if name in wanted:
            continue
        states = set(plan.status(name).values())
        if states <= {AccessState.REVOKED}:
            continue
        await plan.revoke(name)
        revoked += 1
    for spec in config.grants:
        grant = spec.grant()
        if name_held(plan, grant.name) and plan.grant_of(grant.name) == grant:
            kept += 1
            continue
        try:
            await plan.grant(grant)
        except AccessError as exc:
            refused += 1
            logger.warning("%s", exc)
            publish(Info(f"refused: {exc}"))
        else:
            granted += 1
    publish(
        Info(
            f"grants applied: {granted} granted, {kept} unchanged, {revoked} revoked "
            f"(no longer in the config), {refused} refused"
        )
    )
