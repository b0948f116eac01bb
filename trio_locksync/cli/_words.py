"""The wording every output shares: counts with their plural (``1 timer``, ``2 timers``), a
reason said once (a reason that quotes another does not repeat the words around it), and a
reason fitted to a width that keeps what the reader acts on — when the next try comes —
and shortens the words before it instead."""

from __future__ import annotations

import re

__all__ = ["count", "fit", "span", "tidy"]


def count(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def span(numbers: list[int]) -> str:
    """``1-4,6,8-9``: sorted numbers (slots) with their runs joined."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def tidy(reason: str) -> str:
    """``reason`` without the phrase a parenthesis repeats from just before it:
    ``lock unreachable; re-probing (lock unreachable: gate: offline)`` becomes
    ``lock unreachable; re-probing (gate: offline)``; an aside that says only what was said
    already (``in sync (in sync)``) goes."""
    text, start = reason, 0
    while (opened := text.find("(", start)) != -1:
        before = text[:opened]
        head, sep, rest = text[opened + 1 :].partition(": ")
        if sep and head and "(" not in head and head in before:
            text = before + "(" + rest  # the next phrase in may repeat too: look again
            continue
        closed = text.find(")", opened)
        if closed != -1 and text[opened + 1 : closed] and text[opened + 1 : closed] in before:
            text = before.rstrip() + text[closed + 1 :]
            continue
        start = opened + 1
    return text


#: the clause that says when something is tried next: kept whole when a reason is shortened
_NEXT = re.compile(r"(next try|re-?probing|retry|retries|next probe)", re.IGNORECASE)


def fit(reason: str, width: int) -> str:
    """``reason`` in at most ``width`` characters. Cut at the end, unless its last clause (after
    ``; ``) says when the next try comes: then that clause stays whole and the words before it
    are shortened (``sync attempts exc…; next try in 4m 50s``)."""
    if len(reason) <= width:
        return reason
    head, sep, tail = reason.rpartition("; ")
    if sep and _NEXT.search(tail) and len(tail) + 3 <= width:
        room = width - len(tail) - 3
        return (head[:room].rstrip() + "…; " if room > 0 else "…") + tail
    return reason[: max(0, width - 1)] + "…"
