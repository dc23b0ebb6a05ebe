"""Quick checks of the packaging files: systemd units, Dockerfile, Kubernetes
manifests and debian/ metadata. No root, no build, no network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import modelmux

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "contrib" / "systemd"
K8S = REPO / "contrib" / "k8s"
DOCKERFILE = REPO / "contrib" / "docker" / "Dockerfile"
SHUTDOWN_TIMEOUT_S = 30  # [server] shutdown_timeout_s default (docs/config.md)

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateUsers": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "CapabilityBoundingSet": "",
    "MemoryDenyWriteExecute": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "UMask": "0077",
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """systemd unit -> {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path}: {raw!r} outside a section"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict, section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= missing"
    return values[-1]


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min)?", value)
    assert m, value
    return float(m.group(1)) * (60 if m.group(2) == "min" else 1)


@pytest.mark.parametrize("name", ["modelmuxd.service", "modelmuxd@.service"])
def test_system_units_key_directives(name: str) -> None:
    unit = parse_unit(UNITS / name)
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "User") == "modelmux"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert set(one(unit, "Service", "RestartPreventExitStatus").split()) >= {"64", "78"}
    assert seconds(one(unit, "Service", "TimeoutStopSec")) > SHUTDOWN_TIMEOUT_S
    assert one(unit, "Service", "ExecStart").startswith(
        "/usr/bin/modelmuxd --config /etc/modelmux/"
    )
    assert one(unit, "Service", "ExecCondition").startswith(
        "/usr/libexec/modelmux/modelmux-configured "
    )
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value, key
    assert "@system-service" in unit["Service"]["SystemCallFilter"]
    assert "IPAddressDeny" not in unit["Service"]  # it must reach Vertex AI
    text = (UNITS / name).read_text()
    assert re.search(r"^#\s*LoadCredential=google-sa\.json:/etc/modelmux/", text, re.M)
    assert re.search(
        r"^#\s*Environment=MODELMUX_AUTH_SERVICE_ACCOUNT_FILE=%d/google-sa\.json", text, re.M
    )


def test_system_unit_specifics() -> None:
    unit = parse_unit(UNITS / "modelmuxd.service")
    assert one(unit, "Service", "EnvironmentFile") == "-/etc/default/modelmux"
    assert "--config /etc/modelmux/config.toml" in one(unit, "Service", "ExecStart")
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_template_unit_uses_instance_config() -> None:
    unit = parse_unit(UNITS / "modelmuxd@.service")
    assert "--config /etc/modelmux/%i.toml" in one(unit, "Service", "ExecStart")
    assert one(unit, "Unit", "ConditionPathExists") == "/etc/modelmux/%i.toml"
    assert one(unit, "Service", "EnvironmentFile") == "-/etc/default/modelmux@%i"


def test_user_unit() -> None:
    unit = parse_unit(UNITS / "user" / "modelmuxd.service")
    assert "User" not in unit["Service"]
    assert one(unit, "Service", "Type") == "notify"
    assert "--config %E/modelmux/config.toml" in one(unit, "Service", "ExecStart")
    assert one(unit, "Install", "WantedBy") == "default.target"
    assert seconds(one(unit, "Service", "TimeoutStopSec")) > SHUTDOWN_TIMEOUT_S


# ---- Dockerfile -------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        op, _, args = full.partition(" ")
        out.append((op.upper(), args.strip()))
    return out


