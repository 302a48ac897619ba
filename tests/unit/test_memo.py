"""core.memo.Recent: remembered by identity, made again when any object it came from is new."""

from __future__ import annotations

from tallyio.core.memo import Recent


def test_recent_remembers_by_identity_and_forgets_past_its_size() -> None:
    made: list[str] = []
    memo: Recent[str] = Recent(size=2)
    a, b, dep = ["a"], ["b"], ["dep"]

    def make(tag: str) -> str:
        made.append(tag)
        return tag

    assert memo.get(a, lambda: make("a1"), dep) == "a1"
    assert memo.get(a, lambda: make("a2"), dep) == "a1"  # the same objects: remembered
    assert memo.get(a, lambda: make("a3"), ["dep"]) == "a3"  # an equal, new dependency
    assert memo.get(["a"], lambda: make("a4"), dep) == "a4"  # an equal, new object
    assert memo.get(b, lambda: make("b1")) == "b1"  # past its size: all forgotten
    assert memo.get(a, lambda: make("a5"), ["dep"]) == "a5"
    assert made == ["a1", "a3", "a4", "b1", "a5"]
