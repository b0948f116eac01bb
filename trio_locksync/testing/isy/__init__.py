"""A simulated ISY / IoX controller: a real trio-websocket server speaking ``/rest/subscribe``.

It plays what a subscriber meets on a real controller: the ``ISYSUB`` subprotocol on
``/rest/subscribe`` (another path is refused with 404), a heartbeat announcement
(``<control>_0</control>``, its action the seconds to the next one) and then a replay of every
node's status on each connect, heartbeats at that interval, and a live frame for every change.
The knobs a test needs are attributes that can be changed while it runs: refuse handshakes
(wrong credentials, any HTTP status), accept and cut at once, pause the heartbeats, cut every
connection, go down and come back on the same port. ::

    controller = IsyController({"ZW002_1": 100}, heartbeat=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(controller.serve)
        async with open_isy_event_stream(controller.base_url) as stream:
            controller.set_status("ZW002_1", 0)  # a live frame to every subscriber

It listens on a loopback TCP port (TLS with ``ssl_context``); its ``open_transport`` connects
in memory instead (pass it as ``open_transport=`` to the stream, and ``listen=False``): no port,
so it also runs under trio's ``autojump_clock``. The frame builders
(:func:`isy_event_frame`, :func:`isy_status_frame`, :func:`isy_heartbeat_frame`) write the
controller's ``<Event>`` XML for tests that script frames themselves.
"""

from ._controller import HANDSHAKE_TIMEOUT as HANDSHAKE_TIMEOUT
from ._controller import IsyController as IsyController
from ._frames import SID as SID
from ._frames import NodeStatus as NodeStatus
from ._frames import isy_event_frame as isy_event_frame
from ._frames import isy_heartbeat_frame as isy_heartbeat_frame
from ._frames import isy_status_frame as isy_status_frame
from ._subscriber import IsyHandshake as IsyHandshake
from ._subscriber import IsySubscriber as IsySubscriber
from ._subscriber import SubscriberHook as SubscriberHook

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "SID",
    "IsyController",
    "IsyHandshake",
    "IsySubscriber",
    "NodeStatus",
    "SubscriberHook",
    "isy_event_frame",
    "isy_heartbeat_frame",
    "isy_status_frame",
]
