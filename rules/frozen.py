"""`Frozen`: a base for the compiled, shared objects (matcher, keyword index, rule set).

They are built once and then read concurrently; assigning or deleting an attribute after
construction raises ``AttributeError``, so a published version can never change under a reader.
"""

from __future__ import annotations

__all__ = ["Frozen"]


class Frozen:
    """Attributes are set once, in ``__init__``, through `_init`; later assignment fails."""

    __slots__ = ()

    def _init(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")
