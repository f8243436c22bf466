"""docs/asyncapi.yaml describes the real topology and the real payload models."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from gateway.broker.topology import CONTROL, DEAD, DLX, INBOUND, OUTBOUND, QUEUES, RECEIPTS
from gateway.outbound import OutboundMessage, Receipt

DOCS = Path(__file__).parents[2] / "docs"
SPEC: dict[str, Any] = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
TYPES = {INBOUND: "topic", OUTBOUND: "direct", RECEIPTS: "topic", DLX: "fanout", CONTROL: "fanout"}


def amqp(channel: dict[str, Any]) -> dict[str, Any]:
    return dict(channel["bindings"]["amqp"])


def resolve(node: Any) -> Any:
    """The node with every local ``#/...`` reference replaced by its target."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = SPEC
            for part in ref[2:].split("/"):
                target = target[part]
            return resolve(target)
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


def topic_matches(pattern: str, key: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", r"[^.]+").replace(r"\#", r".*")
    return re.fullmatch(regex, key) is not None


def test_document_header_and_references() -> None:
    """It is an AsyncAPI 3.0.0 document and every local and file reference resolves."""
    assert SPEC["asyncapi"] == "3.0.0" and SPEC["servers"]["rabbitmq"]["protocol"] == "amqp"
    resolved = json.dumps(resolve(SPEC), ensure_ascii=False)
    assert '"#/' not in resolved
    for ref in re.findall(r'"\$ref": "(\./[^"]+)"', resolved):
        assert (DOCS / ref).is_file()


def test_every_exchange_queue_and_routing_key_is_documented() -> None:
    """Exchanges with their types, every queue, and every binding of topology.py appear."""
    exchanges = {
        amqp(c)["exchange"]["name"]: amqp(c)["exchange"]["type"]
        for c in SPEC["channels"].values()
        if amqp(c)["is"] == "routingKey"
    }
    assert exchanges == TYPES
    queues = {
        amqp(c)["queue"]["name"] for c in SPEC["channels"].values() if amqp(c)["is"] == "queue"
    }
    assert queues == {b.queue for b in QUEUES} | {DEAD}
    for binding in QUEUES:
        addresses = [
            re.sub(r"\{[^}]+\}", "x", c["address"])
            for c in SPEC["channels"].values()
            if amqp(c)["is"] == "routingKey" and amqp(c)["exchange"]["name"] == binding.exchange
        ]
        assert any(topic_matches(binding.routing_key, a) for a in addresses), binding


def test_inbound_payload_is_the_published_json_schema() -> None:
    """Inbound messages reference docs/schemas/gateway.message.1.json."""
    payload = SPEC["components"]["messages"]["gatewayMessage"]["payload"]
    assert payload["schema"]["$ref"] == "./schemas/gateway.message.1.json"
    schema = json.loads((DOCS / "schemas" / "gateway.message.1.json").read_text(encoding="utf-8"))
    assert schema["title"] == "gateway.message/1"


@pytest.mark.parametrize(
    ("name", "model"), [("OutboundMessage", OutboundMessage), ("Receipt", Receipt)]
)
def test_documented_fields_are_the_model_fields(name: str, model: type[BaseModel]) -> None:
    """The documented properties and required fields are exactly the pydantic model's."""
    schema = SPEC["components"]["schemas"][name]
    aliases = {f.alias or n for n, f in model.model_fields.items()}
    assert set(schema["properties"]) == aliases
    required = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
    assert required <= set(schema["required"])
    if name == "OutboundMessage":
        assert set(schema["required"]) == required


@pytest.mark.parametrize(
    ("message", "model"), [("outboundMessage", OutboundMessage), ("receipt", Receipt)]
)
def test_examples_validate_against_schema_and_model(message: str, model: type[BaseModel]) -> None:
    """Every example is valid for the documented JSON schema and for the model the gateway uses."""
    spec = resolve(SPEC["components"]["messages"][message])
    validator = jsonschema.Draft7Validator(spec["payload"])
    for example in spec["examples"]:
        validator.validate(example["payload"])
        model.model_validate(example["payload"])
    broken = {**spec["examples"][0]["payload"], "unexpected": 1}
    assert not validator.is_valid(broken)
