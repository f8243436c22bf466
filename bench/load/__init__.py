"""HTTP load and soak harness (issue #10): kefu-gateway against two hand-written baselines.

``python -m bench.load http`` (what ``make bench`` runs) starts, one after the other in the same
process tree: (a) ``baseline_raw.py`` — aiohttp + aio-pika confirm-publish of the raw body; (b)
``baseline_handwritten.py`` — aiohttp + WeChat safe-mode verify/decrypt + xmltodict + confirm
publish, the way a merchant writes it; (c) ``kefu-gateway serve`` with its full pipeline; and,
with PostgreSQL, the gateway with 1 and 2 workers. wrk drives each with pre-generated, unique,
correctly signed and encrypted WeChat callbacks (``callbacks.py`` + ``callbacks.lua``).
``python -m bench.load soak`` runs the gateway at a fixed rate and samples RSS, fds and p99.
See bench/README.md.
"""
