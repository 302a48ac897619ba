"""Devnet deployment of aave_v3 (being written)."""

from __future__ import annotations

from typing import Any

from tallyio.devnet.context import DeployContext


def deploy(ctx: DeployContext) -> dict[str, Any]:
    raise NotImplementedError("aave_v3 devnet deployment is not written yet")
