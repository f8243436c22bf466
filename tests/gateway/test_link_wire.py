"""The publishing link's connection state without a broker: frames in, frames out."""

from __future__ import annotations

import asyncio

import pytest
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from gateway.broker.link import LinkConfig, LinkWire
from gateway.errors import BrokerUnavailable, Unroutable


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def writelines(self, list_of_data: object) -> None:
        for data in list_of_data:  # type: ignore[attr-defined]
            self.write(data)

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True


def _open_wire() -> tuple[LinkWire, FakeTransport]:
    wire = LinkWire(LinkConfig.from_url("amqp://guest:guest@127.0.0.1/"), "test")
    transport = FakeTransport()
    wire.connection_made(transport)
    wire._received(1, commands.Confirm.SelectOk())
    transport.written.clear()
    return wire, transport


def _methods(written: list[bytes]) -> list[str]:
    names = []
    for chunk in written:
        offset = 0
        while offset < len(chunk):
            used, _channel, value = frame.unmarshal(chunk[offset:])
            names.append(value.name)
            offset += used
    return names


def _props(message_id: str) -> commands.Basic.Properties:
    return commands.Basic.Properties(message_id=message_id, delivery_mode=2)


async def test_publishes_of_one_iteration_are_written_together_and_settled_by_multiple_ack() -> (
    None
):
    wire, transport = _open_wire()
    confirms = [wire.publish("x", "k", b"{}", _props(f"m{i}")) for i in range(3)]
    assert transport.written == []  # nothing written until the loop turns
    await asyncio.sleep(0)
    assert len(transport.written) == 9  # one writelines: publish, header, body per message
    assert _methods(transport.written).count("Basic.Publish") == 3
    wire._received(1, commands.Basic.Ack(delivery_tag=2, multiple=True))
    assert [c.done() for c in confirms] == [True, True, False]
    wire._received(1, commands.Basic.Nack(delivery_tag=3))
    with pytest.raises(BrokerUnavailable, match="nack"):
        await confirms[2]


async def test_a_return_fails_only_its_own_message() -> None:
    wire, _transport = _open_wire()
    returned = wire.publish("x", "nobody", b"{}", _props("r"))
    routed = wire.publish("x", "k", b"{}", _props("ok"))
    wire._received(1, commands.Basic.Return(312, "NO_ROUTE", "x", "nobody"))
    wire._received(1, ContentHeader(0, 2, _props("r")))
    wire._received(1, ContentBody(b"{}"))
    wire._received(1, commands.Basic.Ack(delivery_tag=2, multiple=True))
    with pytest.raises(Unroutable):
        await returned
    await routed


async def test_channel_closed_by_the_broker_drops_unwritten_frames_and_reopens() -> None:
    """Publishes still in the buffer when the broker closes the channel fail, and their frames
    are never written (on the reopened channel they would be routed after being failed)."""
    wire, transport = _open_wire()
    confirm = wire.publish("missing", "k", b"{}", _props("m"))
    wire._received(1, commands.Channel.Close(404, "NOT_FOUND", 60, 40))
    with pytest.raises(BrokerUnavailable, match="closed the channel: 404"):
        await confirm
    await asyncio.sleep(0)  # the flush scheduled by the publish runs
    assert _methods(transport.written) == ["Channel.CloseOk", "Channel.Open"]
    assert not wire.channel_open
    wire._received(1, commands.Channel.OpenOk())
    wire._received(1, commands.Confirm.SelectOk())
    assert wire.channel_open


async def test_connection_lost_fails_everything_pending() -> None:
    wire, _transport = _open_wire()
    confirm = wire.publish("x", "k", b"{}", _props("m"))
    wire.connection_lost(ConnectionResetError())
    with pytest.raises(BrokerUnavailable, match="connection lost"):
        await confirm
    assert wire.closed.done()


async def test_a_mandatory_publish_without_message_id_is_refused() -> None:
    """Returns are matched by message_id: without one a returned message would look confirmed."""
    wire, transport = _open_wire()
    with pytest.raises(ValueError, match="message_id"):
        wire.publish("x", "k", b"{}", commands.Basic.Properties(delivery_mode=2))
    await asyncio.sleep(0)
    assert transport.written == []
