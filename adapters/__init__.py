"""Platform adapters: verify, decrypt and parse callback bytes into `PlatformEvent`s.

Pure stages: no aiohttp server, no broker, no database. One module (or small package) per platform,
each fitting the `Adapter` protocol in `adapters.base`.
"""
