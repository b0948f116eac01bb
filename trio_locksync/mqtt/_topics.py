"""MQTT topic names and filters: checked at the call, matched without regular expressions.

A topic *name* (what ``publish()`` sends to) is non-empty UTF-8 without wildcards or NUL. A
topic *filter* (what ``subscribe()`` asks for) may use ``+`` for exactly one whole level and a
final ``#`` for any number of levels (MQTT 5 §4.7). ``$share/...`` shared subscriptions are not
supported here. Errors say what is wrong with the topic, which is not a secret.
"""

from __future__ import annotations

from ._errors import TopicError

__all__ = ["check_filter", "check_topic", "topic_matches"]

#: MQTT's limit on a topic's UTF-8 length
MAX_TOPIC_BYTES = 65535


def _check_text(kind: str, text: object) -> str:
    if not isinstance(text, str):
        raise TopicError(f"a topic {kind} must be a str, not {type(text).__name__}")
    if not text:
        raise TopicError(f"a topic {kind} must not be empty")
    if "\x00" in text:
        raise TopicError(f"topic {kind} {text!r} contains a NUL character")
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise TopicError(f"topic {kind} {text!r} is not valid UTF-8") from None
    if len(encoded) > MAX_TOPIC_BYTES:
        raise TopicError(
            f"topic {kind} is {len(encoded)} bytes long; MQTT allows {MAX_TOPIC_BYTES}"
        )
    return text


def check_topic(topic: object) -> str:
    """``topic`` if it is a valid topic name to publish to (TopicError otherwise)."""
    text = _check_text("name", topic)
    if "+" in text or "#" in text:
        raise TopicError(f"cannot publish to {text!r}: wildcards (+, #) belong in filters only")
    return text


def check_filter(topic_filter: object) -> str:
    """``topic_filter`` if it is a valid subscription filter (TopicError otherwise)."""
    text = _check_text("filter", topic_filter)
    if text.startswith("$share/"):
        raise TopicError(f"{text!r}: shared subscriptions are not supported")
    levels = text.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise TopicError(f"{text!r}: '#' must be a whole level, and the last one")
        if "+" in level and level != "+":
            raise TopicError(f"{text!r}: '+' must be a whole level")
    return text


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` (a name) matches ``topic_filter``. Topics starting with ``$`` match
    only filters that start with the same literal level (MQTT 5 §4.7.2)."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):
        return False
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)
