"""The tests' side of the broker launcher (``trio_locksync.testing.MosquittoBroker``): the skip
marker for tests that need mosquitto, and the names tests import from here.

CI installs mosquitto with apt; where it cannot be found the tests that need it skip, saying so.
"""

from __future__ import annotations

import pytest

from trio_locksync.testing import MosquittoBroker, find_mosquitto, find_mosquitto_passwd
from trio_locksync.testing._broker import free_port

__all__ = ["MOSQUITTO", "MOSQUITTO_PASSWD", "Broker", "free_port", "needs_mosquitto"]

MOSQUITTO = find_mosquitto()
MOSQUITTO_PASSWD = find_mosquitto_passwd()

needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed (CI installs it with apt-get)"
)

#: one mosquitto process: ``Broker(tmp_path, persistence=..., passwords=..., tls=...)``, then
#: ``start``/``stop``/``kill``/``restart`` on the same port, or ``with Broker(...) as broker``
Broker = MosquittoBroker
