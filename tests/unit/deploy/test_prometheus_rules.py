"""deploy/prometheus: promtool accepts the config and rules, every alert fires on its sample
series (alerts_test.yml), and the rules name only metrics the code exports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from deploy_promql import BUILTIN_SERIES, metric_names

from tallyio.metrics import exported_metric_names

PROMTOOL = Path("/usr/bin/promtool")
DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
ALERT_FAMILIES = ("latency", "profitability", "node-health", "risk")


def promtool(*args: str) -> str:
    # No skip when missing: `make setup` installs Debian's prometheus package, which ships it.
    assert PROMTOOL.exists(), "promtool missing: run `make setup` (Debian package prometheus)"
    done = subprocess.run(
        [str(PROMTOOL), *args], cwd=DIR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((DIR / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_checks_config_and_rules() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 12 rules found" in promtool("check", "rules", "alerts.yml")


def test_every_alert_fires_on_its_sample_series() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")
    tested = (DIR / "alerts_test.yml").read_text()
    for rule in rules():
        assert f"alertname: {rule['alert']}" in tested, f"{rule['alert']} has no unit test"


def test_rule_groups_cover_each_family() -> None:
    groups = {g["name"] for g in yaml.safe_load((DIR / "alerts.yml").read_text())["groups"]}
    assert groups == {f"tallyio-{family}" for family in ALERT_FAMILIES}
    assert all(rule["labels"]["severity"] in {"warning", "critical"} for rule in rules())


def test_rules_name_only_exported_metrics() -> None:
    exported = exported_metric_names() | BUILTIN_SERIES
    for rule in rules():
        names = metric_names(str(rule["expr"]))
        assert names, rule["alert"]
        assert names <= exported, f"{rule['alert']}: unknown {names - exported}"


def test_metric_names_parser() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, stage) (rate(tallyio_stage_seconds_bucket"
        '{stage="a b", le=~".+"}[5m]))) > bool 0.5 and on(chain) up{job="x"} offset 5m'
    )
    assert metric_names(expr) == {"tallyio_stage_seconds_bucket", "up"}
