"""The bench's WeChat account (safe mode) and its accounts TOML for `kefu-gateway serve`.

Invented credentials, used only against servers the harness starts itself.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ACCOUNT", "AES_KEY", "APP_ID", "TOKEN", "WEBHOOK_PATH", "write_accounts_toml"]

ACCOUNT = "bench"
TOKEN = "kefu_bench_token"
AES_KEY = "Bq3nW8xT5kR2mZ7vC4hJ9dF6sL1pY0gE8uA3oN5iK7w"  # 43 characters → 32-byte AES key
APP_ID = "wxbench000000000001"
WEBHOOK_PATH = f"/webhooks/wechat/{ACCOUNT}"  # every system under test serves this path


def write_accounts_toml(path: Path) -> Path:
    """The gateway's accounts file; `api_base` points at a closed local port so that nothing
    the gateway might send ever leaves the machine."""
    path.write_text(
        f"[accounts.{ACCOUNT}]\n"
        'platform = "wechat"\n'
        'surface = "service_account"\n'
        f'token = "{TOKEN}"\n'
        f'encoding_aes_key = "{AES_KEY}"\n'
        f'app_id = "{APP_ID}"\n'
        'app_secret = "bench-app-secret"\n'
        'api_base = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    return path
