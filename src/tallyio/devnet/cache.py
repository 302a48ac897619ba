"""Cache a finished devnet deployment as an anvil state dump, keyed by what shapes it.

The key hashes the node lockfile (protocol bytecode), our contracts, the devnet code, the
chain id and the protocol list, so any change to those deploys afresh.
"""

from __future__ import annotations

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

CACHE_VERSION = "1"


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
    def path(self) -> Path:
        return cache_dir() / f"{self.key}.json"

    def restore(self, d: Deployer) -> dict[str, Any] | None:
        """Load the cached state into a fresh anvil; the manifest, or None on a miss."""
        if not self.path.is_file():
            return None
        saved = json.loads(self.path.read_text())
        d.rpc("anvil_loadState", saved["state"])
        manifest: dict[str, Any] = saved["manifest"]
        if d.block_number() < int(manifest["block_number"]):
            self.path.unlink()  # this anvil cannot restore blocks; next time deploy afresh
            raise DevnetError(f"cached state {self.path} did not restore; run again")
        return manifest

    def store(self, d: Deployer, manifest: dict[str, Any]) -> None:
        state = d.rpc("anvil_dumpState")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"manifest": manifest, "state": state}))
        tmp.replace(self.path)  # atomic: a killed run never leaves half a cache
