"""The layering rule from DESIGN.md: pure layers import nothing that does I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tallyio"
PURE = ("protocols", "strategies")
FORBIDDEN = (
    "tallyio.chain",
    "tallyio.execution",
    "tallyio.journal",
    "tallyio.api",
    "tallyio.devnet",
)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _pure_files() -> list[Path]:
    return [p for pkg in PURE for p in sorted((SRC / pkg).rglob("*.py"))]


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_layers_do_no_io(path: Path) -> None:
    bad = [n for n in _imports(path) if n.startswith(FORBIDDEN)]
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_rule_sees_forbidden_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from tallyio.chain.rpc import RpcClient\nimport tallyio.journal\n")
    assert [n for n in _imports(probe) if n.startswith(FORBIDDEN)] == [
        "tallyio.chain.rpc",
        "tallyio.journal",
    ]
