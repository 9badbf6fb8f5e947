"""deploy/k8s/ validated offline against Kubernetes' own schemas (kubernetes-validate), and against what we measured."""

from __future__ import annotations

import copy
import json

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
VERSION = "1.33.0"  # a Kubernetes release whose schemas kubernetes-validate ships


def documents() -> dict[str, dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_every_manifest_is_valid_kubernetes() -> None:
    docs = documents()
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for doc in docs.values():
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_validator_catches_a_mistake() -> None:
    deployment = copy.deepcopy(documents()["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


def test_the_deployment_is_wired_and_sized_as_measured() -> None:
    docs = documents()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert env["PORT"] == str(container["ports"][0]["containerPort"])
    assert env["METRICS_DIR"].startswith(container["volumeMounts"][0]["mountPath"])  # on the memory volume
    workers = int(env["WORKERS"])
    assert float(container["resources"]["requests"]["cpu"]) == workers  # one worker per core
    soak = json.loads((ROOT / "artifacts" / "soak.json").read_text())["soak"]
    measured = workers * max(soak["rss_after_mb"])  # MiB
    assert mebibytes(container["resources"]["requests"]["memory"]) >= measured
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    assert docs["PodDisruptionBudget"]["spec"]["minAvailable"] < docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
