"""The runner's submit routes a backrun to the backrun path (the bundle [user's tx, ours]) or
nowhere: never to the pipeline that sends to the public mempool, where a higher tip could put
ours ahead of the user's transaction.

Real executors over a chain client aimed at a loopback port nobody listens on; each client has
its own metrics registry, so the requests each executor made are counted, not guessed.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from tallyio.app.routing import NO_BACKRUN_PATH, NO_LEADING_TX, Submitter
from tallyio.chain import ChainClient, ChainError, build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.core.opportunity import BlockContext, Kind, Opportunity
from tallyio.core.plan import FlashLoan, FlashSource, Plan, UniswapV2Swap
from tallyio.execution.backrun import BackrunError
from tallyio.execution.executors import PaperExecutor, PublicMempoolExecutor
from tallyio.execution.fees import FeeCaps, FeePolicy, fee_params
from tallyio.execution.nonce import NonceManager
from tallyio.execution.pipeline import Status
from tallyio.execution.signer import SecretKey, Signer
from tallyio.execution.submit import ExecutionMetrics
from tallyio.sim import ForkSimulator
from tallyio.strategies.backrun import LEADING_TX

PAIR, VAULT, EXECUTOR = "0x" + "a1" * 20, "0x" + "b0" * 20, "0x" + "c0" * 20
WETH, USDC = "0x" + "01" * 20, "0x" + "03" * 20
USER_TX = "0x" + "ee" * 32
BLOCK = BlockContext(31337, 10, 1_700_000_000, 10**9, 10**9)
CAPS = FeeCaps(max_fee_per_gas=100 * 10**9, max_priority_fee_per_gas=10 * 10**9)


def _backrun(**detail: str) -> Opportunity:
    loan = FlashLoan(FlashSource.BALANCER, VAULT, USDC, 1_000 * 10**6)
    plan = Plan((UniswapV2Swap(PAIR, USDC, WETH),), USDC, 5 * 10**6, loan)
    return Opportunity("backrun", Kind.BACKRUN, 31337, 10, plan, 10 * 10**6, 200_000,
                       2_000 * 10**6, frozenset({PAIR, VAULT}), 1_000, 1_000,
                       detail)  # fmt: skip


def _dead_url() -> str:
    with socket.socket() as s:  # a free port, closed again: nobody answers there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _requests(registry: CollectorRegistry) -> float:
    return sum(s.value for m in registry.collect() for s in m.samples
               if s.name == "tallyio_rpc_request_seconds_count")  # fmt: skip


class Node:
    def __init__(self) -> None:
        self.url, self.registry = _dead_url(), CollectorRegistry()
        self.client: ChainClient = build_client(
            self.url, timeout=1.0, retry_policy=RetryPolicy(attempts=1),
            rpc_metrics=RpcMetrics(self.registry),
        )  # fmt: skip


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Node, Node]]:
    public, bundle = Node(), Node()
    try:
        yield public, bundle
    finally:
        await public.client.close()
        await bundle.client.close()


def _public(node: Node) -> PublicMempoolExecutor:
    signer = Signer(SecretKey.generate())

    async def send_raw(raw: bytes) -> str:
        return str(await node.client.request("eth_sendRawTransaction", ["0x" + raw.hex()]))

    nonces = NonceManager(node.client, chain_id=31337, address=signer.address,
                          sign=signer.sign_transaction, send_raw=send_raw)  # fmt: skip
    return PublicMempoolExecutor(node.client, ForkSimulator(node.url), nonces,
                                 fee_params=fee_params("devnet"), caps=CAPS,
                                 metrics=ExecutionMetrics(CollectorRegistry()))  # fmt: skip


async def test_without_a_backrun_path_a_backrun_is_refused_and_never_reaches_the_public_pool(
    nodes: tuple[Node, Node],
) -> None:
    public_node, _ = nodes
    public = _public(public_node)
    submit = Submitter(EXECUTOR, public, FeePolicy(priority_fee=50 * 10**9))
    named = _backrun(**{LEADING_TX: USER_TX})
    # a non-backrun kind naming a user transaction is a backrun all the same
    disguised = replace(_backrun(**{LEADING_TX: USER_TX}), kind=Kind.ARBITRAGE)
    results = await submit([named, disguised], BLOCK)
    assert [r.status for r in results] == [Status.REJECTED, Status.REJECTED]
    assert {r.reason for r in results} == {NO_BACKRUN_PATH}
    assert {r.mode for r in results} == {"none"}
    assert _requests(public_node.registry) == 0  # the public executor was never asked
    assert public.nonces.next_nonce is None  # nor synced a nonce to send with


async def test_a_backrun_goes_only_to_the_backrun_path_and_only_behind_a_named_user_tx(
    nodes: tuple[Node, Node],
) -> None:
    public_node, bundle_node = nodes
    public = _public(public_node)
    behind = PaperExecutor(bundle_node.client, ForkSimulator(bundle_node.url), owner=EXECUTOR,
                           fee_params=fee_params("devnet"), caps=CAPS,
                           metrics=ExecutionMetrics(CollectorRegistry()))  # fmt: skip
    submit = Submitter(EXECUTOR, public, FeePolicy(), backruns=behind)
    (unnamed,) = await submit([_backrun()], BLOCK)  # Kind.BACKRUN, but no user tx to follow
    assert unnamed.status is Status.REJECTED and unnamed.reason == NO_LEADING_TX
    assert _requests(bundle_node.registry) == 0
    # named: the backrun path takes it (it asks its node, which is down here)
    with pytest.raises(ChainError):
        await submit([_backrun(**{LEADING_TX: USER_TX})], BLOCK)
    assert _requests(bundle_node.registry) > 0
    assert _requests(public_node.registry) == 0


async def test_the_public_executor_refuses_a_backrun_itself_before_asking_anything(
    nodes: tuple[Node, Node],
) -> None:
    """Defence in depth below the router: the public executor has no way to keep a user's
    transaction first, so it refuses a backrun outright (no simulation, no nonce, no send)."""
    public_node, _ = nodes
    public = _public(public_node)
    approved = Submitter(EXECUTOR, public, FeePolicy()).approved(_backrun(), BLOCK, FeePolicy())
    with pytest.raises(BackrunError, match="cannot keep a user's transaction first"):
        await public.execute_backrun(approved, USER_TX)
    assert _requests(public_node.registry) == 0
    assert public.nonces.next_nonce is None
