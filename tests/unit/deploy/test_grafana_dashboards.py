"""deploy/grafana: each dashboard parses, has unique panel ids, uses the provisioned datasource,
and every PromQL expression names only metrics the code exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_promql import BUILTIN_SERIES, metric_names

from tallyio.metrics import exported_metric_names

DIR = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
BOARDS = ("overview", "strategies", "chains", "risk", "profitability")


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for panel in board["panels"] for t in panel.get("targets", [])]


def test_the_five_dashboards_exist() -> None:
    assert {p.stem for p in DIR.glob("*.json")} == set(BOARDS)


@pytest.mark.parametrize("name", BOARDS)
def test_dashboard_names_only_exported_metrics(name: str) -> None:
    board = json.loads((DIR / f"{name}.json").read_text())
    exported = exported_metric_names() | BUILTIN_SERIES
    assert board["uid"] == f"tallyio-{name}"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) >= 4
    for target in targets(board):
        names = metric_names(target["expr"])
        assert names, target["expr"]
        assert names <= exported, f"{name}: unknown {names - exported} in {target['expr']}"
        assert target["datasource"]["uid"] == "prometheus"


def test_dashboards_cover_every_engine_metric_between_them() -> None:
    used: set[str] = set()
    for name in BOARDS:
        for target in targets(json.loads((DIR / f"{name}.json").read_text())):
            used |= metric_names(target["expr"])
    engine = {n for n in exported_metric_names() if n.startswith("tallyio_")}
    families = {n.removesuffix("_bucket") for n in engine if n.endswith("_bucket")}
    plain = {n for n in engine if not n.endswith(("_bucket", "_sum", "_count", "_created"))}
    missing = {f for f in families if f"{f}_bucket" not in used} | (plain - used)
    assert not missing, f"no panel shows {sorted(missing)}"


def test_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    ds = yaml.safe_load((DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    boards = yaml.safe_load((DIR / "provisioning" / "dashboards" / "tallyio.yml").read_text())
    assert boards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
