"""Taobao: TMC (淘宝消息服务) frames and data messages (reference/douyin_taobao.md §3).

TMC is a WebSocket the gateway opens (`gateway.tmc.client.TmcClient`); this package is the pure
part: the binary frame codec and the mapping of data messages to `PlatformEvent`s.
"""

from adapters.taobao.events import FrameEvent, frame_event, to_event
from adapters.taobao.tmc_frames import TmcMessage, connect_sign

__all__ = ["FrameEvent", "TmcMessage", "connect_sign", "frame_event", "to_event"]
