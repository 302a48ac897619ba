"""deploy/: Dockerfile, compose and Kubernetes manifests parse, and what they reference exists:
mounted files, ports that match the metrics port Prometheus scrapes, CLI commands that parse,
names that tie the manifests together, and no secret values committed."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tallyio.cli import build_parser
from tallyio.metrics import DEFAULT_METRICS_PORT

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S_KINDS = {"Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def k8s() -> dict[str, dict[str, Any]]:
    docs = [
        d
        for p in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
    ]
    return {d["kind"]: d for d in docs}


def assert_cli_parses(argv: list[str]) -> None:
    build_parser().parse_args(argv)  # SystemExit on an unknown command or flag


def test_dockerfile_builds_the_package_from_files_that_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.splitlines()[2:4] == ["FROM python:3.11-slim", ""]
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    assert f"EXPOSE {DEFAULT_METRICS_PORT} 8700" in text
    assert "USER tallyio" in text
    (cmd,) = re.findall(r"^CMD (\[.+\])$", text, flags=re.M)
    assert_cli_parses(yaml.safe_load(cmd))


def test_prometheus_scrapes_the_metrics_port() -> None:
    config = load(DEPLOY / "prometheus" / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"tallyio:{DEFAULT_METRICS_PORT}"]
    assert config["rule_files"] == ["alerts.yml"]


def test_compose_wires_the_four_services_to_files_that_exist() -> None:
    compose = load(DEPLOY / "compose.yml")
    services = compose["services"]
    assert set(services) == {"tallyio", "postgres", "prometheus", "grafana"}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            assert target.startswith("/")
    tallyio = services["tallyio"]
    assert (DEPLOY / tallyio["build"]["context"]).resolve() == ROOT
    assert (ROOT / tallyio["build"]["dockerfile"]).exists()
    assert str(DEFAULT_METRICS_PORT) in tallyio["expose"]
    assert_cli_parses(tallyio["command"])
    grafana_mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    provider = load(DEPLOY / "grafana" / "provisioning" / "dashboards" / "tallyio.yml")
    assert grafana_mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert grafana_mounts["./grafana"] == provider["providers"][0]["options"]["path"]
    prom_mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"])
    assert prom_mounts["./prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    for port in (p for s in services.values() for p in s.get("ports", [])):
        assert port.startswith("127.0.0.1:"), f"{port} would listen on every interface"


def test_example_config_parses_and_alerts_build() -> None:
    from tallyio.alerts import AlertRouter

    config = tomllib.loads((DEPLOY / "tallyio.example.toml").read_text())
    env = {"TALLYIO_SLACK_WEBHOOK": "http://127.0.0.1:9/x", "TALLYIO_PAGERDUTY_ROUTING_KEY": "k"}
    router = AlertRouter.from_config(config["alerts"], env=env)
    assert set(router.routes) == {"breaker_tripped", "large_win", "large_loss", "node_lag"}
    configmap = k8s()["ConfigMap"]
    assert tomllib.loads(configmap["data"]["tallyio.toml"]) == config


def test_kubernetes_manifests_tie_together() -> None:
    docs = k8s()
    assert set(docs) == K8S_KINDS
    deployment, service = docs["Deployment"], docs["Service"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == DEFAULT_METRICS_PORT
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(DEFAULT_METRICS_PORT)
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["replicas"] == 1  # two engines would race nonces
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert claim == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert container["envFrom"][0]["secretRef"]["name"] == docs["Secret"]["metadata"]["name"]
    assert_cli_parses(container["args"])


def test_secret_template_commits_no_values() -> None:
    secret = k8s()["Secret"]
    assert secret["stringData"] and all(v == "" for v in secret["stringData"].values())
    for path in (DEPLOY / "compose.yml", DEPLOY / "tallyio.example.toml"):
        text = path.read_text()
        assert not re.search(
            r"(password|token|routing_key|webhook)\s*[:=]\s*\"?[A-Za-z0-9]{8,}", text, re.I
        )


def test_operations_runbook_names_real_commands() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    for heading in (
        "Start",
        "Stop",
        "Keys",
        "Limits",
        "Emergency exit",
        "Upgrading",
        "Backups",
        "Alerts",
    ):
        assert f"## {heading}" in text, heading
    commands = re.findall(r"^\s*(?:\$ )?tallyio ([^\n#]+)", text, flags=re.M)
    assert len(commands) >= 6
    for command in commands:
        argv = shlex.split(command.replace("...", "x"))
        top = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        assert argv[0] in top, f"docs/operations.md uses unknown command tallyio {argv[0]}"
