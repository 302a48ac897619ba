"""Where TallyIO finds its node tools, protocol artifacts and contracts."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


class ToolNotFoundError(RuntimeError):
    """A node tool or artifact is missing: run `make setup`."""


@cache
def repo_root() -> Path:
    """The checkout holding node_modules: $TALLYIO_HOME, else the nearest parent of this file."""
    env = os.environ.get("TALLYIO_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "package.json").is_file() and (parent / "contracts").is_dir():
            return parent
    raise ToolNotFoundError(
        "cannot find the TallyIO checkout (package.json + contracts/); set TALLYIO_HOME"
    )


def node_modules() -> Path:
    path = repo_root() / "node_modules"
    if not path.is_dir():
        raise ToolNotFoundError(f"{path} is missing: run `make setup`")
    return path


def foundry_bin(name: str) -> Path:
    """anvil, forge or cast from the @foundry-rs npm packages."""
    path = node_modules() / "@foundry-rs" / f"{name}-linux-amd64" / "bin" / name
    if not path.is_file():
        raise ToolNotFoundError(f"{name} not found at {path}: run `make setup`")
    return path


def contracts_dir() -> Path:
    return repo_root() / "contracts"
