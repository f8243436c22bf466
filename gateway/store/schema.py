"""Table definitions (SQLAlchemy Core). Alembic migrations in `migrations/` create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

__all__ = ["callback_dedup", "keyword_rules", "metadata", "rules_revision", "word_lists"]

metadata = MetaData()

# One row per inbound message id: claimed (state 0) while its publish is in flight, done (1)
# once RabbitMQ confirmed it. Rows are purged after `expires_at` (epoch seconds).
callback_dedup = Table(
    "callback_dedup",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("state", SmallInteger, nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

# Rules (issue: rules stage). Each row keeps the object's JSON (`to_dict`, without `version`);
# `rules_revision` (one row, id 1) is bumped in the same transaction as every change, so a process
# knows whether its compiled RuleSet is current.
word_lists = Table(
    "word_lists",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("doc", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

keyword_rules = Table(
    "keyword_rules",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("doc", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

rules_revision = Table(
    "rules_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
)

# Advisors (migration 0003): advisors, groups and members, customers and their platform handles
# (one customer across WeChat surfaces by union_id), bindings (one advisor per customer, the
# advisor's `bound_count` maintained in the same transaction so capacity holds under concurrency),
# QR scenes, per-customer offline-reply bookkeeping, and one settings document.
advisors = Table(
    "advisors",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("nickname", String(64), nullable=False),
    Column("avatar_url", String(1024)),
    Column("status", String(16), nullable=False),
    Column("welcome", Text),
    Column("offline_reply", Text),
    Column("capacity", Integer, nullable=False),
    Column("bound_count", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

advisor_groups = Table(
    "advisor_groups",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column(
        "group_id",
        String(64),
        ForeignKey("advisor_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "advisor_id", String(64), ForeignKey("advisors.id", ondelete="CASCADE"), primary_key=True
    ),
)

customers = Table(
    "customers",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("union_id", String(128)),
    Column("nickname", String(128)),
    Column("remark", String(256)),
    Column("region", String(64)),
    Column("tags", Text, nullable=False, server_default="{}"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

customer_handles = Table(
    "customer_handles",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("external_id", String(128), primary_key=True),
    Column(
        "customer_id", String(160), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False
    ),
)

bindings = Table(
    "bindings",
    metadata,
    Column(
        "customer_id", String(160), ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("advisor_id", String(64), ForeignKey("advisors.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(16), nullable=False),
    Column("scene", String(64)),
    Column("bound_at", Float, nullable=False),
)

scenes = Table(
    "scenes",
    metadata,
    Column("value", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

offline_replies = Table(
    "offline_replies",
    metadata,
    Column("customer_id", String(160), primary_key=True),
    Column("advisor_id", String(64), primary_key=True),
    Column("sent_at", Float, nullable=False),
)

advisor_settings = Table(
    "advisor_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("doc", Text, nullable=False),
    Column("revision", Integer, nullable=False),
)


# --- Outbound (issue: outbound replies and proactive messages; migration 0004) -----------------
# Defined here so Alembic's metadata knows them; used by `gateway.store.outbound`. Times are
# epoch seconds.
__all__ += ["outbound_requests", "outbound_touches", "outbound_windows"]

# One row per outbound request_id: claimed (state 0) while a sender works on it, then sent (1),
# rejected (2) or failed (3, dead-lettered; may be replayed). `receipt` is the JSON receipt that
# redeliveries of a finished request publish again.
outbound_requests = Table(
    "outbound_requests",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("state", SmallInteger, nullable=False),
    Column("receipt", Text),
    Column("claimed_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

# The reply window of one customer of one account: opened/renewed by customer actions
# (`last_action_at`); `replies` counts replies since `count_since`.
outbound_windows = Table(
    "outbound_windows",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("customer", String(128), primary_key=True),
    Column("last_action_at", Float, nullable=False, index=True),
    Column("count_since", Float, nullable=False),
    Column("replies", Integer, nullable=False),
)

# Proactive touches of one customer in one calendar month (Asia/Shanghai, "YYYY-MM"): `touches`
# used, and the current touch's start and message count.
outbound_touches = Table(
    "outbound_touches",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("customer", String(128), primary_key=True),
    Column("month", String(7), primary_key=True, index=True),
    Column("touches", Integer, nullable=False),
    Column("touch_started_at", Float, nullable=False),
    Column("touch_messages", Integer, nullable=False),
)

# Durable local outbox (migration 0005): inbound messages accepted while RabbitMQ was down or did
# not confirm in time, drained in `seq` order when it is back.
outbox = Table(
    "outbox",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", String(64), nullable=False),
    Column("routing_key", String(255), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Conversation records (migration 0006r): every inbound message and outbound request, masked, kept
# for the retention period (30 days by default) and purged in batches.
records = Table(
    "records",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("direction", String(3), nullable=False),
    Column("message_id", String(160), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("account", String(64), nullable=False),
    Column("customer", String(128), nullable=False),
    Column("advisor_id", String(64)),
    Column("sender", String(80)),
    Column("kind", String(16), nullable=False),
    Column("text", Text),
    Column("status", String(32), nullable=False),
    Column("reason", String(32)),
    Column("at", Float, nullable=False),
)


# --- Mass-send tasks (migration 0006; used by `gateway.store.mass` and `gateway.mass`) ----------
# One row per task: what to send (`material`: kind, content, context as JSON), from which
# advisor and account, to whom (`selector`: a filter, or "explicit" with the ids as recipient
# rows), and the expansion's state: `state` pending → running → completed (or cancelled),
# `batch`/`published` (the last batch marked queued / the last batch whose publishes were all
# confirmed: a gap means a worker stopped mid-batch and the batch is published again),
# `owner`/`lease_until` (which gateway process expands it). Times are epoch seconds.
__all__ += ["mass_recipients", "mass_tasks"]

mass_tasks = Table(
    "mass_tasks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("advisor_id", String(64), nullable=False, index=True),
    Column("platform", String(16), nullable=False),
    Column("account", String(64), nullable=False),
    Column("material", Text, nullable=False),
    Column("selector", Text, nullable=False),
    Column("skip_recent", SmallInteger, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("start_at", Float, nullable=False),
    Column("total", Integer),
    Column("batch", Integer, nullable=False, server_default="0"),
    Column("published", Integer, nullable=False, server_default="0"),
    Column("owner", String(64)),
    Column("lease_until", Float, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
)

# One row per customer of a task: `status` pending → queued (published, awaiting its receipt) →
# sent | rejected | failed, or skipped (with `reason`) / cancelled. `request_id` is the outbound
# request id (``mass:<task>:<customer>``), unique, so receipts find their row; the primary key's
# `task_id` prefix serves the per-task counts.
mass_recipients = Table(
    "mass_recipients",
    metadata,
    Column(
        "task_id", String(32), ForeignKey("mass_tasks.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("customer_id", String(160), primary_key=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("external_id", String(128)),
    Column("status", String(16), nullable=False),
    Column("reason", String(32)),
    Column("detail", String(256)),
    Column("batch", Integer),
    Column("updated_at", Float, nullable=False),
)


# --- Statistics rollup (migration 0007; maintained by `gateway.store.records`, read by
# `gateway.store.stats`) ----------------------------------------------------------------------
# Derived from `records` (each change is queued in `stats_pending` in its transaction and folded
# in by a background job, and before every statistics query), so that `/api/v1/stats` reads a few
# rows per conversation instead of every message.
# `day` is the CST day number (days since 1970-01-01, UTC+8).
__all__ += ["stats_bot_days", "stats_pending", "stats_threads"]

# One row per advisor, customer (platform, account, customer) and day with an inbound message to
# the advisor or a sent reply from them: message counts, and the conversation's first inbound
# message (`asked`, NULL without one), the advisor's first sent reply at or after it (`answered`,
# any later day) and `delay` = answered - asked.
stats_threads = Table(
    "stats_threads",
    metadata,
    Column("day", Integer, primary_key=True),
    Column("advisor_id", String(64), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("customer", String(128), primary_key=True),
    Column("customer_messages", Integer, nullable=False),
    Column("advisor_messages", Integer, nullable=False),
    Column("asked", Float),
    Column("answered", Float),
    Column("delay", Float),
    Index("ix_stats_threads_thread", "platform", "account", "customer", "advisor_id", "day"),
    Index("ix_stats_threads_delay", "day", "advisor_id", "delay"),
    sqlite_with_rowid=False,  # rows clustered by day and advisor: a month is one range
)

# One row per customer and day on which the customer wrote to a bot: the first such message and
# the customer's last message routed to an advisor that day (moved to a human if later).
stats_bot_days = Table(
    "stats_bot_days",
    metadata,
    Column("day", Integer, primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("customer", String(128), primary_key=True),
    Column("first_bot", Float, nullable=False),
    Column("last_advisor", Float),
    sqlite_with_rowid=False,
)

# Record changes the rollup has not folded in yet (migration 0008): appended in the transaction of
# every records write, consumed in `seq` order by `gateway.store.stats.StatsStore.catch_up`.
stats_pending = Table(
    "stats_pending",
    metadata,
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("direction", String(3), nullable=False),
    Column("advisor_id", String(64)),
    Column("platform", String(16), nullable=False),
    Column("account", String(64), nullable=False),
    Column("customer", String(128), nullable=False),
    Column("status", String(32), nullable=False),
    Column("at", Float, nullable=False),
)
