"""Simulation on a pyrevm fork of the latest block: exact profit, gas and reverts before sending.

`ForkSimulator` keeps one pyrevm EVM pinned to one block (by hash) and opens it again when the
chain moves on. Every run happens inside a journal checkpoint that is reverted afterwards, so
each simulation starts from that block's state, while the fork's database keeps every account
and slot it has read over RPC: the first simulation on a fork is cold (lazy RPC reads), later
ones are warm (memory only). `warm()` prefetches accounts and slots ahead of the first one.

pyrevm 0.3.7 (revm 8) quirks handled here, found by probing it against anvil:
- the journal is never finalised between calls, so an account or slot read once stays warm
  (EIP-2929) until a checkpoint reverts it: every read, including balance reads, runs inside a
  checkpoint, or later gas figures would be too low;
- `message_call` forces BASEFEE to 0 and charges no gas, though it checks that the sender can
  pay gas_limit * gas_price: the fee is charged here, to ETH profit, from the gas used;
- a revert raises RuntimeError with the revert data only in its message; `EVM.result` keeps
  the gas used and whether it reverted or halted;
- revm 8 predates Prague: EIP-7623's calldata floor is applied here (`eip7623=True`);
- the sender's nonce is not bumped and no fee moves, so a bundle that pays the builder through
  priority fees shows nothing in the coinbase's balance (a direct coinbase transfer does).

A sequence runs each step in a fresh journal, as a block runs each transaction: the earlier
steps' writes are laid into the fork's cache (read from pyrevm's debug view of the journal,
its only view of storage) and put back afterwards, so every step's gas matches the chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pyrevm
from eth_utils import keccak

from tallyio.sim.block import NextBlock, complete_header
from tallyio.sim.block import next_base_fee as next_base_fee  # re-exported: its old home
from tallyio.sim.node_backed import (  # re-exported: their old home
    DEFAULT_BLOCK_TIME as DEFAULT_BLOCK_TIME,
)
from tallyio.sim.node_backed import NodeBacked as NodeBacked
from tallyio.sim.node_backed import SimTx as SimTx
from tallyio.sim.node_backed import calldata_floor as calldata_floor
from tallyio.sim.outcome import Outcome, SimLog, SimulationError, TxResult, decode_revert
from tallyio.sim.overrides import FeedOverride

SPEC_ID = "Cancun"  # the newest fork revm 8 knows; later forks change no gas a swap pays
BALANCE_OF = keccak(text="balanceOf(address)")[:4]
BALANCE_READ_GAS = 1_000_000
READER = "0x" + "00" * 20  # balanceOf's caller: an EOA, since EIP-3607 rejects code as a sender
_REVERT_OUTPUT = re.compile(r"output: 0x([0-9a-fA-F]*)")


_Slot = tuple[str, int]
_STATE_START = "JournaledState { state: {"
_STATE_END = "}, transient_storage: "
_ACCOUNT = ": Account { info: "
_STORAGE_START = "storage: {"
_STORAGE_END = "}, status: AccountStatus("
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
_STORAGE_SLOT = re.compile(
    r"(\d+): StorageSlot \{ previous_or_original_value: (\d+), present_value: (\d+) \}"
)


class _LayerError(Exception):
    """A step's changes could not be laid into the fork's cache."""


@dataclass(slots=True)
class _Undo:
    """What the fork's cache held before a sequence laid steps into it."""

    infos: dict[str, pyrevm.AccountInfo] = field(default_factory=dict)
    slots: dict[_Slot, int] = field(default_factory=dict)


def _changed_slots(journal: str) -> dict[_Slot, tuple[int, int]]:
    """(address, slot) -> (value before the step, value after) for every slot it changed,
    read from pyrevm's debug view of revm's journal (the only view of storage it offers).
    Plain `find`s step over the contracts' code, which is most of that text."""
    start = journal.find(_STATE_START)
    end = journal.find(_STATE_END, start)
    if start < 0 or end < 0:
        raise _LayerError("pyrevm's journal is not in the expected form")
    changed: dict[_Slot, tuple[int, int]] = {}
    at = journal.find(_ACCOUNT, start, end)
    while at >= 0:
        address = journal[at - 42 : at]
        low = journal.find(_STORAGE_START, at, end)
        high = journal.find(_STORAGE_END, low, end)
        if not _ADDRESS.fullmatch(address) or low < 0 or high < 0:
            raise _LayerError(f"pyrevm's journal is not in the expected form near {at}")
        for slot in _STORAGE_SLOT.finditer(journal, low, high):
            original, present = int(slot.group(2)), int(slot.group(3))
            if original != present:
                changed[(address, int(slot.group(1)))] = (original, present)
        at = journal.find(_ACCOUNT, high, end)
    return changed


