"""The executors: where an approved plan goes once the shared pipeline (pipeline.py) has
simulated, priced and judged it.

- `PaperExecutor` (the default): journals what it would send; signs and sends nothing (a
  backrun is simulated behind the user's pending transaction, as the bundle would run it).
- `PublicMempoolExecutor`: eth_sendRawTransaction through the chain client and the nonce
  manager; waits for the receipt, filling nonce gaps and replacing a stuck transaction at bumped
  fees, and journals where it landed and what it earned.
- `BundleExecutor`: a bundle to every relay endpoint at once (relays.py), sent again for the
  next block until it lands or `max_blocks` pass. `execute_backrun` bundles a user's pending
  transaction first and ours right behind it (execution/backrun.py fixes that order).

Timeouts are in blocks, with a wall-clock backstop for a chain that stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from tallyio.chain.errors import ChainError
from tallyio.execution.backrun import BackrunBundle
from tallyio.execution.fees import Fees, ParentHeader, bump
from tallyio.execution.fees import next_base_fee as next_base
from tallyio.execution.nonce import NodeClient, NonceError, NonceManager, SentTx
from tallyio.execution.pipeline import Approved, Pipeline, Quote, Status, Submission
from tallyio.execution.relays import RelayClient, RelayResult
from tallyio.execution.signer import Signer, tx_hash
from tallyio.execution.submit import Landed, first_receipt, head, token_to_wei
from tallyio.sim.node import Simulator

log = logging.getLogger(__name__)


class PaperExecutor(Pipeline):
    """Simulates, prices and journals; never signs or sends. The default executor."""

    mode = "paper"

    async def _send(self, a: Approved, q: Quote) -> Submission:
        await self._submitted(a, q, "simulated", target_block=q.target_block)
        return self._result(a, q, Status.SIMULATED)

    async def _send_backrun(self, a: Approved, q: Quote | None, leading: bytes) -> Submission:
        assert q is not None
        return await self._send(a, q)  # paper: journaled behind the user's tx, nothing sent


class PublicMempoolExecutor(Pipeline):
    """eth_sendRawTransaction through the chain client, then watches for the receipt. Not mined
    after `replace_after_blocks`: nonce gaps below it are filled, else it is replaced at bumped
    fees (within the caps); given up after `timeout_blocks`."""

    mode = "public"

    def __init__(
        self, node: NodeClient, simulator: Simulator, nonces: NonceManager, *,
        timeout_blocks: int = 3, replace_after_blocks: int = 1, wall_timeout: float = 120.0,
        **kw: Any,
    ) -> None:  # fmt: skip
        super().__init__(node, simulator, owner=nonces.address, **kw)
        self.nonces = nonces
        self.timeout_blocks, self.replace_after_blocks = timeout_blocks, replace_after_blocks
        self.wall_timeout = wall_timeout

    async def _send(self, a: Approved, q: Quote) -> Submission:
        try:
            sent = await self.nonces.send(self._tx(a, q))
        except (ChainError, NonceError) as exc:
            await self._submitted(a, q, "failed", error=str(exc), target_block=q.target_block)
            return await self._ended(a, q, Status.FAILED, f"send failed: {exc}")
        await self._submitted(a, q, "sent", tx_hash=sent.hash, nonce=sent.nonce,
                              target_block=q.target_block)  # fmt: skip
        landed = await self._watch(a, q, sent)
        if landed is None:
            reason = f"not mined within {self.timeout_blocks} blocks"
            return await self._ended(a, q, Status.NOT_INCLUDED, reason, tx_hash=sent.hash,
                                     nonce=sent.nonce)  # fmt: skip
        return await self._landed(a, q, landed, nonce=sent.nonce)

    async def _watch(self, a: Approved, q: Quote, sent: SentTx) -> Landed | None:
        """Blocks count from the one the plan was priced on (`q.block`): the transaction is
        late once a block after it is mined without it, however fast we got here."""
        hashes = [sent.hash]
        start = acted = q.block
        deadline = time.monotonic() + self.wall_timeout
        while True:
            landed = await first_receipt(self.node, hashes)
            if landed is not None:
                return landed
            now = await head(self.node)
            if now - start >= self.timeout_blocks or time.monotonic() > deadline:
                return None
            if now - acted >= self.replace_after_blocks:
                hashes += await self._unstick(a, q, sent.nonce)
                acted = now
            await asyncio.sleep(self.poll_interval)

    async def _unstick(self, a: Approved, q: Quote, nonce: int) -> list[str]:
        """Fill the gaps that hold our transaction back, or else replace it."""
        try:
            market = await self._market_fees(a, q)
            report = await self.nonces.find_gaps()
            if report.missing:
                filled = await self.nonces.fill_gaps(market)
                for f in filled:
                    await self._submitted(a, q, "gap_fill", tx_hash=f.hash, nonce=f.nonce)
                return [f.hash for f in filled if f.nonce == nonce]
            if nonce < report.latest or not self._within_caps(nonce, market):
                return []
            new = await self.nonces.replace(nonce, market)
        except (ChainError, NonceError) as exc:
            log.warning("public executor: could not unstick nonce %d: %s", nonce, exc)
            return []
        await self._submitted(a, q, "replaced", tx_hash=new.hash, nonce=nonce,
                              payload={"fees": new.fees.tx_fields()})  # fmt: skip
        return [new.hash]

    async def _market_fees(self, a: Approved, q: Quote) -> Fees | None:
        header = await self.node.request("eth_getBlockByNumber", ["latest", False])
        base = next_base(ParentHeader.from_rpc(header), self.fee_params)
        return a.fee_policy.quote(base, params=self.fee_params, caps=self.caps,
                                  expected_profit=token_to_wei(q.outcome.profit, a.eth_price),
                                  gas=q.outcome.gas_used)  # fmt: skip

    def _within_caps(self, nonce: int, market: Fees | None) -> bool:
        attempts = self.nonces.attempts(nonce)
        if not attempts:
            return False
        new = bump(attempts[-1].fees, self.nonces.bump_bps)
        new = new.at_least(market) if market is not None else new
        top = new.gas_price if new.gas_price is not None else new.max_fee_per_gas or 0
        tip = new.max_priority_fee_per_gas or 0
        ok = top <= self.caps.max_fee_per_gas and tip <= self.caps.max_priority_fee_per_gas
        if not ok:
            log.info("public executor: a replacement of nonce %d would pass the fee caps", nonce)
        return ok


class BundleExecutor(Pipeline):
    """The signed plan as a one-transaction bundle to every relay endpoint at once, for the
    target block; not included, it is sent again for the next block, `max_blocks` in all.
    The relay requests are signed by the relay client's reputation key, which must not be
    the key that signs (and pays for) the transaction."""

    mode = "bundle"

    def __init__(
        self, node: NodeClient, simulator: Simulator, nonces: NonceManager, signer: Signer,
        relays: RelayClient, *, max_blocks: int = 3, block_timeout: float = 60.0, **kw: Any,
    ) -> None:  # fmt: skip
        if signer.address != nonces.address:
            raise ValueError("the signer and the nonce manager are for different accounts")
        if relays.auth_address == signer.address:
            raise ValueError("the relay reputation key must not be the key that holds funds")
        super().__init__(node, simulator, owner=signer.address, **kw)
        self.nonces, self.signer, self.relays = nonces, signer, relays
        self.max_blocks, self.block_timeout = max_blocks, block_timeout

    async def _send_backrun(self, a: Approved, q: Quote | None, leading: bytes) -> Submission:
        assert q is not None
        return await self._send(a, q, leading)  # one bundle: [theirs, ours], in that order

    async def _send(self, a: Approved, q: Quote, leading: bytes = b"") -> Submission:
        if self.nonces.next_nonce is None:
            await self.nonces.sync()
        nonce = self.nonces.reserve()
        try:
            tx = {**self._tx(a, q), "nonce": nonce, "chainId": self.nonces.chain_id}
            raw = self.signer.sign_transaction(tx)
            txs = BackrunBundle(leading, raw, self.signer.address).txs if leading else (raw,)
            landed, answers, refused = await self._rounds(a, q, txs, nonce)
        except BaseException:
            self.nonces.release(nonce)
            raise
        if landed is not None:
            return await self._landed(a, q, landed, nonce=nonce, relays=answers)
        self.nonces.release(nonce)  # never in any pool: the next plan may take it
        if refused:
            return await self._ended(a, q, Status.FAILED, f"every relay refused: {refused}",
                                     relays=answers)  # fmt: skip
        reason = f"not included in {self.max_blocks} target blocks"
        return await self._ended(a, q, Status.NOT_INCLUDED, reason, tx_hash=tx_hash(raw),
                                 relays=answers)  # fmt: skip

    async def _rounds(
        self, a: Approved, q: Quote, txs: Sequence[bytes], nonce: int
    ) -> tuple[Landed | None, tuple[RelayResult, ...], str]:
        """Send for the target block, wait past it, retarget; (landed, answers, refusals).
        Ours is the bundle's last transaction."""
        h, target = tx_hash(txs[-1]), q.target_block
        answers: list[RelayResult] = []
        for _ in range(self.max_blocks):
            results = await self.relays.send_bundle(list(txs), target)
            answers += results
            await self._journal_relays(a, q, h, nonce, target, results)
            if not any(r.ok for r in results):
                return None, tuple(answers), "; ".join(f"{r.endpoint}: {r.error}" for r in results)
            landed = await self._wait_past(target, h)
            if landed is not None:
                return landed, tuple(answers), ""
            target = max(target + 1, await head(self.node) + 1)
        return None, tuple(answers), ""

    async def _journal_relays(
        self, a: Approved, q: Quote, h: str, nonce: int, target: int,
        results: Sequence[RelayResult],
    ) -> None:  # fmt: skip
        for r in results:
            await self._submitted(a, q, "accepted" if r.ok else "error", tx_hash=h, nonce=nonce,
                                  target_block=target, endpoint=r.endpoint,
                                  latency_ms=round(r.latency * 1000, 3), error=r.error,
                                  payload={"bundle_hash": r.bundle_hash})  # fmt: skip

    async def _wait_past(self, target: int, h: str) -> Landed | None:
        """The receipt, once mined; None once the chain is past `target` without it."""
        deadline = time.monotonic() + self.block_timeout
        while True:
            landed = await first_receipt(self.node, [h])
            if landed is not None:
                return landed
            if await head(self.node) >= target:
                return await first_receipt(self.node, [h])  # mined in the last moment?
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(self.poll_interval)


__all__ = [
    "Approved", "BundleExecutor", "PaperExecutor", "PublicMempoolExecutor", "Status",
    "Submission",
]  # fmt: skip
