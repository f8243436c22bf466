"""Admin API of mass-send tasks: create, list, inspect progress and results, change, cancel.

A task sends one material (a ``gateway.outbound/1`` kind + content [+ context]) from one advisor
through one account to up to 15,000 customers — an explicit id list, or a filter (tag value,
optionally of one tag kind, and/or region) over the customers bound to the advisor, resolved when
the task starts. The gateway's mass worker expands it (see `gateway.mass.worker`); docs in
docs/mass-send.md. 422 for bodies that do not validate (the material is validated as the
outbound message it will become), 404 for an unknown advisor or task, 409 for a change or cancel
the task's state does not allow.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from gateway.admin.http import Page, json_response, parse_query, read_model
from gateway.errors import InvalidRequest
from gateway.keys import ACCOUNTS, ADVISOR_STORE, MASS
from gateway.mass.model import MAX_CUSTOMERS, State, Status, new_task_id
from gateway.models import Platform
from gateway.outbound.schema import Kind, OutboundMessage, describe_errors
from gateway.store.mass import NewTask

__all__ = ["add_mass_routes"]

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
CustomerId = Annotated[str, StringConstraints(min_length=3, max_length=160)]
TagValue = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Account = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Material(_Model):
    kind: Kind
    content: dict[str, Any]
    context: dict[str, Any] | None = None


class Filter(_Model):
    tag: TagValue | None = None
    tag_kind: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _kind_needs_tag(self) -> Filter:
        if self.tag_kind is not None and self.tag is None:
            raise ValueError("tag_kind needs tag")
        return self


Customers = Annotated[list[CustomerId], Field(min_length=1, max_length=MAX_CUSTOMERS)]


class TaskIn(_Model):
    advisor_id: Id
    platform: Literal["wechat", "douyin", "taobao"]
    account: Account
    material: Material
    customer_ids: Customers | None = None
    filter: Filter | None = None
    skip_recent: bool = True
    start_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_audience(self) -> TaskIn:
        if (self.customer_ids is None) == (self.filter is None):
            raise ValueError("give exactly one of customer_ids or filter")
        return self


class TaskPatch(_Model):
    material: Material | None = None
    customer_ids: Customers | None = None
    filter: Filter | None = None
    skip_recent: bool | None = None
    start_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _at_most_one_audience(self) -> TaskPatch:
        if self.customer_ids is not None and self.filter is not None:
            raise ValueError("give at most one of customer_ids or filter")
        return self


class TaskQuery(Page):
    state: State | None = None
    advisor_id: str | None = None


class ResultQuery(Page):
    status: Status | None = None
    reason: Annotated[str, StringConstraints(max_length=32)] | None = None


def add_mass_routes(app: web.Application, prefix: str) -> None:
    r = app.router
    r.add_get(f"{prefix}/mass-tasks", list_tasks)
    r.add_post(f"{prefix}/mass-tasks", create_task)
    r.add_get(f"{prefix}/mass-tasks/{{id}}", get_task)
    r.add_patch(f"{prefix}/mass-tasks/{{id}}", patch_task)
    r.add_post(f"{prefix}/mass-tasks/{{id}}/_cancel", cancel_task)
    r.add_get(f"{prefix}/mass-tasks/{{id}}/results", list_results)


async def list_tasks(request: web.Request) -> web.Response:
    query = parse_query(request, TaskQuery)
    rows = await request.app[MASS].store.tasks(
        before=query.cursor, limit=query.limit + 1, state=query.state, advisor_id=query.advisor_id
    )
    return json_response(query.envelope(rows))


async def create_task(request: web.Request) -> web.Response:
    body = await read_model(request, TaskIn)
    if request.app[ACCOUNTS].get(Platform(body.platform), body.account) is None:
        raise InvalidRequest(f"no {body.platform} account {body.account!r} is configured")
    await request.app[ADVISOR_STORE].advisor(body.advisor_id)  # NotFound: 404
    material = _material(body.material, body.advisor_id, body.platform, body.account)
    task = NewTask(
        id=new_task_id(),
        advisor_id=body.advisor_id,
        platform=body.platform,
        account=body.account,
        material=material,
        selector=_selector(body.filter, body.customer_ids),
        customer_ids=body.customer_ids,
        skip_recent=body.skip_recent,
        start_at=body.start_at.timestamp() if body.start_at else time.time(),
    )
    created = await request.app[MASS].store.create(task)
    request.app[MASS].wake()
    return json_response(created, status=201)


async def get_task(request: web.Request) -> web.Response:
    return json_response(await request.app[MASS].store.task(request.match_info["id"]))


async def patch_task(request: web.Request) -> web.Response:
    body = await read_model(request, TaskPatch)
    store = request.app[MASS].store
    task = await store.task(request.match_info["id"])  # NotFound: 404
    fields: dict[str, Any] = {}
    if body.material is not None:
        fields["material"] = _material(
            body.material, task["advisor_id"], task["platform"], task["account"]
        )
    if body.customer_ids is not None or body.filter is not None:
        fields["selector"] = _selector(body.filter, body.customer_ids)
    if body.skip_recent is not None:
        fields["skip_recent"] = body.skip_recent
    if body.start_at is not None:
        fields["start_at"] = body.start_at.timestamp()
    updated = await store.update(task["id"], fields, body.customer_ids)
    request.app[MASS].wake()
    return json_response(updated)


async def cancel_task(request: web.Request) -> web.Response:
    """Stop expanding; messages already queued may still be sent (their results arrive)."""
    return json_response(await request.app[MASS].store.cancel(request.match_info["id"]))


async def list_results(request: web.Request) -> web.Response:
    query = parse_query(request, ResultQuery)
    rows = await request.app[MASS].store.results(
        request.match_info["id"],
        after=query.cursor,
        limit=query.limit + 1,
        status=query.status,
        reason=query.reason,
    )
    return json_response(query.envelope(rows, key="customer_id"))


def _material(material: Material, advisor_id: str, platform: str, account: str) -> dict[str, Any]:
    """The material as the outbound message it becomes validates it (normalized), or 422."""
    try:
        sample = OutboundMessage.model_validate(
            {
                **material.model_dump(exclude_none=True),
                "request_id": "mass:check:customer",
                "sender": f"advisor:{advisor_id}",
                "platform": platform,
                "account": account,
                "customer": "customer",
                "proactive": True,
            }
        )
    except ValidationError as exc:
        raise InvalidRequest(
            f"the material is not a valid message: {describe_errors(exc)}"
        ) from exc
    return sample.model_dump(mode="json", include={"kind", "content", "context"}, exclude_none=True)


def _selector(rule: Filter | None, customer_ids: list[str] | None) -> dict[str, Any]:
    if rule is not None:
        return {"filter": rule.model_dump(exclude_none=True)}
    return {"explicit": len(set(customer_ids or ()))}
