"""The Zigbee2MQTT provider's counters, by name, and their snapshot as the public record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs

from ._models import Availability, BadInput, LockState, Zigbee2MqttStatistics

__all__ = ["Counts"]


@final
@attrs.define
class Counts:
    """The provider's counters, by name (a typo is an AttributeError, not a silent 0); each
    is a field of :class:`~._models.Zigbee2MqttStatistics`, documented there."""

    messages: int = 0
    replays: int = 0
    stale: int = 0
    news: int = 0
    restated: int = 0
    bad_payloads: int = 0
    bad_entries: int = 0
    bad_keys: int = 0
    reads: int = 0
    answered: int = 0
    declined: int = 0
    read_timeouts: int = 0
    fallbacks: int = 0
    writes: int = 0
    commands: int = 0
    publish_errors: int = 0
    disconnects: int = 0
    pushes: int = 0
    events: int = 0

    def snapshot(
        self,
        *,
        availability: Availability,
        bridge: Availability,
        lock_state: LockState,
        reachable: bool,
        known_slots: int,
        bad_inputs: Mapping[BadInput, int],
        handler_errors: Mapping[str, int],
    ) -> Zigbee2MqttStatistics:
        """The counts as the frozen public record, with the lock's state beside them."""
        return Zigbee2MqttStatistics(
            **attrs.asdict(self),
            availability=availability,
            bridge=bridge,
            lock_state=lock_state,
            reachable=reachable,
            known_slots=known_slots,
            bad_inputs=bad_inputs,
            handler_errors=handler_errors,
        )
