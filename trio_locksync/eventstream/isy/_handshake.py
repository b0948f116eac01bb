"""What the ISY / IoX subscribe handshake needs: the ``/rest/subscribe`` URL and the headers.

The credentials go in the headers, never in the URL.
"""

from __future__ import annotations

import base64
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ISY_ORIGIN",
    "ISY_SUBPROTOCOL",
    "ISY_SUBSCRIBE_PATH",
    "isy_headers",
    "isy_subscribe_url",
]

#: The websocket subprotocol the controller requires on ``/rest/subscribe``.
ISY_SUBPROTOCOL: Final = "ISYSUB"
#: The ``Origin`` header the controller expects from a subscriber.
ISY_ORIGIN: Final = "com.universal-devices.websockets.isy"
#: The path of the controller's event subscription.
ISY_SUBSCRIBE_PATH: Final = "/rest/subscribe"

_WS_SCHEMES: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def isy_subscribe_url(base_url: str) -> str:
    """The ``/rest/subscribe`` websocket URL for a controller's base URL.

    ``http`` becomes ``ws`` and ``https`` ``wss`` (``ws``/``wss`` are kept); the host, port and
    path prefix are kept, any user/password, query and fragment dropped (credentials belong in
    :func:`isy_headers`). A base already ending in ``/rest/subscribe`` is not extended. A base
    with another scheme, or none, gets the path appended and is otherwise left alone, so
    connecting to it fails with a clear error later. Raises ValueError for an http(s)/ws(s)
    base without a host, or one :func:`urllib.parse.urlsplit` rejects (e.g. a broken IPv6 host).
    """
    parts = urlsplit(base_url)
    if parts.scheme in _WS_SCHEMES and not parts.hostname:
        raise ValueError("controller base URL has no host")
    if not parts.netloc:
        return _with_subscribe_path(base_url)
    # Host and port verbatim (IPv6 brackets included), everything before the last "@" dropped.
    host = parts.netloc.rpartition("@")[2]
    scheme = _WS_SCHEMES.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, host, _with_subscribe_path(parts.path), "", ""))


def _with_subscribe_path(path: str) -> str:
    path = path.rstrip("/")
    if path.endswith(ISY_SUBSCRIBE_PATH):
        return path
    return path + ISY_SUBSCRIBE_PATH


def isy_headers(
    *, username: str | None = None, password: str | None = None, token: str | None = None
) -> list[tuple[str, str]]:
    """The handshake headers for ``/rest/subscribe``: ``Origin``, plus ``Authorization``.

    Username and password give HTTP Basic auth (UTF-8), a token gives ``Bearer`` auth; with none
    of them only ``Origin`` is sent. Raises ValueError for a token together with a username or
    password, for only one of username/password, for a username containing ``:``, for text that
    can't be encoded as UTF-8 and for an empty token; the messages never include the password or
    token.
    """
    headers = [("Origin", ISY_ORIGIN)]
    if token is not None:
        if username is not None or password is not None:
            raise ValueError("give either a token or a username and password, not both")
        if not token:
            raise ValueError("the token is empty")
        headers.append(("Authorization", f"Bearer {token}"))
    elif username is not None or password is not None:
        if username is None or password is None:
            raise ValueError("a username needs a password and a password needs a username")
        if ":" in username:
            raise ValueError("a username for Basic auth cannot contain ':'")
        pair = _utf8(f"{username}:{password}")
        if pair is None:
            raise ValueError("the username or password is not valid Unicode text")
        headers.append(("Authorization", f"Basic {base64.b64encode(pair).decode('ascii')}"))
    return headers


# A UnicodeEncodeError keeps the whole string (here the password) in ``.object``; the caller
# raises its own error outside the ``except`` block so the password isn't reachable from it.
def _utf8(text: str) -> bytes | None:
    try:
        return text.encode()
    except UnicodeEncodeError:
        return None
