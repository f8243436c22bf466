"""Advisors, groups and bindings in the real store (SQLite and PostgreSQL): limits, identity,
capacity and uniqueness under concurrency."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import Conflict, NotFound
from gateway.store.advisors import AdvisorStore
from gateway.store.bindings import BindingStore, CustomerRef, Outcome
from gateway.store.engine import create_engine

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def advisors(engine: AsyncEngine) -> AdvisorStore:
    return AdvisorStore(engine)


@pytest.fixture
def bindings(engine: AsyncEngine) -> BindingStore:
    return BindingStore(engine)


async def customer(bindings: BindingStore, n: int, union: str | None = None) -> str:
    return await bindings.resolve(CustomerRef("wechat", "shop1", f"o{n}", union_id=union))


async def test_union_id_makes_one_customer_across_surfaces(bindings: BindingStore) -> None:
    """The same union_id on two WeChat accounts resolves to one customer; handles are kept."""
    first = await bindings.resolve(CustomerRef("wechat", "oa", "oA", union_id="U1"))
    second = await bindings.resolve(CustomerRef("wechat", "mp", "oB", union_id="U1"))
    other = await bindings.resolve(CustomerRef("wechat", "mp", "oC"))
    assert first == second == "wechat:u:U1"
    assert other == "wechat:mp:oC"
    doc = await bindings.customer(first)
    assert sorted(h["account"] for h in doc["handles"]) == ["mp", "oa"]


async def test_bind_rebind_unbind_and_capacity(
    advisors: AdvisorStore, bindings: BindingStore
) -> None:
    """Binding respects capacity; rebinding moves the slot; unbinding frees it."""
    await advisors.create_advisor("a1", {"nickname": "A1", "capacity": 1})
    await advisors.create_advisor("a2", {"nickname": "A2", "capacity": 5})
    c1, c2 = await customer(bindings, 1), await customer(bindings, 2)
    assert (await bindings.bind(c1, "a1", "admin")).outcome is Outcome.BOUND
    assert (await bindings.bind(c1, "a1", "admin")).outcome is Outcome.ALREADY
    assert (await bindings.bind(c2, "a1", "admin")).outcome is Outcome.FULL
    assert (await bindings.bind(c1, "a2", "admin")).outcome is Outcome.TAKEN
    assert (await bindings.bind(c1, "a2", "admin", replace=True)).outcome is Outcome.BOUND
    assert (await advisors.advisor("a1")).bound_count == 0
    assert (await bindings.bind(c2, "a1", "admin")).outcome is Outcome.BOUND
    assert await bindings.unbind([c1, c2]) == 2
    assert [(await advisors.advisor(i)).bound_count for i in ("a1", "a2")] == [0, 0]
    assert (await bindings.bind(c1, "nobody", "admin")).outcome is Outcome.UNKNOWN


async def test_capacity_cannot_drop_below_bound(
    advisors: AdvisorStore, bindings: BindingStore
) -> None:
    """Lowering capacity below the customers bound now is a conflict."""
    await advisors.create_advisor("a1", {"nickname": "A1", "capacity": 3})
    for n in range(2):
        await bindings.bind(await customer(bindings, n), "a1", "admin")
    with pytest.raises(Conflict):
        await advisors.update_advisor("a1", {"capacity": 1})
    assert (await advisors.update_advisor("a1", {"capacity": 2})).capacity == 2


async def test_group_assignment_prefers_online(
    advisors: AdvisorStore, bindings: BindingStore
) -> None:
    """A group binds online advisors with room first; offline ones only when none has room."""
    await advisors.create_advisor("on", {"nickname": "On", "status": "online", "capacity": 2})
    await advisors.create_advisor("off", {"nickname": "Off", "capacity": 10})
    await advisors.create_group("g1", "Group")
    await advisors.add_members("g1", ["on", "off"])
    got = [
        (await bindings.bind_to_group(await customer(bindings, n), "g1", "group_scene")).advisor_id
        for n in range(4)
    ]
    assert got == ["on", "on", "off", "off"]


async def test_migrate_moves_everyone_or_nobody(
    advisors: AdvisorStore, bindings: BindingStore
) -> None:
    """Migration moves all customers when the target has room, none when it has not."""
    await advisors.create_advisor("from", {"nickname": "F"})
    await advisors.create_advisor("small", {"nickname": "S", "capacity": 1})
    await advisors.create_advisor("big", {"nickname": "B"})
    for n in range(3):
        await bindings.bind(await customer(bindings, n), "from", "admin")
    with pytest.raises(Conflict):
        await bindings.migrate("from", "small")
    assert await bindings.migrate("from", "big") == 3
    assert [(await advisors.advisor(i)).bound_count for i in ("from", "big")] == [0, 3]


async def test_group_limits(advisors: AdvisorStore) -> None:
    """Unknown members are refused; duplicates are ignored."""
    await advisors.create_group("g", "G")
    with pytest.raises(NotFound):
        await advisors.add_members("g", ["ghost"])
    await advisors.create_advisor("a", {"nickname": "A"})
    assert (await advisors.add_members("g", ["a", "a"]))["advisors"] == ["a"]


async def test_offline_reply_once_per_window(bindings: BindingStore) -> None:
    """The offline reply is due once per window per customer and advisor."""
    assert await bindings.claim_offline_reply("c", "a", 3600)
    assert not await bindings.claim_offline_reply("c", "a", 3600)
    assert await bindings.claim_offline_reply("c", "b", 3600)
    assert await bindings.claim_offline_reply("c", "a", 0)


async def test_concurrent_binding_respects_capacity_and_uniqueness(
    engine: AsyncEngine, database_url: str, advisors: AdvisorStore
) -> None:
    """Two engines (as two processes) binding 120 customers into a group of 3 × capacity 30:
    no advisor over capacity, each customer bound at most once, exactly 90 bound."""
    second = create_engine(database_url)
    try:
        stores = [BindingStore(engine), BindingStore(second)]
        for n in range(3):
            await advisors.create_advisor(
                f"adv{n}", {"nickname": f"A{n}", "capacity": 30, "status": "online"}
            )
        await advisors.create_group("grp", "G")
        await advisors.add_members("grp", ["adv0", "adv1", "adv2"])
        ids = [await stores[0].resolve(CustomerRef("wechat", "s", f"c{n}")) for n in range(120)]
        tasks = [
            stores[n % 2].bind_to_group(cid, "grp", "group_scene") for n, cid in enumerate(ids * 2)
        ]  # every customer twice, from both "processes"
        results = await asyncio.gather(*tasks)
        bound = {r.advisor_id for r in results if r.outcome is Outcome.BOUND}
        assert bound <= {"adv0", "adv1", "adv2"}
        assert sum(r.outcome is Outcome.BOUND for r in results) == 90
        counts = [(await advisors.advisor(f"adv{n}")).bound_count for n in range(3)]
        assert counts == [30, 30, 30]
        per_customer = [
            await stores[0].customers(after=None, limit=500, advisor_id=f"adv{n}") for n in range(3)
        ]
        assert sum(len(p) for p in per_customer) == 90
    finally:
        await second.dispose()
