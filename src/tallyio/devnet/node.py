"""The anvil process: start detached on a free loopback port, record its PID, stop it by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_utils import to_checksum_address

from tallyio.paths import foundry_bin

HOST = "127.0.0.1"
KEPT_STATES = 256  # blocks whose state stays queryable (eth_call at a past block, forks)


class DevnetError(RuntimeError):
    """The devnet could not be started, reached or stopped."""


@dataclass(frozen=True, slots=True)
class DevAccount:
    address: str
    private_key: str


@dataclass(frozen=True, slots=True)
class AnvilNode:
    pid: int
    port: int
    chain_id: int
    accounts: tuple[DevAccount, ...]
    log_path: Path

    @property
    def rpc_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def rpc_call(
    url: str, method: str, params: list[Any] | None = None, timeout: float = 10.0
) -> object:
    """One synchronous JSON-RPC call; used where asyncio would be overkill (process management)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    answer = requests.post(url, json=body, timeout=timeout).json()
    if "error" in answer:
        raise DevnetError(f"{method} failed: {answer['error']}")
    return answer["result"]


def start_anvil(
    state_dir: Path,
    *,
    port: int | None = None,
    chain_id: int = 31337,
    accounts: int = 20,
    load_state: Path | None = None,
    timeout: float = 30.0,
) -> AnvilNode:
    """Start anvil detached (its own session, so it outlives the CLI) and wait until it answers."""
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config_out = state_dir / "anvil-accounts.json"
    log_path = state_dir / "anvil.log"
    cmd = [
        str(foundry_bin("anvil")),
        "--host", HOST,
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--accounts", str(accounts),
        "--balance", "1000000",
        "--gas-limit", "60000000",
        "--code-size-limit", "100000",
        "--config-out", str(config_out),
        # Keep recent states in memory only: by default anvil writes old states under
        # ~/.foundry/anvil/tmp and never removes them when killed, which fills the disk.
        "--prune-history", str(KEPT_STATES),
    ]  # fmt: skip
    if load_state is not None:
        cmd += ["--load-state", str(load_state)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    (state_dir / "anvil.pid").write_text(str(proc.pid))
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise DevnetError(f"anvil exited with {proc.returncode}; see {log_path}")
        try:
            got = rpc_call(url, "eth_chainId", timeout=1.0)
            if config_out.is_file():
                break
        except (requests.RequestException, OSError):
            got = None
        if time.monotonic() > deadline:
            stop_pid(proc.pid)
            raise DevnetError(f"anvil did not answer on {url} within {timeout}s; see {log_path}")
        time.sleep(0.05)
    assert isinstance(got, str)
    return AnvilNode(proc.pid, port, int(got, 16), _read_accounts(config_out), log_path)


def _read_accounts(config_out: Path) -> tuple[DevAccount, ...]:
    data = json.loads(config_out.read_text())
    return tuple(
        DevAccount(to_checksum_address(addr), key)
        for addr, key in zip(data["available_accounts"], data["private_keys"], strict=True)
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; returns once the process is gone."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
