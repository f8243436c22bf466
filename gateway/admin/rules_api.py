"""Admin API for the rules stage: word lists (`/api/v1/words`), keyword rules
(`/api/v1/keyword-rules`), bulk import/export (JSON or CSV), and a rule check.

Every change is validated by the rules stage, written with a revision bump, applied to this
process at once and announced on ``kefu.control`` so every other gateway process reloads too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from gateway.admin.http import Page, json_response, parse_query, read_model
from gateway.errors import ConfigError, Conflict, InvalidRequest, NotFound
from gateway.keys import CONTROL, RULES, RULES_STORE
from gateway.rules_state import CONTROL_TOPIC
from gateway.store.rules import RulesStore
from rules import io
from rules.keywords import KeywordRule
from rules.wordlists import WordList, default_ad_law_list

__all__ = ["add_rules_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Bulk(BaseModel):
    format: Literal["json", "csv"] = "json"
    replace: bool = False


class Export(BaseModel):
    format: Literal["json", "csv"] = "json"


class AdLaw(BaseModel):
    enabled: bool = True
    inbound_action: Literal["flag", "quarantine"] = "flag"
    outbound_action: Literal["block", "mask"] = "block"


class CheckRequest(BaseModel):
    text: str = Field(max_length=10_000)
    direction: Literal["inbound", "outbound"] = "inbound"
    platform: str = "wechat"
    account: str = ""


def add_rules_routes(app: web.Application, prefix: str) -> None:
    r = app.router
    r.add_get(f"{prefix}/words", list_word_lists)
    r.add_post(f"{prefix}/words", create_word_list)
    r.add_post(f"{prefix}/words/_import", _importer(_WORD_LISTS))
    r.add_get(f"{prefix}/words/_export", _exporter(_WORD_LISTS))
    r.add_post(f"{prefix}/words/_defaults/ad-law", install_ad_law)
    r.add_get(f"{prefix}/words/{{id}}", get_word_list)
    r.add_put(f"{prefix}/words/{{id}}", put_word_list)
    r.add_delete(f"{prefix}/words/{{id}}", delete_word_list)
    r.add_get(f"{prefix}/keyword-rules", list_keyword_rules)
    r.add_post(f"{prefix}/keyword-rules", create_keyword_rule)
    r.add_post(f"{prefix}/keyword-rules/_import", _importer(_KEYWORD_RULES))
    r.add_get(f"{prefix}/keyword-rules/_export", _exporter(_KEYWORD_RULES))
    r.add_get(f"{prefix}/keyword-rules/{{id}}", get_keyword_rule)
    r.add_put(f"{prefix}/keyword-rules/{{id}}", put_keyword_rule)
    r.add_delete(f"{prefix}/keyword-rules/{{id}}", delete_keyword_rule)
    r.add_get(f"{prefix}/rules", rules_status)
    r.add_post(f"{prefix}/rules/check", check_rules)


# word lists ------------------------------------------------------------------------------------


async def list_word_lists(request: web.Request) -> web.Response:
    page = parse_query(request, Page)
    items = await request.app[RULES_STORE].word_list_summaries(page.cursor, page.limit + 1)
    return json_response(page.envelope(items))


async def get_word_list(request: web.Request) -> web.Response:
    found = await request.app[RULES_STORE].word_list(request.match_info["id"])
    if found is None:
        raise NotFound(f"no word list {request.match_info['id']!r}")
    return json_response(found.to_dict())


async def create_word_list(request: web.Request) -> web.Response:
    item = _build(WordList.from_dict, await _json_object(request))
    if await request.app[RULES_STORE].word_list(item.id) is not None:
        raise Conflict(f"word list {item.id!r} exists; PUT /words/{item.id} replaces it")
    await _applied(request, await request.app[RULES_STORE].put_word_lists([item]))
    return await _created(request, item.id)


async def put_word_list(request: web.Request) -> web.Response:
    data = await _json_object(request)
    list_id = request.match_info["id"]
    if data.setdefault("id", list_id) != list_id:
        raise InvalidRequest(f"body id {data['id']!r} differs from the path id {list_id!r}")
    data.pop("version", None)
    item = _build(WordList.from_dict, data)
    await _applied(request, await request.app[RULES_STORE].put_word_lists([item]))
    return await get_word_list(request)


async def delete_word_list(request: web.Request) -> web.Response:
    revision = await request.app[RULES_STORE].delete_word_list(request.match_info["id"])
    if revision is None:
        raise NotFound(f"no word list {request.match_info['id']!r}")
    await _applied(request, revision)
    return web.Response(status=204)


async def install_ad_law(request: web.Request) -> web.Response:
    """Install (or reset) the shipped 广告法 lexicon as list `ad_law`."""
    options = await read_model(request, AdLaw) if request.can_read_body else AdLaw()
    item = default_ad_law_list(
        enabled=options.enabled,
        inbound_action=options.inbound_action,
        outbound_action=options.outbound_action,
    )
    await _applied(request, await request.app[RULES_STORE].put_word_lists([item]))
    return await _created(request, item.id)


# keyword rules ---------------------------------------------------------------------------------


async def list_keyword_rules(request: web.Request) -> web.Response:
    page = parse_query(request, Page)
    rules = await request.app[RULES_STORE].keyword_rules(page.cursor, page.limit + 1)
    return json_response(page.envelope([r.to_dict() for r in rules]))


async def get_keyword_rule(request: web.Request) -> web.Response:
    found = await request.app[RULES_STORE].keyword_rule(request.match_info["id"])
    if found is None:
        raise NotFound(f"no keyword rule {request.match_info['id']!r}")
    return json_response(found.to_dict())


async def create_keyword_rule(request: web.Request) -> web.Response:
    rule = _build(KeywordRule.from_dict, await _json_object(request))
    if await request.app[RULES_STORE].keyword_rule(rule.id) is not None:
        raise Conflict(f"keyword rule {rule.id!r} exists; PUT /keyword-rules/{rule.id} replaces it")
    await _applied(request, await request.app[RULES_STORE].put_keyword_rules([rule]))
    return json_response(rule.to_dict(), status=201)


async def put_keyword_rule(request: web.Request) -> web.Response:
    data = await _json_object(request)
    rule_id = request.match_info["id"]
    if data.setdefault("id", rule_id) != rule_id:
        raise InvalidRequest(f"body id {data['id']!r} differs from the path id {rule_id!r}")
    rule = _build(KeywordRule.from_dict, data)
    await _applied(request, await request.app[RULES_STORE].put_keyword_rules([rule]))
    return json_response(rule.to_dict())


async def delete_keyword_rule(request: web.Request) -> web.Response:
    revision = await request.app[RULES_STORE].delete_keyword_rule(request.match_info["id"])
    if revision is None:
        raise NotFound(f"no keyword rule {request.match_info['id']!r}")
    await _applied(request, revision)
    return web.Response(status=204)


# rule set --------------------------------------------------------------------------------------


async def rules_status(request: web.Request) -> web.Response:
    store = request.app[RULES_STORE]
    current = request.app[RULES].current
    return json_response(
        {"revision": await store.revision(), "loaded": current.version, **await store.counts()}
    )


async def check_rules(request: web.Request) -> web.Response:
    """Run the loaded rule set on a text, as the pipeline or the outbound sender would."""
    body = await read_model(request, CheckRequest)
    ruleset = request.app[RULES].current
    if body.direction == "outbound":
        verdict = ruleset.outbound(body.text)
        return json_response(
            {
                "blocked": verdict.blocked,
                "text": verdict.text,
                "reason_word": verdict.reason_word,
                "hits": [
                    {
                        "word": h.word,
                        "list_id": h.list_id,
                        "category": h.category,
                        "start": h.start,
                        "end": h.end,
                    }
                    for h in verdict.hits
                ],
                "revision": ruleset.version,
            }
        )
    decision = ruleset.inbound(body.text, body.platform, body.account)
    return json_response(
        {
            "action": decision.action,
            "rule_id": decision.rule_id,
            "reply": decision.reply.to_dict() if decision.reply else None,
            "tags": list(decision.tags),
            "keywords": list(decision.keywords),
            "sensitive": list(decision.sensitive),
            "quarantine": decision.quarantine,
            "revision": ruleset.version,
        }
    )


# bulk import / export ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _BulkKind:
    """How one kind of rules object is read, written and stored in bulk."""

    name: str  # file name stem
    from_csv: Callable[[str], tuple[Any, ...]]
    to_csv: Callable[[Sequence[Any]], str]
    to_json: Callable[[Sequence[Any]], str]
    part: int  # index in `io.load_json`'s (lists, rules) and in a snapshot's lists/rules
    put: Callable[[RulesStore, Sequence[Any], bool], Awaitable[int]]


_WORD_LISTS = _BulkKind(
    "word-lists",
    io.word_lists_from_csv,
    io.word_lists_to_csv,
    lambda items: io.dump_json(word_lists=items),
    0,
    lambda store, items, replace: store.put_word_lists(items, replace_all=replace),
)
_KEYWORD_RULES = _BulkKind(
    "keyword-rules",
    io.keyword_rules_from_csv,
    io.keyword_rules_to_csv,
    lambda items: io.dump_json(keyword_rules=items),
    1,
    lambda store, items, replace: store.put_keyword_rules(items, replace_all=replace),
)


def _importer(kind: _BulkKind) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        query = parse_query(request, Bulk)
        text = await request.text()
        if query.format == "csv":
            items = _build(kind.from_csv, text)
        else:
            items = _build(io.load_json, text)[kind.part]
        revision = await kind.put(request.app[RULES_STORE], items, query.replace)
        await _applied(request, revision)
        return json_response({"imported": len(items), "revision": revision})

    return handler


def _exporter(kind: _BulkKind) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        query = parse_query(request, Export)
        _revision, lists, rules = await request.app[RULES_STORE].snapshot()
        items: Sequence[Any] = (lists, rules)[kind.part]
        if query.format == "csv":
            return _download(kind.to_csv(items), f"{kind.name}.csv", "text/csv")
        return _download(kind.to_json(items), f"{kind.name}.json", "application/json")

    return handler


# helpers ---------------------------------------------------------------------------------------


def _build(build: Callable[[Any], Any], data: Any) -> Any:
    """Run a rules-stage constructor; its ConfigError becomes a 422."""
    try:
        return build(data)
    except (ConfigError, TypeError) as exc:
        raise InvalidRequest(str(exc)) from exc


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("body must be a JSON object")
    return data


async def _applied(request: web.Request, revision: int) -> None:
    """Apply a change here at once and tell the other gateway processes."""
    await request.app[RULES].reload(revision)
    await request.app[CONTROL].announce(CONTROL_TOPIC, revision)


async def _created(request: web.Request, list_id: str) -> web.Response:
    found = await request.app[RULES_STORE].word_list(list_id)
    assert found is not None
    return json_response(found.to_dict(), status=201)


def _download(text: str, filename: str, content_type: str) -> web.Response:
    return web.Response(
        text=text,
        content_type=content_type,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