def test_dockerfile_multi_stage_non_root_with_healthcheck() -> None:
    ins = dockerfile_instructions(DOCKERFILE)
    froms = [i for i, (op, _) in enumerate(ins) if op == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    final = ins[froms[-1] :]
    ops = [op for op, _ in final]
    assert any(op == "COPY" and args.startswith("--from=") for op, args in final)
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    health = [args for op, args in final if op == "HEALTHCHECK"]
    assert health and "/health" in health[-1]
    compilers = re.compile(r"\b(gcc|g\+\+|cc|clang|build-essential|make|rustc|cargo)\b")
    for op, args in final:
        if op == "RUN":
            assert not compilers.search(args), f"compiler in the final stage: {args}"
            assert "apt-get install" not in args
    envs = " ".join(args for op, args in final if op == "ENV")
    assert "MODELMUX_SERVER_HOST=0.0.0.0" in envs
    entry = [args for op, args in final if op == "ENTRYPOINT"]
    assert entry and "modelmuxd" in entry[-1]
    assert "EXPOSE" in ops
    # The build context keeps the virtualenv and VCS data out.
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


# ---- Kubernetes -------------------------------------------------------------


def k8s_objects() -> dict[str, dict]:
    objs: dict[str, dict] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                objs[doc["kind"]] = doc
    return objs


def test_k8s_manifests() -> None:
    objs = k8s_objects()
    for kind in (
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
    ):
        assert kind in objs, kind
    dep = objs["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False

    env = objs["ConfigMap"]["data"]
    drain = float(env.get("MODELMUX_SERVER_SHUTDOWN_TIMEOUT_S", SHUTDOWN_TIMEOUT_S))
    pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_s = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
    assert pod["terminationGracePeriodSeconds"] > drain + pre_stop_s

    # The service-account key comes from a Secret mounted as a file.
    secret_vols = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    assert secret_vols, "no Secret volume"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    ((vol_name, secret),) = secret_vols.items()
    key_path = env["MODELMUX_AUTH_SERVICE_ACCOUNT_FILE"]
    assert key_path == f"{mounts[vol_name]}/{secret['items'][0]['path']}"
    assert objs["Secret"]["metadata"]["name"] == secret["secretName"]
    assert any(
        e["configMapRef"]["name"] == objs["ConfigMap"]["metadata"]["name"] for e in c["envFrom"]
    )

    svc = objs["Service"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] in ("http", c["ports"][0]["containerPort"])
    assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["kind"] == "Deployment"
    assert hpa["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert hpa["minReplicas"] >= 2


def test_kustomization_lists_existing_files() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (K8S / res).is_file(), res
    assert "secret.example.yaml" not in kust["resources"]  # never deploy the placeholder key


# ---- debian/ ----------------------------------------------------------------


def test_debian_changelog_matches_version() -> None:
    first = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    m = re.match(r"modelmux \(([^)]+)\) ", first)
    assert m and m.group(1) == modelmux.__version__


def test_debian_uses_dh_virtualenv_with_system_python_and_pins() -> None:
    control = (REPO / "debian" / "control").read_text()
    assert "debhelper-compat (= 13)" in control
    assert "dh-virtualenv" in control and "dh-sequence-installsysusers" in control
    rules = (REPO / "debian" / "rules").read_text()
    assert "--python=/usr/bin/python3" in rules and "--builtin-venv" in rules
    assert "requirements/constraints.txt" in rules
    assert (REPO / "debian" / "source" / "format").read_text().strip() == "3.0 (native)"
    sysusers = (REPO / "debian" / "modelmux.sysusers").read_text()
    assert re.search(r"^u modelmux ", sysusers, re.M)
    # One copy of each unit: debian/rules installs the contrib/systemd files.
    assert not list((REPO / "debian").glob("*.service"))
    for unit in ("modelmuxd.service", "modelmuxd@.service", "user/modelmuxd.service"):
        assert f"contrib/systemd/{unit}" in rules


def test_lintian_overrides_are_commented() -> None:
    lines = (REPO / "debian" / "modelmux.lintian-overrides").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("#") or lines[i - 1].startswith("modelmux:"), line


def test_operations_doc_puts_drain_numbers_side_by_side() -> None:
    doc = (REPO / "docs" / "operations.md").read_text()
    unit_stop = seconds(one(parse_unit(UNITS / "modelmuxd.service"), "Service", "TimeoutStopSec"))
    grace = k8s_objects()["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    table = [ln for ln in doc.splitlines() if ln.startswith("|")]
    assert any("TimeoutStopSec" in ln and str(int(unit_stop)) in ln for ln in table)
    assert any("terminationGracePeriodSeconds" in ln and str(grace) in ln for ln in table)
    assert any("shutdown_timeout_s" in ln and str(SHUTDOWN_TIMEOUT_S) in ln for ln in table)
    assert "journalctl -u modelmuxd" in doc
