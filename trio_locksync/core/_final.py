"""Objects that only an ``open_x()`` function may make (trio's ``NoPublicConstructor``).

A class whose instances only make sense inside the ``async with`` block that owns their tasks
(a store, an engine, a stream) uses this metaclass: calling the class raises ``TypeError``
pointing at the function to use, and the library makes instances with ``cls._create(...)``.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar, final

__all__ = ["NoPublicConstructor"]

T = TypeVar("T")


@final
class NoPublicConstructor(type):
    """Metaclass: ``Cls(...)`` raises ``TypeError``; ``Cls._create(...)`` makes an instance."""

    def __call__(cls, *args: object, **kwargs: object) -> NoReturn:
        opener = getattr(cls, "_OPENED_BY", "its open_*() function")
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} has no public constructor; use {opener}"
        )

    def _create(cls: type[T], *args: Any, **kwargs: Any) -> T:
        return super().__call__(*args, **kwargs)  # type: ignore[misc, no-any-return]
