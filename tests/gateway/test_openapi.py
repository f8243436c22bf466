"""docs/openapi.yaml is a valid OpenAPI document and describes exactly the routes the app serves."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from openapi_spec_validator import validate
from pydantic import SecretStr

from gateway.accounts import Accounts
from gateway.admin.auth import API_PREFIX
from gateway.app import create_app
from gateway.settings import Settings

SPEC = yaml.safe_load((Path(__file__).parents[2] / "docs" / "openapi.yaml").read_text())


def test_spec_is_valid_openapi() -> None:
    """The document validates against the OpenAPI 3.1 schema."""
    validate(SPEC)


def test_spec_and_routes_agree() -> None:
    """Every admin route is documented with its methods, and nothing else is."""
    app = create_app(Settings(admin_token=SecretStr("x")), Accounts())
    served: set[tuple[str, str]] = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(API_PREFIX) and route.method != "HEAD":
            served.add((route.method.lower(), _shape(path.removeprefix(API_PREFIX))))
    documented = {
        (method, _shape(path))
        for path, item in SPEC["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }
    assert served == documented


def _shape(path: str) -> str:
    """A path with its parameter names erased: /groups/{id}/members/{advisor_id} → /groups/{}/…"""
    return re.sub(r"\{[^}]+\}", "{}", path)
