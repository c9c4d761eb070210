"""Encoding frames (lists of messages of one union) as MessagePack, with validation on decode.

A frame that is not valid MessagePack, has an unknown tag or a field of the wrong type raises
:class:`ProtocolError`; transports close that one connection in response.
Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

T = TypeVar("T")


class ProtocolError(ValueError):
    """A frame that does not decode to the channel's message union."""


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, Resources):
        return obj.to_dict()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _dec_hook(kind: type, obj: Any) -> Any:
    if kind is Resources:
        if not isinstance(obj, dict):
            raise ValueError("resources must be a map of name to number")
        res = Resources(obj)
        if not res.is_nonnegative():
            raise ValueError(f"resource amounts must be >= 0, got {res}")
        return res
    raise NotImplementedError(f"cannot decode {kind}")


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)


class Codec(Generic[T]):
    """Encodes lists of outgoing messages and decodes lists of incoming ones for one channel."""

    def __init__(self, incoming: Any) -> None:
        self._decoder: msgspec.msgpack.Decoder[list[T]] = msgspec.msgpack.Decoder(
            list[incoming], dec_hook=_dec_hook
        )

    @staticmethod
    def encode(messages: list[Any]) -> bytes:
        return _ENCODER.encode(messages)

    def decode(self, frame: bytes | bytearray | memoryview) -> list[T]:
        try:
            return self._decoder.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise ProtocolError(str(exc)) from None


def scheduler_side() -> Codec[m.SchedulerEvent]:
    """The framework's codec: decodes master -> framework events."""
    return Codec(m.SchedulerEvent)


def master_framework_side() -> Codec[m.SchedulerCall]:
    return Codec(m.SchedulerCall)


def agent_side() -> Codec[m.AgentEvent]:
    return Codec(m.AgentEvent)


def master_agent_side() -> Codec[m.AgentCall]:
    return Codec(m.AgentCall)


def worker_side() -> Codec[m.WorkerEvent]:
    """The executor's codec: decodes driver -> executor events."""
    return Codec(m.WorkerEvent)


def driver_side() -> Codec[m.WorkerCall]:
    return Codec(m.WorkerCall)
