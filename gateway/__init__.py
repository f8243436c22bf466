"""kefu-gateway: the service shell (HTTP, settings, broker, store, routing, CLI).

Deliberately empty of imports so that the pure stages (`adapters`, `normalizer`, `rules`) can import
`gateway.models` and `gateway.errors` without pulling in aiohttp, aio-pika or SQLAlchemy.
"""
