"""The MQTT bridge (seed 003): paho-mqtt's network thread owned by a trio nursery, every
callback into trio through its thread bridge, QoS 1 acknowledged only once taken, bounded
memory, reconnects with backoff, refusals final."""

from ._bridge import MqttBridge as MqttBridge
from ._errors import MqttClosedError as MqttClosedError
from ._errors import MqttError as MqttError
from ._errors import MqttNotDelivered as MqttNotDelivered
from ._errors import MqttRefused as MqttRefused
from ._errors import TopicError as TopicError
from ._models import MqttMessage as MqttMessage
from ._models import MqttProtocol as MqttProtocol
from ._models import MqttStatistics as MqttStatistics
from ._models import MqttStatus as MqttStatus
from ._models import MqttStatusChange as MqttStatusChange
from ._models import MqttWill as MqttWill
from ._models import QoS as QoS
from ._open import open_mqtt_bridge as open_mqtt_bridge
from ._subscription import MqttSubscription as MqttSubscription
from ._topics import topic_matches as topic_matches

__all__ = [
    "MqttBridge",
    "MqttClosedError",
    "MqttError",
    "MqttMessage",
    "MqttNotDelivered",
    "MqttProtocol",
    "MqttRefused",
    "MqttStatistics",
    "MqttStatus",
    "MqttStatusChange",
    "MqttSubscription",
    "MqttWill",
    "QoS",
    "TopicError",
    "open_mqtt_bridge",
    "topic_matches",
]
