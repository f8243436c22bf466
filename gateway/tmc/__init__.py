"""Taobao TMC: the WebSocket consumer the gateway runs per Taobao account (no inbound HTTP)."""

from gateway.tmc.client import OnEvent, TmcClient, TmcState

__all__ = ["OnEvent", "TmcClient", "TmcState"]
