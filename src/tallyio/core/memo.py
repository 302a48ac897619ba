"""Values remembered by the identity of what they were made from (state values are frozen, so
the same object means the same value; an equal but new object is simply made again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    """What `make` gave for `obj` (and the objects it was made from), kept while the same
    objects are asked again; forgotten all at once past `size` entries. It holds what it
    remembers, so an id it keys on is never reused while remembered."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._held: dict[int, tuple[Any, tuple[Any, ...], T]] = {}

    def get(self, obj: Any, make: Callable[[], T], *deps: Any) -> T:
        held = self._held.get(id(obj))
        if held is not None and held[0] is obj and len(held[1]) == len(deps) and all(
                a is b for a, b in zip(held[1], deps, strict=True)):  # fmt: skip
            return held[2]
        if len(self._held) >= self.size:
            self._held.clear()
        value = make()
        self._held[id(obj)] = (obj, deps, value)
        return value
