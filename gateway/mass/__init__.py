"""Mass-send tasks (DESIGN.md "Advisor model") and the dead-letter tools of the admin API.

`model` (states, request ids, knobs), `audience` (who is reached or skipped), `ledger` (the
worker's transactions), `worker` (expansion into proactive ``gateway.outbound/1`` messages),
`receipts` (per-customer outcomes from ``kefu.receipts``), `service` (one process's machinery),
`wiring` (the app's cleanup context), `dead_letters` (peek, replay and discard ``kefu.dead``).
The task tables' API side is `gateway.store.mass`; the HTTP routes are `gateway.admin.mass_api`
and `gateway.admin.dead_api`. Operator notes: docs/mass-send.md.
"""
