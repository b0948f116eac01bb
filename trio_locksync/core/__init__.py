"""The shared core under every subsystem: errors, backoff, breakers, quiet windows, change feeds,
the worker-thread runner, the deadline scheduler, secrets, state tables, the one bounded buffer,
the one reconnecting-client policy and status holder, and the websocket transport the event
stream and the Z-Wave JS client share."""

from ._backend import TrioRequiredError as TrioRequiredError
from ._backend import require_trio as require_trio
from ._backoff import RECONNECT_BACKOFF as RECONNECT_BACKOFF
from ._backoff import Backoff as Backoff
from ._backoff import Jitter as Jitter
from ._breaker import PROBE_BACKOFF as PROBE_BACKOFF
from ._breaker import BreakerState as BreakerState
from ._breaker import CircuitBreaker as CircuitBreaker
from ._breaker import ProbeBreaker as ProbeBreaker
from ._buffer import BoundedBuffer as BoundedBuffer
from ._buffer import Overflow as Overflow
from ._errors import ClosedError as ClosedError
from ._errors import InvalidPinError as InvalidPinError
from ._errors import InvalidTransition as InvalidTransition
from ._errors import LockSyncError as LockSyncError
from ._feed import ChangeFeed as ChangeFeed
from ._feed import Subscription as Subscription
from ._final import NoPublicConstructor as NoPublicConstructor
from ._nursery import open_service_nursery as open_service_nursery
from ._quiet import QuietDeadline as QuietDeadline
from ._quiet import QuietReason as QuietReason
from ._quiet import QuietWindow as QuietWindow
from ._reconnect import AttemptOutcome as AttemptOutcome
from ._reconnect import Decision as Decision
from ._reconnect import ReconnectAction as ReconnectAction
from ._reconnect import ReconnectOptions as ReconnectOptions
from ._reconnect import ReconnectPolicy as ReconnectPolicy
from ._reconnect import RefusalRetry as RefusalRetry
from ._reconnect import check_finite_not_negative as check_finite_not_negative
from ._reconnect import check_positive as check_positive
from ._scheduler import DeadlineScheduler as DeadlineScheduler
from ._scheduler import ScheduledCall as ScheduledCall
from ._scheduler import ScheduledCallState as ScheduledCallState
from ._secrets import Pin as Pin
from ._secrets import mask_pin as mask_pin
from ._state import StateTable as StateTable
from ._status import StatusHolder as StatusHolder
from ._threads import RunBlocking as RunBlocking
from ._threads import worker_thread_runner as worker_thread_runner
from ._watch import Watched as Watched
from ._ws_transport import AttemptTimedOut as AttemptTimedOut
from ._ws_transport import HandshakeUnanswered as HandshakeUnanswered
from ._ws_transport import closed_reason as closed_reason
from ._ws_transport import fail_after_as as fail_after_as
from ._ws_transport import leaf_exceptions as leaf_exceptions
from ._ws_transport import open_socket as open_socket
from ._ws_transport import raised_at as raised_at
from ._ws_transport import websocket_handshake as websocket_handshake
from ._ws_url import check_headers as check_headers
from ._ws_url import merge_headers as merge_headers
from ._ws_url import parse_target as parse_target
from ._ws_url import redact_url as redact_url

__all__ = [
    "PROBE_BACKOFF",
    "RECONNECT_BACKOFF",
    "AttemptOutcome",
    "AttemptTimedOut",
    "Backoff",
    "BoundedBuffer",
    "BreakerState",
    "ChangeFeed",
    "CircuitBreaker",
    "ClosedError",
    "DeadlineScheduler",
    "Decision",
    "HandshakeUnanswered",
    "InvalidPinError",
    "InvalidTransition",
    "Jitter",
    "LockSyncError",
    "NoPublicConstructor",
    "Overflow",
    "Pin",
    "ProbeBreaker",
    "QuietDeadline",
    "QuietReason",
    "QuietWindow",
    "ReconnectAction",
    "ReconnectOptions",
    "ReconnectPolicy",
    "RefusalRetry",
    "RunBlocking",
    "ScheduledCall",
    "ScheduledCallState",
    "StateTable",
    "StatusHolder",
    "Subscription",
    "TrioRequiredError",
    "Watched",
    "check_finite_not_negative",
    "check_headers",
    "check_positive",
    "closed_reason",
    "fail_after_as",
    "leaf_exceptions",
    "mask_pin",
    "merge_headers",
    "open_service_nursery",
    "open_socket",
    "parse_target",
    "raised_at",
    "redact_url",
    "require_trio",
    "websocket_handshake",
    "worker_thread_runner",
]
