"""CAPI dispatch (I/O side): queue, send, retry, breaker, deadline, DLQ and replay."""

from trackai.dispatch.dlq import list_dlq, replay
from trackai.dispatch.engine import DispatchOptions, run_dispatch
from trackai.dispatch.sender import Sender

__all__ = ["DispatchOptions", "Sender", "list_dlq", "replay", "run_dispatch"]
