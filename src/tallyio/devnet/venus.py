"""Devnet deployment of venus (being written)."""

from __future__ import annotations

from typing import Any

from tallyio.devnet.context import DeployContext


def deploy(ctx: DeployContext) -> dict[str, Any]:
    raise NotImplementedError("venus devnet deployment is not written yet")
