"""Cache a finished devnet deployment as an anvil state dump, keyed by what shapes it.

The key hashes the node lockfile (protocol bytecode), our contracts, the devnet code, the
chain id and the protocol list, so any change to those deploys afresh. The state is handed to
anvil as `--load-state FILE` (a full dump is several MB, too large for one RPC request).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tallyio.devnet.deployer import Deployer
from tallyio.devnet.node import DevnetError
from tallyio.paths import repo_root

CACHE_VERSION = "2"


def cache_dir() -> Path:
    env = os.environ.get("TALLYIO_CACHE_DIR")
    return Path(env) if env else repo_root() / ".cache" / "devnet"


def _inputs() -> list[Path]:
    root = repo_root()
    files = [root / "package-lock.json"]
    files += sorted((root / "src" / "tallyio" / "devnet").glob("*.py"))
    files += sorted((root / "contracts" / "src").rglob("*.sol"))
    return files


@dataclass(frozen=True, slots=True)
class DeployCache:
    key: str

    @classmethod
    def for_inputs(cls, chain_id: int, protocols: Sequence[str]) -> DeployCache:
        h = hashlib.sha256(f"{CACHE_VERSION}|{chain_id}|{','.join(protocols)}".encode())
        for path in _inputs():
            h.update(path.name.encode())
            h.update(path.read_bytes())
        return cls(h.hexdigest())

    @property
    def state_path(self) -> Path:
        return cache_dir() / f"{self.key}.state.json"

    @property
    def manifest_path(self) -> Path:
        return cache_dir() / f"{self.key}.manifest.json"

    def hit(self) -> bool:
        return self.state_path.is_file() and self.manifest_path.is_file()

    def manifest(self, d: Deployer) -> dict[str, Any]:
        """The cached manifest, after checking the node really loaded the cached chain."""
        manifest: dict[str, Any] = json.loads(self.manifest_path.read_text())
        if d.block_number() != int(manifest["block_number"]):
            self.state_path.unlink(missing_ok=True)  # unusable: deploy afresh next time
            raise DevnetError(f"cached state {self.state_path} did not restore; run again")
        return manifest

    def store(self, d: Deployer, manifest: dict[str, Any]) -> None:
        dump: str = d.rpc("anvil_dumpState")  # hex of gzipped JSON
        state = gzip.decompress(bytes.fromhex(dump.removeprefix("0x")))
        cache_dir().mkdir(parents=True, exist_ok=True)
        # Write to temporary names and rename: a killed run never leaves half a cache.
        for path, data in (
            (self.state_path, state),
            (self.manifest_path, json.dumps(manifest).encode()),
        ):
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
