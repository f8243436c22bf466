"""System (c): a prepared store for kefu-gateway, and starting `kefu-gateway serve` on a copy.

Preparation runs once per harness invocation and store kind, through the gateway's own admin
API (as an operator would): 10,000 sensitive words in four lists plus the ad-law lexicon and 500
keyword rules (the sets of `bench/bench_rules.py`, imported as JSON), `advisors` online advisors,
and every bench customer bound to one of them, so that routing goes to bound advisors. The
prepared store is a template: each gateway run gets a fresh copy (SQLite: a file copy;
PostgreSQL: ``CREATE DATABASE … TEMPLATE``), so dedup starts empty and runs do not interfere.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]

from rules.io import dump_json

from . import servers
from .account import ACCOUNT, write_accounts_toml
from .callbacks import customer_ids

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/, as its scripts expect
import bench_rules

__all__ = ["GatewayStore", "prepare_store", "rules_document", "start_gateway"]

ADMIN_TOKEN = "kefu-bench-admin-token"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class GatewayStore:
    kind: str  # "sqlite" | "postgres"
    template: str  # SQLite: file path; PostgreSQL: database name
    postgres_url: str  # PostgreSQL server URL (asyncpg form, any database), "" for SQLite
    accounts: Path
    summary: dict[str, Any]


def rules_document() -> str:
    """The 10,000 words (+ ad-law lexicon) and 500 keyword rules of bench_rules.py, as JSON."""
    rng = random.Random(bench_rules.SEED)
    pool = bench_rules.gb2312_level1()
    words = bench_rules.make_words(rng, pool, 10_000)
    return dump_json(bench_rules.make_lists(words), bench_rules.make_rules(rng, pool))


def gateway_env(
    *, port: int, amqp_url: str, database_url: str, accounts: Path, log_level: str
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(port),
        GATEWAY_AMQP_URL=amqp_url,
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_CONFIG=str(accounts),
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
        # callbacks are generated once per harness run: keep them fresh for its whole length
        GATEWAY_REPLAY_WINDOW="7200",
        GATEWAY_LOG_LEVEL=log_level,
    )
    return env


def start_gateway(
    name: str,
    *,
    workers: int,
    amqp_url: str,
    database_url: str,
    accounts: Path,
    log: Path,
    log_level: str = "info",
    module: str = "gateway",
) -> servers.Server:
    """`python -m <module> serve`: the gateway, or a bench variant of it taking its arguments."""
    port = servers.free_port()
    env = gateway_env(
        port=port,
        amqp_url=amqp_url,
        database_url=database_url,
        accounts=accounts,
        log_level=log_level,
    )
    # `bench.load.…` modules are imported from this checkout, wherever the harness runs from.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH"))))
    return servers.start(
        name,
        [sys.executable, "-m", module, "serve", "--workers", str(workers)],
        port=port,
        log=log,
        env=env,
        ready_path="/readyz",
        timeout=120,
    )


async def _admin(session: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
    async with session.request(method, path, **kw) as resp:
        body = await resp.json(content_type=None)
        if resp.status >= 300:
            raise RuntimeError(f"admin {method} {path}: {resp.status} {body}")
        return body


async def _populate(port: int, rules_json: str, advisors: int, customers: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as session:
        ctype = {"Content-Type": "application/json"}
        await _admin(session, "POST", "/api/v1/words/_import", data=rules_json, headers=ctype)
        await _admin(
            session, "POST", "/api/v1/keyword-rules/_import", data=rules_json, headers=ctype
        )
        ids = [f"bench-adv-{n:03d}" for n in range(advisors)]
        for n, advisor_id in enumerate(ids):
            await _admin(
                session,
                "POST",
                "/api/v1/advisors",
                json={"id": advisor_id, "nickname": f"顾问{n:03d}", "status": "online"},
            )
        ops = [
            {
                "advisor_id": ids[n % advisors],
                "customer": {"platform": "wechat", "account": ACCOUNT, "external_id": openid},
            }
            for n, openid in enumerate(customer_ids(customers))
        ]
        bound = 0
        for at in range(0, len(ops), 500):
            result = await _admin(
                session, "POST", "/api/v1/bindings", json={"bindings": ops[at : at + 500]}
            )
            bound += sum(1 for r in result["results"] if r["outcome"] in ("bound", "already"))
        status = await _admin(session, "GET", "/api/v1/rules")
    return {"rules": status, "advisors": advisors, "customers": customers, "bound": bound}


async def _recreate_database(server_url: str, name: str, template: str | None = None) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _sqlalchemy_url(server_url: str, database: str) -> str:
    base = server_url.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + database


def prepare_store(
    kind: str,
    work: Path,
    *,
    amqp_url: str,
    postgres_url: str,
    advisors: int,
    customers: int,
) -> GatewayStore:
    """Build the template store through a temporary gateway's admin API."""
    accounts = write_accounts_toml(work / "accounts.toml")
    if kind == "sqlite":
        template = str(work / "template.db")
        database_url = f"sqlite+aiosqlite:///{template}"
    else:
        template = "kefu_bench_template"
        asyncio.run(_recreate_database(postgres_url, template))
        database_url = _sqlalchemy_url(postgres_url, template)
    server = start_gateway(
        f"gateway-setup-{kind}",
        workers=1,
        amqp_url=amqp_url,
        database_url=database_url,
        accounts=accounts,
        log=work / f"gateway-setup-{kind}.log",
        log_level="warning",
    )
    try:
        summary = asyncio.run(_populate(server.port, rules_document(), advisors, customers))
    finally:
        server.stop()
    return GatewayStore(kind, template, postgres_url, accounts, summary)


def fresh_copy(store: GatewayStore, work: Path, name: str) -> str:
    """A GATEWAY_DATABASE_URL for a fresh copy of the template."""
    if store.kind == "sqlite":
        target = work / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
            source = Path(store.template + suffix)
            if source.exists():
                shutil.copyfile(source, str(target) + suffix)
        return f"sqlite+aiosqlite:///{target}"
    run_db = "kefu_bench_run"
    asyncio.run(_recreate_database(store.postgres_url, run_db, template=store.template))
    return _sqlalchemy_url(store.postgres_url, run_db)


def drop_postgres(store: GatewayStore) -> None:
    if store.kind == "postgres":
        for name in ("kefu_bench_run", store.template):
            asyncio.run(drop_database(store.postgres_url, name))
