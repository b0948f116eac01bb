"""The real Z-Wave JS Server for tests, benchmarks and the demo: ``@zwave-js/server`` 3.10.2 on
zwave-js 15.29.0's own mock controller (npm, node >= 20), installed once into a cache outside
the repository (:func:`install_zwave_js`) and started by :func:`open_zwave_js_server` with the
mock locks of :class:`MockNode` (``locks.cjs``, shipped here with the mock's mDNS shim and the
server's config), on free loopback ports, its processes owned by the ``async with`` block.

Protocol facts and the recipe this follows: /work/shared/zwave_js.md §7 (zwave-js
``packages/zwave-js/src/mockServer.ts``, ``bin/mock-server.cjs``)."""

from ._control import MockControlError
from ._install import (
    SERVER_VERSION,
    ZWAVE_JS_VERSION,
    ZWaveJsUnavailable,
    find_node,
    install_zwave_js,
)
from ._server import MockNode, ZWaveJsServer, open_zwave_js_server

__all__ = [
    "SERVER_VERSION",
    "ZWAVE_JS_VERSION",
    "MockControlError",
    "MockNode",
    "ZWaveJsServer",
    "ZWaveJsUnavailable",
    "find_node",
    "install_zwave_js",
    "open_zwave_js_server",
]
