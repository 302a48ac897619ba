"""Every protocol kind config accepts has exactly one registered family, and it imports."""

from __future__ import annotations

import importlib
import typing

from tallyio.app.config import DexKind, LendingKind
from tallyio.protocols import REGISTRY, family


def test_config_kinds_and_registry_agree() -> None:
    kinds = set(typing.get_args(DexKind)) | set(typing.get_args(LendingKind))
    assert {f.kind for f in REGISTRY} == kinds
    assert len(REGISTRY) == len(kinds)  # one family per kind


def test_every_family_module_imports() -> None:
    for f in REGISTRY:
        module = importlib.import_module(f"tallyio.protocols.{f.module}")
        assert module.__doc__, f.module
        if not f.bytecode_checked:
            assert "not checked against bytecode" in module.__doc__


def test_unknown_kind_is_a_clear_error() -> None:
    try:
        family("uniswap_v9")
    except KeyError as exc:
        assert "uniswap_v9" in str(exc)
    else:
        raise AssertionError("expected KeyError")
