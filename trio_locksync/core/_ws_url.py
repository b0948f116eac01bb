"""URLs and handshake headers: parsing, validation, and redaction for logs and errors."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence

import attrs

__all__ = ["Target", "check_headers", "merge_headers", "parse_target", "redact_url"]

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


def redact_url(url: str) -> str:
    """``url`` fit for logs, reprs and errors: any password and every query value become
    ``***`` (tokens often travel as ``?access_token=…``)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on "user:secret#…" (a password taken for a port)
        netloc = parts.netloc
        if parts.password is not None:
            _, _, hostport = netloc.rpartition("@")
            netloc = f"{parts.username}:***@{hostport}"
        query = parts.query
        if query:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            query = "&".join(f"{key}=***" for key, _ in pairs) or "***"
    except ValueError:
        return "<unparseable url>"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


@attrs.frozen
class Target:
    """Where a ``ws[s]://`` URL points: what the socket and the handshake need."""

    host: str
    port: int
    resource: str
    host_header: str
    tls: bool


def parse_target(url: str) -> Target:
    """The :class:`Target` of ``url``; ValueError (quoting only the redacted URL) for a URL
    that is malformed, not ``ws``/``wss``, without a host, or carrying credentials."""
    shown = redact_url(url)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        # urllib's message can quote part of a password; say it in our own words.
        raise ValueError(f"websocket URL is malformed: {shown!r}") from None
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"websocket URL must be ws:// or wss://, got {shown!r}")
    if not parts.hostname:
        raise ValueError(f"websocket URL has no host: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"websocket URL carries credentials ({shown!r}); websocket handshakes do not "
            "send them: pass headers= (e.g. isy_headers(username=..., password=...))"
        )
    tls = parts.scheme == "wss"
    port = port if port is not None else (443 if tls else 80)
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    host = parts.hostname
    bracketed = f"[{host}]" if ":" in host else host
    host_header = bracketed if port in (80, 443) else f"{bracketed}:{port}"
    return Target(host=host, port=port, resource=resource, host_header=host_header, tls=tls)


def check_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Validated handshake headers; a bad value is refused without being quoted (it may be a
    token, and h11 would otherwise put it in an exception message on every attempt)."""
    checked = []
    for item in headers:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise ValueError("headers must be (name, value) pairs of str") from None
        if not (isinstance(name, str) and isinstance(value, str)):
            raise ValueError("headers must be (name, value) pairs of str")
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP token")
        if _BAD_VALUE.search(value) or not _latin1(value):
            raise ValueError(
                f"header {name!r} has a value with a line break, NUL or non-latin-1 character "
                "(value not shown)"
            )
        checked.append((name, value))
    return checked


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def merge_headers(
    base: Sequence[tuple[str, str]], fresh: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``base`` with every header named in ``fresh`` replaced (names compared case-blind)."""
    replaced = {name.lower() for name, _ in fresh}
    return [(n, v) for n, v in base if n.lower() not in replaced] + list(fresh)
