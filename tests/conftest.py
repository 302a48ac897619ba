"""Shared fixtures: one real devnet (anvil + real protocol bytecode) per test session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tallyio.chain import ChainClient, build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.devnet import deploy
from tallyio.devnet.context import DeployContext, attach
from tallyio.devnet.deployer import Deployer


class Devnet:
    """A running devnet: its manifest, a Deployer to drive it, and snapshot/revert."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest
        self.rpc_url: str = manifest["rpc_url"]
        self.d = Deployer(self.rpc_url, manifest["accounts"]["deployer"]["address"])

    def context(self) -> DeployContext:
        """Tokens, feeds and funding helpers over this devnet."""
        return attach(self.manifest)

    def account(self, name: str) -> str:
        return str(self.manifest["accounts"][name]["address"])

    def snapshot(self) -> str:
        return str(self.d.rpc("evm_snapshot"))

    def revert(self, snap: str) -> None:
        assert self.d.rpc("evm_revert", snap) is True


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """Deploys every protocol once (or only those in $TALLYIO_DEVNET_ONLY, comma-separated)."""
    only = os.environ.get("TALLYIO_DEVNET_ONLY")
    protocols = tuple(only.split(",")) if only else deploy.PROTOCOLS
    state_dir: Path = tmp_path_factory.mktemp("devnet")
    manifest = deploy.up(state_dir, protocols=protocols)
    try:
        yield Devnet(manifest)
    finally:
        deploy.down(state_dir)


@pytest.fixture
async def node(chain: Devnet) -> AsyncIterator[ChainClient]:
    """A chain client on the test's devnet: one attempt per request, metrics of its own."""
    client = build_client(chain.rpc_url, retry_policy=RetryPolicy(attempts=1),
                          rpc_metrics=RpcMetrics(CollectorRegistry()))  # fmt: skip
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def chain(devnet: Devnet) -> Iterator[Devnet]:
    """The session devnet, reverted to its seeded state after the test."""
    snap = devnet.snapshot()
    try:
        yield devnet
    finally:
        devnet.revert(snap)


__all__ = ["DeployContext", "Devnet"]
