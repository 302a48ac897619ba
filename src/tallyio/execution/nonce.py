"""Nonces for one (chain, account): reserved locally, repaired against the node when needed.

`reserve()` hands out the next nonce without a round trip. The counter comes from
`eth_getTransactionCount(address, "pending")` at start (`sync`) and again after any failed send.
Every transaction sent through the manager is recorded by nonce until it is mined, so that it
can be replaced at +12.5% fees (`replace`), cancelled with a 0-value self-transfer (`cancel`),
or sent again when the node has lost it.

A gap is a nonce below our local counter that the node neither counts as pending nor holds in
its pool: everything above it waits forever. `find_gaps` reports them (an unrecorded nonce or
none of its recorded hashes known to the node) and `fill_gaps` fills them: recorded
transactions are sent again, unrecorded nonces get a cancel transaction.

The manager owns no keys: it takes `sign(tx dict) -> raw bytes` and `send_raw(raw) -> hash`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from eth_utils import to_checksum_address

from tallyio.chain.errors import RpcError
from tallyio.execution.fees import REPLACEMENT_BUMP_BPS, Fees, bump
from tallyio.execution.signer import tx_hash

log = logging.getLogger(__name__)

SendRaw = Callable[[bytes], Awaitable[str]]
Sign = Callable[[Mapping[str, Any]], bytes]
CANCEL_GAS = 21_000
_ALREADY_KNOWN = ("already known", "known transaction", "already imported")


class NodeClient(Protocol):
    """What the manager asks of the node (an `RpcClient` fits)."""

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any: ...

    async def batch(self, calls: Iterable[Any], *, raise_errors: bool = True) -> list[Any]: ...


class NonceError(RuntimeError):
    """A nonce operation that cannot be done as asked (no record to replace, no fees given)."""


@dataclass(frozen=True, slots=True)
class SentTx:
    """One signed transaction the manager sent (or tried to)."""

    nonce: int
    tx: Mapping[str, Any]  # the unsigned fields, as signed
    raw: bytes
    hash: str
    fees: Fees


@dataclass(frozen=True, slots=True)
class GapReport:
    latest: int  # transactions of this account mined
    pending: int  # the node's pending count: mined + contiguous in its pool
    local_next: int  # our next nonce
    missing: tuple[int, ...]  # nonces in [pending, local_next) the node does not hold


class NonceManager:
    """Nonces, replacements, cancels and gap repair for one (chain_id, account)."""

    def __init__(
        self,
        node: NodeClient,
        *,
        chain_id: int,
        address: str,
        sign: Sign,
        send_raw: SendRaw,
        bump_bps: int = REPLACEMENT_BUMP_BPS,
    ) -> None:
        self.node = node
        self.chain_id = chain_id
        self.address = to_checksum_address(address)
        self._sign = sign
        self._send_raw = send_raw
        self.bump_bps = bump_bps
        self._next: int | None = None
        self._reserved: set[int] = set()  # handed out, not yet sent or released
        self._sent: dict[int, list[SentTx]] = {}  # by nonce, oldest attempt first

    def __repr__(self) -> str:
        return f"NonceManager(chain {self.chain_id}, {self.address}, next {self._next})"

    @property
    def key(self) -> tuple[int, str]:
        return self.chain_id, self.address

    @property
    def next_nonce(self) -> int | None:
        """The nonce `reserve` hands out next; None before the first sync."""
        return self._next

    def attempts(self, nonce: int) -> tuple[SentTx, ...]:
        """Every transaction sent at `nonce` still tracked, oldest first."""
        return tuple(self._sent.get(nonce, ()))

    def in_flight(self) -> dict[int, SentTx]:
        """The latest attempt per nonce not yet seen mined."""
        return {n: sent[-1] for n, sent in sorted(self._sent.items())}

    # -- counting ---------------------------------------------------------------------------
    async def _counts(self) -> tuple[int, int]:
        latest, pending = await self.node.batch(
            [
                ("eth_getTransactionCount", (self.address, "latest")),
                ("eth_getTransactionCount", (self.address, "pending")),
            ]
        )
        return int(latest, 16), int(pending, 16)

    def _prune(self, latest: int) -> None:
        for n in [n for n in self._sent if n < latest]:
            del self._sent[n]
        self._reserved = {n for n in self._reserved if n >= latest}

    def _skip_taken(self, nonce: int) -> int:
        while nonce in self._sent or nonce in self._reserved:
            nonce += 1
        return nonce

    async def sync(self) -> int:
        """Set the counter from the node's pending count (skipping nonces we hold in flight);
        forget transactions now mined. Returns the next nonce."""
        latest, pending = await self._counts()
        self._prune(latest)
        self._next = self._skip_taken(pending)
        return self._next

    def reserve(self) -> int:
        """The next nonce, without a round trip. Send it or `release` it."""
        if self._next is None:
            raise NonceError(f"{self!r}: sync() before reserving nonces")
        nonce = self._next
        self._reserved.add(nonce)
        self._next = self._skip_taken(nonce + 1)
        return nonce

    def release(self, nonce: int) -> None:
        """Give back a reserved nonce that will not be sent. The last one handed out is reused;
        an earlier one becomes a gap for `fill_gaps`."""
        self._reserved.discard(nonce)
        if self._next is not None and nonce == self._next - 1 and nonce not in self._sent:
            self._next = nonce

    # -- sending ----------------------------------------------------------------------------
    async def send(self, tx: Mapping[str, Any]) -> SentTx:
        """Sign and send `tx` (eth-account style dict, fees included) at its own "nonce" or,
        without one, at a freshly reserved nonce."""
        if self._next is None:
            await self.sync()
        nonce = tx["nonce"] if "nonce" in tx else self.reserve()
        return await self._submit({**tx, "nonce": nonce, "chainId": self.chain_id})

    async def _submit(self, tx: Mapping[str, Any]) -> SentTx:
        raw = self._sign(tx)
        sent = SentTx(tx["nonce"], MappingProxyType(dict(tx)), raw, tx_hash(raw), Fees.of_tx(tx))
        self._sent.setdefault(sent.nonce, []).append(sent)
        self._reserved.discard(sent.nonce)
        try:
            answer = await self._send_raw(raw)
        except Exception as exc:
            if _already_known(exc):
                return sent
            if isinstance(exc, RpcError):  # the node refused it: it is not in the pool
                self._forget(sent)
            log.warning("send of nonce %d failed (%s); resyncing", sent.nonce, exc)
            await self._resync_after_error()
            raise
        if str(answer).lower() != sent.hash:
            raise NonceError(f"node answered hash {answer} for our transaction {sent.hash}")
        return sent

    def _forget(self, sent: SentTx) -> None:
        attempts = self._sent.get(sent.nonce, [])
        if sent in attempts:
            attempts.remove(sent)
        if not attempts:
            self._sent.pop(sent.nonce, None)

    async def _resync_after_error(self) -> None:
        try:
            await self.sync()
        except Exception as exc:  # the send error is the one to report
            log.warning("resync after a failed send failed too: %s", exc)

    # -- replacing --------------------------------------------------------------------------
    def _latest(self, nonce: int) -> SentTx | None:
        attempts = self._sent.get(nonce)
        return attempts[-1] if attempts else None

    def _replacement_fees(self, nonce: int, fees: Fees | None) -> Fees:
        last = self._latest(nonce)
        if last is None:
            if fees is None:
                raise NonceError(f"nothing recorded at nonce {nonce}: give the fees to use")
            return fees
        bumped = bump(last.fees, self.bump_bps)
        return bumped if fees is None else bumped.at_least(fees)

    async def replace(self, nonce: int, fees: Fees | None = None) -> SentTx:
        """Send our transaction at `nonce` again with fees raised by `bump_bps` (or to `fees`
        where those are higher): same nonce, so whichever is mined first wins."""
        last = self._latest(nonce)
        if last is None:
            raise NonceError(f"no transaction of ours recorded at nonce {nonce}")
        new_fees = self._replacement_fees(nonce, fees)
        log.info("replacing nonce %d (%s) at %s", nonce, last.hash, new_fees)
        return await self._submit({**_without_fees(last.tx), **new_fees.tx_fields()})

    async def cancel(self, nonce: int, fees: Fees | None = None) -> SentTx:
        """A 0-value transfer to ourselves at `nonce`, at bumped fees over what is recorded
        there (at least `fees`; `fees` alone when nothing is recorded)."""
        new_fees = self._replacement_fees(nonce, fees)
        tx = {"chainId": self.chain_id, "nonce": nonce, "to": self.address, "value": 0,
              "gas": CANCEL_GAS, "data": b"", **new_fees.tx_fields()}  # fmt: skip
        log.info("cancelling nonce %d at %s", nonce, new_fees)
        return await self._submit(tx)

    # -- gaps -------------------------------------------------------------------------------
    async def find_gaps(self) -> GapReport:
        """Nonces below our counter that the node does not hold (see the module doc)."""
        latest, pending = await self._counts()
        self._prune(latest)
        local = self._next if self._next is not None else pending
        candidates = [n for n in range(pending, local) if n not in self._reserved]
        hashes = [(n, s.hash) for n in candidates for s in self._sent.get(n, ())]
        found = await self.node.batch(
            [("eth_getTransactionByHash", (h,)) for _, h in hashes], raise_errors=False
        )
        held = {n for (n, _), tx in zip(hashes, found, strict=True) if isinstance(tx, dict)}
        missing = tuple(n for n in candidates if n not in held)
        if missing:
            log.warning("nonce gap for %s: %s (pending %d, local %d)", self.address, missing,
                        pending, local)  # fmt: skip
        return GapReport(latest, pending, local, missing)

    async def fill_gaps(self, fees: Fees | None = None) -> list[SentTx]:
        """Fill every gap: a recorded transaction is sent again as it was (replaced at bumped
        fees if the node refuses it); an unrecorded nonce is cancelled at `fees`."""
        report = await self.find_gaps()
        filled = []
        for nonce in report.missing:
            last = self._latest(nonce)
            if last is None:
                filled.append(await self.cancel(nonce, fees))
                continue
            try:
                filled.append(await self._resend(last))
            except RpcError:
                filled.append(await self.replace(nonce, fees))
        return filled

    async def _resend(self, sent: SentTx) -> SentTx:
        try:
            await self._send_raw(sent.raw)
        except Exception as exc:
            if not _already_known(exc):
                raise
        return sent


def _without_fees(tx: Mapping[str, Any]) -> dict[str, Any]:
    drop = {"gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"}
    return {k: v for k, v in tx.items() if k not in drop}


def _already_known(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _ALREADY_KNOWN)


class NonceRegistry:
    """One NonceManager per (chain_id, account): two would hand out the same nonces."""

    def __init__(self) -> None:
        self._managers: dict[tuple[int, str], NonceManager] = {}

    def add(self, manager: NonceManager) -> NonceManager:
        if manager.key in self._managers:
            raise NonceError(f"a nonce manager for {manager.key} already exists")
        self._managers[manager.key] = manager
        return manager

    def get(self, chain_id: int, address: str) -> NonceManager:
        try:
            return self._managers[(chain_id, to_checksum_address(address))]
        except KeyError:
            raise NonceError(f"no nonce manager for chain {chain_id}, {address}") from None

    def __len__(self) -> int:
        return len(self._managers)
