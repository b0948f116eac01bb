"""Shared pytest configuration (fixtures for the store live in ``storehelpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .brokerhelpers import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A mosquitto of the test's own on a free loopback port, stopped after the test (tests
    that use it are marked ``needs_mosquitto``)."""
    with Broker(tmp_path) as running:
        yield running
