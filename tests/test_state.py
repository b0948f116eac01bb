"""StateTable: transitions along the table only; invalid ones raise and change nothing."""

from __future__ import annotations

import enum

import pytest

from trio_locksync import LockSyncError
from trio_locksync.lowlevel import InvalidTransition, StateTable


class Light(enum.Enum):
    OFF = "off"
    ON = "on"
    BROKEN = "broken"


TABLE = {Light.OFF: frozenset({Light.ON}), Light.ON: frozenset({Light.OFF, Light.BROKEN})}


def test_valid_transitions_move_and_return_previous() -> None:
    table = StateTable("light", Light.OFF, TABLE)
    assert table.advance(Light.ON) is Light.OFF
    assert table.current is Light.ON
    assert table.can_advance(Light.BROKEN)


def test_invalid_transition_raises_and_changes_nothing() -> None:
    table = StateTable("light", Light.OFF, TABLE)
    with pytest.raises(InvalidTransition) as info:
        table.advance(Light.BROKEN)
    assert table.current is Light.OFF
    assert isinstance(info.value, LockSyncError)
    assert (info.value.current, info.value.requested) == (Light.OFF, Light.BROKEN)
    assert "light" in str(info.value)


def test_terminal_state_has_no_exit() -> None:
    table = StateTable("light", Light.OFF, TABLE)
    table.advance(Light.ON)
    table.advance(Light.BROKEN)
    for state in Light:
        assert not table.can_advance(state)
        with pytest.raises(InvalidTransition):
            table.advance(state)
