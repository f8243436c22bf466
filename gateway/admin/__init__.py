"""The admin API under ``/api/v1`` (bearer token; described by docs/openapi.yaml)."""
