"""A local Flashbots-style relay over the devnet: a bundle lands whole in its block, or not at all.

`DevnetRelay(rpc_url)` serves JSON-RPC over HTTP on 127.0.0.1 (a free port unless one is given):

- `eth_sendBundle` {txs, blockNumber, minTimestamp?, maxTimestamp?, revertingTxHashes?} and
  `mev_sendBundle` (v0.1: signed txs and pending txs by hash, inclusion.block..maxBlock) queue a
  bundle for its block and answer {bundleHash} at once. When the chain's head reaches the block
  before it, the relay builds that block itself, with anvil's automine off: evm_snapshot, send
  the bundle's transactions, mine one block, and keep it only if every transaction is in that
  block, in the bundle's order, next to each other, and succeeded (a hash in revertingTxHashes
  may revert); else evm_revert, so no transaction of the bundle leaves a trace (state, nonces),
  put back whatever else was pending, and mine the block without the bundle. One bundle per
  block (first come); a bundle for a block the chain has passed is dropped, like a missed slot.
- `eth_callBundle` {txs, blockNumber, stateBlockNumber: "latest"} runs the same steps, always
  reverts, and answers per-transaction results (gasUsed, gasFees, coinbaseDiff,
  ethSentToCoinbase, value = output, error + revert reason) and totals as Flashbots does.

Every request must carry a valid `X-Flashbots-Signature` (HTTP 403 otherwise, as relays do).
anvil orders its pool by max fee per gas, so when that would break the bundle's order the relay
rebuilds the target block with `anvil_reorg` (depth 1) holding exactly the bundle's
transactions in its order, and puts the pool's other transactions back. `timestamp` in
eth_callBundle is ignored. `outcomes` maps each bundle hash to what became of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from tallyio.chain import ChainClient, ChainError, RpcError, build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.execution.bundles import (
    HEADER,
    Bundle,
    BundleError,
    SignatureError,
    bundle_hash,
    bundle_txs,
    call_bundle_result,
    call_bundle_totals,
    parse_send_bundle,
    quantity,
    raw_tx,
    verify_signature,
)
from tallyio.execution.signer import tx_hash

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


REORDERED = "anvil would mine the bundle out of its order"


class RelayError(Exception):
    """A JSON-RPC error answer (invalid params, unsupported method, bad signature)."""

    def __init__(self, message: str, code: int = -32602, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class DevnetRelay:
    """The relay server; `async with DevnetRelay(url) as relay:` serves at `relay.url`."""

    def __init__(self, rpc_url: str, *, port: int = 0, poll_interval: float = 0.05) -> None:
        self.rpc_url = rpc_url
        self.port = port
        self.poll_interval = poll_interval
        self.outcomes: dict[str, str] = {}
        metrics = RpcMetrics(CollectorRegistry())  # the relay's own: not the engine's figures
        self._node: ChainClient = build_client(
            rpc_url, retry_policy=RetryPolicy(attempts=1), rpc_metrics=metrics
        )
        self._pending: dict[int, list[Bundle]] = {}
        self._chain_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._builder: asyncio.Task[None] | None = None
        self._last_error: str | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> str:
        """Check the node answers, then listen; returns the URL."""
        await self._node.request("eth_chainId")  # a wrong --rpc fails here, not in a loop
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._builder = asyncio.create_task(self._build_loop(), name="devnet-relay-builder")
        log.info("devnet relay on %s over %s", self.url, self.rpc_url)
        return self.url

    async def stop(self) -> None:
        if self._builder is not None:
            self._builder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._builder
        if self._runner is not None:
            await self._runner.cleanup()
        await self._node.close()

    async def __aenter__(self) -> DevnetRelay:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- HTTP ---------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        rid: Any = None
        try:
            try:
                verify_signature(request.headers.get(HEADER), body)
            except SignatureError as exc:
                raise RelayError(str(exc), -32600, 403) from None
            try:
                message = json.loads(body)
            except ValueError:
                raise RelayError("parse error", -32700, 400) from None
            if not isinstance(message, dict):
                raise RelayError("batches are not supported", -32600, 400)
            rid = message.get("id")
            result = await self._dispatch(str(message.get("method")), message.get("params"))
        except (BundleError, ChainError) as exc:  # bad params; the node refused or is down
            code = -32602 if isinstance(exc, BundleError) else -32000
            error = {"code": code, "message": str(exc)}
            return web.json_response({"jsonrpc": "2.0", "id": rid, "error": error})
        except RelayError as exc:
            error = {"code": exc.code, "message": str(exc)}
            return web.json_response({"jsonrpc": "2.0", "id": rid, "error": error},
                                     status=exc.status)  # fmt: skip
        return web.json_response({"jsonrpc": "2.0", "id": rid, "result": result})

    async def _dispatch(self, method: str, params: Any) -> Any:
        if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], dict):
            raise RelayError(f"{method} takes one parameter object")
        if method == "eth_sendBundle":
            return self.queue(parse_send_bundle(params[0]))
        if method == "mev_sendBundle":
            return self.queue(await self._parse_mev_bundle(params[0]))
        if method == "eth_callBundle":
            return await self.call_bundle(bundle_txs(params[0]), params[0])
        raise RelayError(f"method {method} is not supported", -32601)

    async def _parse_mev_bundle(self, params: Mapping[str, Any]) -> Bundle:
        inclusion = params.get("inclusion") or {}
        block = quantity(inclusion.get("block"), "inclusion.block")
        max_block = quantity(inclusion.get("maxBlock", block), "inclusion.maxBlock")
        txs, reverting = [], set()
        for item in params.get("body") or ():
            if "hash" in item:  # a pending transaction, taken from the node's pool
                raw = await self._node.request("eth_getRawTransactionByHash", [item["hash"]])
                if raw is None:
                    raise RelayError(f"transaction {item['hash']} is not pending")
                txs.append(raw_tx(raw))
            else:
                txs.append(raw_tx(item.get("tx")))
                if item.get("canRevert"):
                    reverting.add(tx_hash(txs[-1]))
        if not txs:
            raise RelayError("body: a bundle needs at least one transaction")
        return Bundle(tuple(txs), block, max(block, max_block), frozenset(reverting))

    def queue(self, bundle: Bundle) -> dict[str, str]:
        queued = self._pending.setdefault(bundle.block, [])
        if bundle.hash not in {b.hash for b in queued}:
            queued.append(bundle)
            self.outcomes[bundle.hash] = f"queued for block {bundle.block}"
        self._wake.set()
        return {"bundleHash": bundle.hash}

    # -- building blocks ----------------------------------------------------------------------
    async def _build_loop(self) -> None:
        while True:
            pause = self.poll_interval
            try:
                head = int(await self._node.request("eth_blockNumber"), 16)
                self._expire(head)
                if head + 1 in self._pending:
                    await self._build(head + 1)
                    continue
            except Exception as exc:  # keep serving; try again in a moment
                if str(exc) != self._last_error:
                    log.warning("devnet relay: building failed: %s", exc)
                self._last_error, pause = str(exc), 1.0
            else:
                self._last_error = None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    def _expire(self, head: int) -> None:
        for block in [b for b in self._pending if b <= head]:
            for bundle in self._pending.pop(block):
                self._requeue(bundle, head + 1, f"block {block} was built without it")

    def _requeue(self, bundle: Bundle, block: int, reason: str) -> None:
        if bundle.max_block >= block:  # MEV-Share bundles may try later blocks
            self._pending.setdefault(block, []).append(bundle)
            return
        self.outcomes[bundle.hash] = f"not included: {reason}"

    async def _build(self, target: int) -> None:
        """Build block `target` (one bundle, or none); outcomes are set once the block is
        mined and automine is back, so whoever reads one sees the chain as it stays."""
        bundles = self._pending.pop(target, [])
        landed: Bundle | None = None
        async with self._chain_lock, self._automine_off():
            head = int(await self._node.request("eth_blockNumber"), 16)
            if head + 1 != target:  # the chain moved while we queued
                later = [(b, head + 1, f"block {target} was built without it") for b in bundles]
            else:
                landed, later = await self._fill(target, bundles)
        if landed is not None:
            self.outcomes[landed.hash] = f"included in block {target}"
        for bundle, block, reason in later:
            self._requeue(bundle, block, reason)

    async def _fill(
        self, target: int, bundles: Sequence[Bundle]
    ) -> tuple[Bundle | None, list[tuple[Bundle, int, str]]]:
        """The first bundle that lands whole in `target`; the others, to try later or drop."""
        landed: Bundle | None = None
        later: list[tuple[Bundle, int, str]] = []
        for bundle in bundles:
            if landed is not None:
                later.append((bundle, target + 1, f"block {target} held another bundle"))
                continue
            failure = await self._include(bundle, target)
            if failure is None:
                landed = bundle
            else:
                log.info("devnet relay: bundle %s refused: %s", bundle.hash, failure)
                later.append((bundle, target + 1, failure))
        if landed is None:
            await self._node.request("evm_mine")  # block `target`, without the bundles
        return landed, later

    @contextlib.asynccontextmanager
    async def _automine_off(self) -> Any:
        automine = bool(await self._node.request("anvil_getAutomine"))
        await self._node.request("evm_setAutomine", [False])
        try:
            yield
        finally:
            await self._node.request("evm_setAutomine", [automine])

    async def _include(self, bundle: Bundle, target: int) -> str | None:
        """Mine `bundle` into block `target`; None if it landed, else why not (and no trace)."""
        failure = await self._attempt(bundle, target, in_order=False)
        if failure == REORDERED:
            # anvil's pool mines by fee: build the block from the bundle alone, in its order.
            failure = await self._attempt(bundle, target, in_order=True)
        return failure

    async def _attempt(self, bundle: Bundle, target: int, *, in_order: bool) -> str | None:
        snapshot, others = await self._node.request("evm_snapshot"), await self._pooled()
        sent: list[str] = []
        mine = self._mine_in_order if in_order else self._mine_from_pool
        failure = await mine(bundle, sent)
        if failure is None:
            failure = await self._check(bundle, target)
        if failure is not None:
            await self._undo(snapshot, sent, others)
        elif in_order and others:  # the rebuilt block left the pool's others out: put them back
            await self._node.batch([("eth_sendRawTransaction", [r]) for r in others],
                                   raise_errors=False)  # fmt: skip
        return failure

    async def _mine_from_pool(self, bundle: Bundle, sent: list[str]) -> str | None:
        failure = await self._send_all(bundle.txs, sent)
        if failure is None:
            await self._node.request("evm_mine")
        return failure

    async def _mine_in_order(self, bundle: Bundle, sent: list[str]) -> str | None:
        """Mine block `target`, then replace it (anvil_reorg, depth 1) by one holding exactly
        the bundle's transactions in the bundle's order."""
        await self._node.request("evm_mine")
        pairs = [["0x" + raw.hex(), 0] for raw in bundle.txs]
        try:
            await self._node.request("anvil_reorg", [1, pairs])
        except RpcError as exc:
            return f"the block could not be built in the bundle's order: {exc.message}"
        sent.extend(tx_hash(raw) for raw in bundle.txs)
        return None

    async def _send_all(self, txs: Sequence[bytes], sent: list[str]) -> str | None:
        for i, raw in enumerate(txs):
            try:
                await self._node.request("eth_sendRawTransaction", ["0x" + raw.hex()])
            except RpcError as exc:
                if "already" not in exc.message.lower():
                    return f"tx {i} refused by the node: {exc.message}"
            sent.append(tx_hash(raw))
        return None

    async def _check(self, bundle: Bundle, target: int) -> str | None:
        block = await self._node.request("eth_getBlockByNumber", ["latest", False])
        if int(block["number"], 16) != target:
            return f"mined block {int(block['number'], 16)}, not {target}"
        mined = [h.lower() for h in block["transactions"]]
        hashes = bundle.tx_hashes
        missing = [i for i, h in enumerate(hashes) if h not in mined]
        if missing:
            return f"tx {missing[0]} could not be included in block {target}"
        at = [mined.index(h) for h in hashes]
        if at != list(range(at[0], at[0] + len(at))):
            return REORDERED
        receipts = await self._node.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for i, (h, receipt) in enumerate(zip(hashes, receipts, strict=True)):
            if int(receipt["status"], 16) != 1 and h not in bundle.reverting:
                return f"tx {i} ({h}) reverted"
        stamp = int(block["timestamp"], 16)
        low, high = bundle.min_timestamp or 0, bundle.max_timestamp or stamp
        return None if low <= stamp <= high else f"block timestamp {stamp} outside [{low}, {high}]"

    async def _pooled(self) -> list[str]:
        """The raw transactions pending in the node's pool (to put back after a revert)."""
        content = await self._node.request("txpool_content")
        hashes = [tx["hash"] for group in ("pending", "queued")
                  for by_nonce in (content.get(group) or {}).values()
                  for tx in by_nonce.values()]  # fmt: skip
        if not hashes:
            return []
        raws = await self._node.batch([("eth_getRawTransactionByHash", [h]) for h in hashes],
                                      raise_errors=False)  # fmt: skip
        return [r for r in raws if isinstance(r, str)]

    async def _undo(self, snapshot: str, sent: Sequence[str], others: Sequence[str]) -> None:
        await self._node.request("evm_revert", [snapshot])
        for calls in (
            [("anvil_dropTransaction", [h]) for h in sent],  # any left in the pool: gone
            [("eth_sendRawTransaction", [raw]) for raw in others],  # then the others, back
        ):
            if calls:
                await self._node.batch(calls, raise_errors=False)

    # -- eth_callBundle ------------------------------------------------------------------------
    async def call_bundle(self, txs: Sequence[bytes], params: Mapping[str, Any]) -> dict[str, Any]:
        state = params.get("stateBlockNumber", "latest")
        async with self._chain_lock, self._automine_off():
            head = int(await self._node.request("eth_blockNumber"), 16)
            if state != "latest" and quantity(state, "stateBlockNumber") != head:
                raise RelayError("this relay simulates on the latest block only")
            snapshot, others = await self._node.request("evm_snapshot"), await self._pooled()
            sent: list[str] = []
            try:
                failure = await self._send_all(txs, sent)
                if failure is not None:
                    raise RelayError(failure, -32000)
                await self._node.request("evm_mine")
                results = [await self._tx_result(h) for h in sent]
            finally:
                await self._undo(snapshot, sent, others)
        return call_bundle_totals(results, bundle_hash(txs), head, params.get("blockNumber"))

    async def _tx_result(self, h: str) -> dict[str, Any]:
        receipt, trace, block = await self._node.batch([
            ("eth_getTransactionReceipt", [h]),
            ("debug_traceTransaction", [h, {"tracer": "callTracer"}]),
            ("eth_getBlockByNumber", ["latest", False]),
        ])  # fmt: skip
        if receipt is None:
            raise RelayError(f"transaction {h} could not be included (nonce gap?)", -32000)
        return call_bundle_result(receipt, trace, block)


async def serve(rpc_url: str, port: int = 0, ready: Any = None) -> None:
    """Run a relay until cancelled; `ready(url)` is called once it listens."""
    async with DevnetRelay(rpc_url, port=port) as relay:
        if ready is not None:
            ready(relay.url)
        await asyncio.Event().wait()