def _same(a: pyrevm.AccountInfo, b: pyrevm.AccountInfo) -> bool:
    return (a.balance, a.nonce, a.code_hash) == (b.balance, b.nonce, b.code_hash)


def _copy(info: pyrevm.AccountInfo) -> pyrevm.AccountInfo:
    return pyrevm.AccountInfo(  # type: ignore[call-arg]  # the stub omits balance; 0.3.7 takes it
        balance=info.balance, nonce=info.nonce, code_hash=info.code_hash, code=info.code
    )


class Fork:
    """One pyrevm EVM over the post-state of one block, executing as the next block."""

    def __init__(
        self,
        rpc_url: str,
        parent: Mapping[str, Any],
        nxt: NextBlock,
        chain_id: int,
        spec_id: str = SPEC_ID,
        eip7623: bool = True,
    ) -> None:
        self.block = int(parent["number"], 16)
        self.eip7623 = eip7623
        self.block_hash = str(parent["hash"])
        self.next = nxt
        env = pyrevm.Env(
            cfg=pyrevm.CfgEnv(chain_id=chain_id),
            block=pyrevm.BlockEnv(
                number=nxt.number,
                coinbase=nxt.coinbase,
                timestamp=nxt.timestamp,
                difficulty=0,
                prevrandao=nxt.prevrandao,
                basefee=nxt.base_fee,
                gas_limit=nxt.gas_limit,
            ),
        )
        self._evm = pyrevm.EVM(
            env=env,
            fork_url=rpc_url,
            fork_block=self.block_hash,
            gas_limit=nxt.gas_limit,
            spec_id=spec_id,
        )
        self._balances: dict[tuple[str | None, str], int] = {}
        self.broken = False

    def run(
        self, txs: Sequence[SimTx], profit_token: str | None, beneficiary: str,
        overrides: Sequence[FeedOverride] = (),
    ) -> Outcome:  # fmt: skip
        """Execute `txs` in order from the block state, measure, and forget the changes.
        `overrides`: feeds answering a fixed price for this run only."""
        if not txs:
            raise ValueError("nothing to simulate")
        before = self.balance(profit_token, beneficiary)  # the block's, cached before overriding
        undo = _Undo()
        try:
            self._override(overrides, undo)
            try:
                steps, after = self._run_layered(txs, profit_token, beneficiary)
            except _LayerError:
                steps, after = self._run_in_one_journal(txs, profit_token, beneficiary)
        finally:
            self._put_back(undo)
        fees = 0
        if profit_token is None:
            payer = beneficiary.lower()
            fees = sum(
                s.gas_used * t.gas_price for t, s in zip(txs, steps, strict=True)
                if t.sender.lower() == payer
            )  # fmt: skip
        return Outcome.of(steps, after - before - fees, self.block)

    def balance(self, token: str | None, owner: str) -> int:
        """`owner`'s balance of `token` (ETH if None) at the block, remembered per fork."""
        key = (token.lower() if token else None, owner.lower())
        if key not in self._balances:
            with self._isolated():
                self._balances[key] = self._read_balance(token, owner)
        return self._balances[key]

    def warm(self, addresses: Iterable[str], slots: Mapping[str, Iterable[int]]) -> None:
        """Read accounts (balance, nonce, code) and storage slots into the fork's cache."""
        with self._isolated():
            for address in addresses:
                self._evm.basic(address)
            for address, indices in slots.items():
                for index in indices:
                    self._evm.storage(address, index)

    # -- sequences ------------------------------------------------------------------------
    def _run_layered(
        self, txs: Sequence[SimTx], token: str | None, owner: str
    ) -> tuple[tuple[TxResult, ...], int]:
        """Each step in a fresh journal (cold accounts and slots, SSTORE priced against the
        state the step starts from, as on chain) over the fork's cache with the earlier
        steps' writes laid in; the cache is put back afterwards."""
        steps: list[TxResult] = []
        undo = _Undo()
        try:
            for tx in txs[:-1]:
                with self._isolated():
                    steps.append(self._execute(tx))
                    slots = _changed_slots(self._evm.journal_str)
                    infos = self._evm.journal_state
                self._lay(infos, slots, undo)
            with self._isolated():
                steps.append(self._execute(txs[-1]))
                after = self._read_balance(token, owner)
        finally:
            self._put_back(undo)
        return tuple(steps), after

    def _run_in_one_journal(
        self, txs: Sequence[SimTx], token: str | None, owner: str
    ) -> tuple[tuple[TxResult, ...], int]:
        """Fallback: every step in one journal. Outputs exact; later steps' gas reads low,
        seeing what earlier steps touched as warm."""
        with self._isolated():
            steps = tuple(self._execute(tx) for tx in txs)
            after = self._read_balance(token, owner)
        return steps, after

    def _lay(
        self,
        infos: Mapping[str, pyrevm.AccountInfo],
        slots: Mapping[_Slot, tuple[int, int]],
        undo: _Undo,
    ) -> None:
        """Write a step's account and storage changes into the fork's cache, noting the
        values they replace in `undo`. Each write runs in its own reverted checkpoint, so
        it lands in the cache and leaves the journal (and EIP-2929's warm set) empty."""
        with self._isolated():
            was = {a.lower(): self._evm.basic(a) for a in infos}
        for address, info in infos.items():
            old = was[address.lower()]
            if _same(info, old):
                continue
            undo.infos.setdefault(address.lower(), old)
            self._write_info(address, info)
        for (address, index), (original, present) in slots.items():
            undo.slots.setdefault((address, index), original)
            with self._isolated():
                self._evm.insert_account_storage(address, index, present)

    def _override(self, overrides: Sequence[FeedOverride], undo: _Undo) -> None:
        """Lay each feed's FixedFeed code and its two slots into the cache, noting in `undo`
        what they replace (an override of the same feed twice: the later one answers)."""
        for o in overrides:
            address = o.feed.lower()
            with self._isolated():
                old = self._evm.basic(address)
                slots = {i: self._evm.storage(address, i) for i in o.storage()}
            undo.infos.setdefault(address, old)
            for index, value in slots.items():
                undo.slots.setdefault((address, index), value)
            code = o.code()
            info = pyrevm.AccountInfo(  # type: ignore[call-arg]  # see _copy
                balance=old.balance, nonce=old.nonce, code_hash=keccak(code), code=code
            )
            try:
                self._write_info(address, info)
            except _LayerError as exc:
                raise SimulationError(f"could not override the feed at {o.feed}") from exc
            for index, value in o.storage().items():
                with self._isolated():
                    self._evm.insert_account_storage(address, index, value)

    def _write_info(self, address: str, info: pyrevm.AccountInfo) -> None:
        with self._isolated():
            self._evm.insert_account_info(address, _copy(info))
        with self._isolated():
            now = self._evm.basic(address)
        if (now.balance, now.nonce) != (info.balance, info.nonce):
            # revm's cache hides infos written to an account it holds as not existing
            raise _LayerError(f"could not lay {address} into the fork")

    def _put_back(self, undo: _Undo) -> None:
        try:
            for address, info in undo.infos.items():
                with self._isolated():
                    self._evm.insert_account_info(address, _copy(info))
            for (address, index), value in undo.slots.items():
                with self._isolated():
                    self._evm.insert_account_storage(address, index, value)
        except Exception:
            self.broken = True  # the cache no longer holds the block's state: never reuse it
            raise

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _isolated(self) -> Iterator[None]:
        checkpoint = self._evm.snapshot()
        try:
            yield
        finally:
            self._evm.revert(checkpoint)
            self._evm.reset_transient_storage()

    def _read_balance(self, token: str | None, owner: str) -> int:
        if token is None:
            return int(self._evm.get_balance(owner))
        call = BALANCE_OF + bytes(12) + bytes.fromhex(owner.removeprefix("0x"))
        try:
            out = self._evm.message_call(READER, token, call, gas=BALANCE_READ_GAS, is_static=True)
        except RuntimeError as exc:
            raise SimulationError(f"balanceOf({owner}) on {token} failed: {exc}") from exc
        if len(out) < 32:
            got = out.hex() or "nothing"
            raise SimulationError(f"balanceOf({owner}) on {token} returned {got}")
        return int.from_bytes(out[:32], "big")

    def _execute(self, tx: SimTx) -> TxResult:
        gas_limit = self.next.gas_limit if tx.gas_limit is None else tx.gas_limit
        floor = calldata_floor(tx.data) if self.eip7623 else 0
        if gas_limit < floor:
            reason = f"invalid: gas limit {gas_limit} below the EIP-7623 calldata floor {floor}"
            return TxResult(False, 0, reason, b"")
        try:
            out = self._evm.message_call(
                tx.sender, tx.to, tx.data, value=tx.value, gas=gas_limit, gas_price=tx.gas_price
            )
        except RuntimeError as exc:
            step = _failed(self._evm.result, str(exc), gas_limit)
        else:
            result = self._evm.result
            assert result is not None
            step = TxResult(True, result.gas_used, None, bytes(out), _logs(result.logs))
        finally:
            self._evm.reset_transient_storage()  # EIP-1153: transient storage ends with the tx
        if 0 < step.gas_used < floor:
            step = replace(step, gas_used=floor)
        return step


