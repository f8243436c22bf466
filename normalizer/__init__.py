"""Normalizer: `PlatformEvent` → `Message` with Unicode NFKC, PII masking and a stable id.

Pure stage: depends only on `gateway.models` / `gateway.errors`.
"""
