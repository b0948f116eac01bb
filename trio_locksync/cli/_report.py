"""What a demo run found: filled in by the scenario, rendered at the end (or as it goes, by a
dashboard later), never printed from the middle of the scenario."""

from __future__ import annotations

from typing import final

import attrs

from ..credentials import SyncState

__all__ = ["DemoReport", "RestartReport", "StreamReport"]


@final
@attrs.define
class StreamReport:
    """The event stream as the site saw it."""

    connections: int = 0
    synced: int = 0
    replayed: int = 0
    live: int = 0
    #: "door opened" automations fired (live unlocks only)
    automations: int = 0
    #: unlocks seen in a replay: with CONNECTED at socket-open each would have fired too
    spurious_avoided: int = 0
    bad_frames: int = 0
    dropped: int = 0
    in_step: bool = False

    @property
    def ok(self) -> bool:
        return self.in_step and self.connections >= 2 and self.synced >= 2


@final
@attrs.define
class RestartReport:
    """What the restarted site found."""

    state_intact: bool = False
    expired: int = 0
    resumed: int = 0
    autolocked: int = 0
    all_locked: bool = False


@final
@attrs.define
class DemoReport:
    """Every figure of one demo run; :meth:`lines` is the printed summary."""

    locks: int
    slots: int
    seconds: float
    events: int = 0
    state_writes: int = 0
    autolocks: int = 0
    timers_running_at_stop: int = 0
    doors_unlocked_at_stop: int = 0
    credential_states: dict[SyncState, int] = attrs.field(factory=dict)
    optimistic: int = 0
    confirmed_by_read: int = 0
    stream: StreamReport = attrs.field(factory=StreamReport)
    restart: RestartReport = attrs.field(factory=RestartReport)
    elapsed: float = 0.0

    @property
    def credentials_ok(self) -> bool:
        """Every slot verified in sync or visibly suspended: nothing silently wrong."""
        return set(self.credential_states) <= {SyncState.IN_SYNC, SyncState.SUSPENDED}

    @property
    def timers_ok(self) -> bool:
        return self.restart.expired + self.restart.resumed == self.timers_running_at_stop

    @property
    def ok(self) -> bool:
        restart = self.restart
        return (
            restart.state_intact
            and restart.all_locked
            and self.credentials_ok
            and self.stream.ok
            and self.timers_ok
        )

    def lines(self) -> list[str]:
        states = ", ".join(
            f"{count} {state.value}"
            for state, count in sorted(self.credential_states.items(), key=lambda i: i[0].value)
        )
        stream, restart = self.stream, self.restart
        yes = {True: "yes", False: "NO"}
        return [
            f"credentials: {states}; {self.optimistic} ambiguous writes, "
            f"{self.confirmed_by_read} confirmed by reading back (never trusted blindly)",
            f"event stream: {stream.connections} connections (cut once midway), "
            f"{stream.replayed} replayed door frames held in SYNCING, {stream.live} live; "
            f"{stream.automations} door-opened automations fired, {stream.spurious_avoided} "
            f"replayed unlocks not mistaken for live ones; {stream.bad_frames} bad frames, "
            f"{stream.dropped} dropped; doors as seen through the stream match the site: "
            f"{yes[stream.in_step]}",
            f"ran {self.locks} locks x {self.slots} slots for {self.seconds:.1f} s: "
            f"{self.events} events, {self.state_writes} durable state writes, "
            f"{self.autolocks} autolocks; stopped with {self.timers_running_at_stop} timers "
            f"running, {self.doors_unlocked_at_stop} doors unlocked",
            f"restart: state {'intact' if restart.state_intact else 'DIFFERS'}; timers on disk: "
            f"{restart.expired} expired while down (fired at once), {restart.resumed} resumed; "
            f"doors locked by autolock after restart: {restart.autolocked}; "
            f"all doors locked: {yes[restart.all_locked]}",
            f"summary: {'all checks held' if self.ok else 'SOME CHECKS FAILED'} "
            f"(done in {self.elapsed:.2f} s)",
        ]
