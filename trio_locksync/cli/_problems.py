"""Problems found in a site config, collected one line each (never a PIN)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, final

__all__ = ["Problems"]


@final
class Problems:
    """The problems found so far, one line each: ``<file>: <entry>: <problem>``."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: list[str] = []

    def add(self, entry: str, problem: str) -> None:
        self.lines.append(f"{self.where}: {entry}: {problem}")

    def missing(self, entry: str, key: str, wanted: str) -> None:
        """``key`` is not in ``entry`` at all: say so, and what it wants."""
        self.add(entry, f"{key} is missing ({wanted})")

    def unknown_keys(self, entry: str, table: Mapping[str, Any], known: Iterable[str]) -> None:
        for key in sorted(set(table) - set(known)):
            self.add(entry, f"unknown key {key!r}")

    def __bool__(self) -> bool:
        return bool(self.lines)