def _failed(result: pyrevm.ExecutionResult | None, message: str, gas_limit: int) -> TxResult:
    if result is None:
        if "Transaction(" in message:  # revm's InvalidTransaction: could not be included
            return TxResult(False, 0, f"invalid: {message}", b"")
        raise SimulationError(f"pyrevm: {message}")
    gas_used = min(result.gas_used, gas_limit)  # a halt in a static frame reports u64::MAX
    if message.startswith("Revert"):
        found = _REVERT_OUTPUT.search(message)
        data = bytes.fromhex(found.group(1)) if found else b""
        return TxResult(False, gas_used, decode_revert(data), data)
    return TxResult(False, gas_used, f"halt: {result.reason}", b"")


def _logs(raw: Sequence[pyrevm.Log]) -> tuple[SimLog, ...]:
    out = []
    for log in raw:
        topics, data = log.data
        out.append(SimLog(log.address, tuple(bytes(t) for t in topics), bytes(data)))
    return tuple(out)


class ForkSimulator(NodeBacked):
    """Simulations against one fork of the chain at a time, as the next block would run them.

    `at_block(n)` opens (or reuses) the fork pinned to block n; asking for another block drops
    the old fork with its cache. Not thread-safe: one EVM, used from one thread at a time.
    """

    def __init__(
        self,
        rpc_url: str,
        *,
        block_time: int = DEFAULT_BLOCK_TIME,
        coinbase: str | None = None,
        spec_id: str = SPEC_ID,
        eip7623: bool = True,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(rpc_url, block_time=block_time, coinbase=coinbase, timeout=timeout)
        self.eip7623 = eip7623
        self.spec_id = spec_id
        self._chain_id: int | None = None
        self._fork: Fork | None = None

    @property
    def fork(self) -> Fork | None:
        return self._fork

    def at_block(
        self, number: int, block_hash: str | None = None, header: Mapping[str, Any] | None = None
    ) -> Fork:
        """The fork pinned to block `number`, reused while it is the same block. Give the
        block's hash when known (the engine has it from the head it follows): after a reorg to
        the same height the number alone would reuse a fork of the abandoned branch. Give the
        block's header when known (`rpc_header` of the engine's head): a whole one opens the
        fork with no header request; one without the miner or mixHash is fetched again."""
        if block_hash is None and complete_header(header, number):
            assert header is not None
            block_hash = str(header["hash"])
        fork = self._fork
        same_branch = block_hash is None or fork is None or fork.block_hash == block_hash
        if fork is not None and fork.block == number and not fork.broken and same_branch:
            return fork
        parent = self._header(number, header, block_hash)
        if self._chain_id is None:
            self._chain_id = int(self._rpc("eth_chainId"), 16)
        if block_hash is not None and parent["hash"] != block_hash:
            raise SimulationError(f"block {number} is now {parent['hash']}, not {block_hash}")
        self._fork = None  # drop the old fork (and its cache) before opening the new one
        nxt = NextBlock.after(parent, self.block_time, self.coinbase)
        self._fork = Fork(self.rpc_url, parent, nxt, self._chain_id, self.spec_id, self.eip7623)
        return self._fork

    def simulate_sequence(
        self,
        txs: Sequence[SimTx],
        profit_token: str | None,
        beneficiary: str,
        block: int | None = None,
        header: Mapping[str, Any] | None = None,
        overrides: Sequence[FeedOverride] = (),
    ) -> Outcome:
        """`txs` in order in the next block, each seeing the state the earlier ones left and
        paying the gas it would pay there (cold accesses, SSTORE against its own start).
        `profit` is the beneficiary's change over the whole sequence; `steps` hold each tx.
        Should a step's writes not fit the fork's cache, every step runs in one journal
        instead: outputs and profit stay exact, later steps' gas reads low (warm accesses).
        `header`: block's header when the caller has it (see `at_block`). `overrides`: price
        feeds answering a fixed price for this run only (sim/overrides.py)."""
        return self._fork_for(block, header).run(txs, profit_token, beneficiary, overrides)

    def warm(
        self,
        addresses: Iterable[str],
        slots: Mapping[str, Iterable[int]] | None = None,
        block: int | None = None,
    ) -> None:
        """Prefetch accounts and storage slots so the first simulation need not wait on RPC.
        A simulation warms every slot it reads, too: simulating once is the surest prefetch."""
        self._fork_for(block).warm(addresses, slots or {})

    def _fork_for(self, block: int | None, header: Mapping[str, Any] | None = None) -> Fork:
        return self.at_block(self._number(block, header), header=header)
