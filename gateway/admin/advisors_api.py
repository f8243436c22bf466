"""Admin API of the advisor model: advisors, groups, customers, bindings, QR scenes, settings.

Every change that routing depends on is announced on ``kefu.control`` (topic ``advisors``) so
each gateway process drops what it cached; advisor apps are notified on ``event.gateway.*``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from gateway.admin.http import Page, json_response, parse_query, read_model
from gateway.assignment import CONTROL_TOPIC, AdvisorSettings
from gateway.errors import InvalidRequest, NotFound
from gateway.keys import ADVISOR_STORE, BINDING_STORE, CONTROL, NOTIFY
from gateway.store.bindings import CustomerRef, Outcome

__all__ = ["add_advisor_routes"]

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
CustomerId = Annotated[str, StringConstraints(min_length=3, max_length=160)]
MAX_BATCH = 500
TAG_KINDS, TAG_VALUES = 4, 50


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdvisorIn(_Model):
    id: Id
    nickname: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    avatar_url: HttpUrl | None = None
    status: Literal["online", "offline"] = "offline"
    welcome: Annotated[str, StringConstraints(max_length=600)] | None = None
    offline_reply: Annotated[str, StringConstraints(max_length=300)] | None = None
    capacity: int = Field(default=15_000, ge=1, le=15_000)


class AdvisorPatch(_Model):
    nickname: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    avatar_url: HttpUrl | None = None
    status: Literal["online", "offline"] | None = None
    welcome: Annotated[str, StringConstraints(max_length=600)] | None = None
    offline_reply: Annotated[str, StringConstraints(max_length=300)] | None = None
    capacity: int | None = Field(default=None, ge=1, le=15_000)


class AdvisorQuery(Page):
    status: Literal["online", "offline"] | None = None


class GroupIn(_Model):
    id: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Members(_Model):
    advisor_ids: list[Id] = Field(min_length=1, max_length=200)


class CustomerPatch(_Model):
    nickname: Annotated[str, StringConstraints(max_length=128)] | None = None
    remark: Annotated[str, StringConstraints(max_length=256)] | None = None
    region: Annotated[str, StringConstraints(max_length=64)] | None = None
    tags: dict[str, list[Annotated[str, StringConstraints(min_length=1, max_length=32)]]] | None = (
        None
    )

    @model_validator(mode="after")
    def _tag_limits(self) -> CustomerPatch:
        if self.tags is not None:
            if len(self.tags) > TAG_KINDS:
                raise ValueError(f"at most {TAG_KINDS} tag kinds")
            if any(len(values) > TAG_VALUES for values in self.tags.values()):
                raise ValueError(f"at most {TAG_VALUES} values per tag kind")
        return self


class CustomerQuery(Page):
    unassigned: bool = False
    advisor_id: str | None = None
    region: str | None = None
    tag: str | None = None


class Handle(_Model):
    platform: Literal["wechat", "douyin", "taobao"]
    account: Id
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    union_id: Annotated[str, StringConstraints(max_length=128)] | None = None


class BindOp(_Model):
    advisor_id: Id
    customer_id: CustomerId | None = None
    customer: Handle | None = None

    @model_validator(mode="after")
    def _one_customer(self) -> BindOp:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give exactly one of customer_id or customer")
        return self


class BindBatch(_Model):
    mode: Literal["bind", "rebind"] = "bind"
    bindings: list[BindOp] = Field(min_length=1, max_length=MAX_BATCH)


class UnbindBatch(_Model):
    customer_ids: list[CustomerId] = Field(min_length=1, max_length=MAX_BATCH)


class Migrate(_Model):
    to_advisor_id: Id


class SceneIn(_Model):
    kind: Literal["advisor", "group"]
    target_id: Id
    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,60}$")] | None = None


class SettingsIn(_Model):
    auto_assign: bool = False
    default_group: Id | None = None
    handoff_keywords: list[Annotated[str, StringConstraints(min_length=1, max_length=20)]] = Field(
        default_factory=lambda: list(AdvisorSettings().handoff_keywords), max_length=50
    )
    welcome: Annotated[str, StringConstraints(max_length=600)] | None = None
    offline_reply_window: int = Field(default=12 * 3600, ge=0, le=30 * 86400)


def add_advisor_routes(app: web.Application, prefix: str) -> None:
    r = app.router
    r.add_get(f"{prefix}/advisors", list_advisors)
    r.add_post(f"{prefix}/advisors", create_advisor)
    r.add_get(f"{prefix}/advisors/{{id}}", get_advisor)
    r.add_patch(f"{prefix}/advisors/{{id}}", patch_advisor)
    r.add_delete(f"{prefix}/advisors/{{id}}", delete_advisor)
    r.add_post(f"{prefix}/advisors/{{id}}/migrate", migrate_advisor)
    r.add_get(f"{prefix}/groups", list_groups)
    r.add_post(f"{prefix}/groups", create_group)
    r.add_get(f"{prefix}/groups/{{id}}", get_group)
    r.add_delete(f"{prefix}/groups/{{id}}", delete_group)
    r.add_post(f"{prefix}/groups/{{id}}/members", add_members)
    r.add_delete(f"{prefix}/groups/{{id}}/members/{{advisor_id}}", remove_member)
    r.add_get(f"{prefix}/customers", list_customers)
    r.add_get(f"{prefix}/customers/{{id}}", get_customer)
    r.add_patch(f"{prefix}/customers/{{id}}", patch_customer)
    r.add_post(f"{prefix}/bindings", bind_batch)
    r.add_post(f"{prefix}/bindings/_unbind", unbind_batch)
    r.add_get(f"{prefix}/scenes", list_scenes)
    r.add_post(f"{prefix}/scenes", create_scene)
    r.add_delete(f"{prefix}/scenes/{{id}}", delete_scene)
    r.add_get(f"{prefix}/settings", get_settings)
    r.add_put(f"{prefix}/settings", put_settings)


# advisors -------------------------------------------------------------------------------------


async def list_advisors(request: web.Request) -> web.Response:
    query = parse_query(request, AdvisorQuery)
    rows = await request.app[ADVISOR_STORE].advisors(query.cursor, query.limit + 1, query.status)
    return json_response(query.envelope([r.to_dict() for r in rows]))


async def create_advisor(request: web.Request) -> web.Response:
    body = await read_model(request, AdvisorIn)
    fields = body.model_dump(exclude={"id"}, mode="json")
    advisor = await request.app[ADVISOR_STORE].create_advisor(body.id, fields)
    await request.app[NOTIFY]("advisor_added", {"advisor_id": advisor.id})
    return json_response(advisor.to_dict(), status=201)


async def get_advisor(request: web.Request) -> web.Response:
    return json_response(
        (await request.app[ADVISOR_STORE].advisor(request.match_info["id"])).to_dict()
    )


async def patch_advisor(request: web.Request) -> web.Response:
    body = await read_model(request, AdvisorPatch)
    fields = body.model_dump(exclude_unset=True, mode="json")
    advisor = await request.app[ADVISOR_STORE].update_advisor(request.match_info["id"], fields)
    await _changed(request)
    return json_response(advisor.to_dict())


async def delete_advisor(request: web.Request) -> web.Response:
    advisor_id = request.match_info["id"]
    released = await request.app[ADVISOR_STORE].delete_advisor(advisor_id)
    await _changed(request)
    await request.app[NOTIFY](
        "advisor_removed", {"advisor_id": advisor_id, "customers_released": released}
    )
    return json_response({"deleted": advisor_id, "customers_released": released})


async def migrate_advisor(request: web.Request) -> web.Response:
    body = await read_model(request, Migrate)
    moved = await request.app[BINDING_STORE].migrate(request.match_info["id"], body.to_advisor_id)
    await _changed(request)
    return json_response({"moved": moved, "to_advisor_id": body.to_advisor_id})


# groups ---------------------------------------------------------------------------------------


async def list_groups(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[ADVISOR_STORE].groups()})


async def create_group(request: web.Request) -> web.Response:
    body = await read_model(request, GroupIn)
    return json_response(
        await request.app[ADVISOR_STORE].create_group(body.id, body.name), status=201
    )


async def get_group(request: web.Request) -> web.Response:
    return json_response(await request.app[ADVISOR_STORE].group(request.match_info["id"]))


async def delete_group(request: web.Request) -> web.Response:
    await request.app[ADVISOR_STORE].delete_group(request.match_info["id"])
    return web.Response(status=204)


async def add_members(request: web.Request) -> web.Response:
    body = await read_model(request, Members)
    return json_response(
        await request.app[ADVISOR_STORE].add_members(request.match_info["id"], body.advisor_ids)
    )


async def remove_member(request: web.Request) -> web.Response:
    await request.app[ADVISOR_STORE].remove_member(
        request.match_info["id"], request.match_info["advisor_id"]
    )
    return web.Response(status=204)


# customers and bindings -----------------------------------------------------------------------


async def list_customers(request: web.Request) -> web.Response:
    query = parse_query(request, CustomerQuery)
    rows = await request.app[BINDING_STORE].customers(
        after=query.cursor,
        limit=query.limit + 1,
        advisor_id=query.advisor_id,
        unassigned=query.unassigned,
        region=query.region,
        tag=query.tag,
    )
    return json_response(query.envelope(rows))


async def get_customer(request: web.Request) -> web.Response:
    return json_response(await request.app[BINDING_STORE].customer(request.match_info["id"]))


async def patch_customer(request: web.Request) -> web.Response:
    body = await read_model(request, CustomerPatch)
    return json_response(
        await request.app[BINDING_STORE].update_customer(
            request.match_info["id"], body.model_dump(exclude_unset=True)
        )
    )


async def bind_batch(request: web.Request) -> web.Response:
    """Bind (or rebind) up to 500 customers; each gets its own outcome."""
    body = await read_model(request, BindBatch)
    store = request.app[BINDING_STORE]
    results: list[dict[str, Any]] = []
    for op in body.bindings:
        if op.customer is not None:
            handle = op.customer
            customer_id = await store.resolve(
                CustomerRef(handle.platform, handle.account, handle.external_id, handle.union_id)
            )
        else:
            customer_id = op.customer_id or ""
            await store.customer(customer_id)  # NotFound for an unknown id
        result = await store.bind(
            customer_id, op.advisor_id, "admin", replace=body.mode == "rebind"
        )
        if result.outcome is Outcome.BOUND:
            await request.app[CONTROL].announce(CONTROL_TOPIC, 0, customer_id)
            await request.app[NOTIFY](
                "customer_bound",
                {"advisor_id": result.advisor_id, "customer_id": customer_id, "source": "admin"},
            )
        results.append(
            {
                "customer_id": customer_id,
                "outcome": result.outcome.value,
                "advisor_id": result.advisor_id,
            }
        )
    return json_response({"results": results})


async def unbind_batch(request: web.Request) -> web.Response:
    body = await read_model(request, UnbindBatch)
    released = await request.app[BINDING_STORE].unbind(body.customer_ids)
    for customer_id in body.customer_ids:
        await request.app[CONTROL].announce(CONTROL_TOPIC, 0, customer_id)
    return json_response({"unbound": released})


# scenes and settings --------------------------------------------------------------------------


async def list_scenes(request: web.Request) -> web.Response:
    return json_response({"items": await request.app[ADVISOR_STORE].scenes()})


async def create_scene(request: web.Request) -> web.Response:
    body = await read_model(request, SceneIn)
    scene = await request.app[ADVISOR_STORE].create_scene(body.kind, body.target_id, body.value)
    return json_response(scene, status=201)


async def delete_scene(request: web.Request) -> web.Response:
    await request.app[ADVISOR_STORE].delete_scene(request.match_info["id"])
    return web.Response(status=204)


async def get_settings(request: web.Request) -> web.Response:
    revision, doc = await request.app[ADVISOR_STORE].settings()
    return json_response({**AdvisorSettings.from_doc(doc).to_doc(), "revision": revision})


async def put_settings(request: web.Request) -> web.Response:
    body = await read_model(request, SettingsIn)
    if body.default_group is not None:
        try:
            await request.app[ADVISOR_STORE].group(body.default_group)
        except NotFound as exc:
            raise InvalidRequest(f"default_group {body.default_group!r} does not exist") from exc
    revision = await request.app[ADVISOR_STORE].put_settings(body.model_dump())
    await _changed(request)
    return json_response({**body.model_dump(), "revision": revision})


async def _changed(request: web.Request) -> None:
    """Advisor state changed: every process drops its cached bindings and settings."""
    await request.app[CONTROL].announce(CONTROL_TOPIC, 0, None)
