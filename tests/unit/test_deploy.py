"""The Kubernetes manifests: both overlays render, every core resource passes strict schema
validation, deployments keep their safety settings, and the operator data in the
ConfigMap is valid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.classifier.domain.lexicon import load_lexicon
from services.feedback.domain.rewards import load_rewards
from services.routing.domain.directory import load_directory
from shared.bizcal import load_calendar

DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy"
K8S_VERSION = "1.31.0"


def render(overlay: str) -> list[dict]:
    """`kubectl kustomize` (or `kustomize build`) where the tool exists; otherwise the base files as written."""
    tool = shutil.which("kustomize") or shutil.which("kubectl")
    if tool:
        cmd = [tool, "build"] if tool.endswith("kustomize") else [tool, "kustomize"]
        out = subprocess.run([*cmd, str(DEPLOY / "overlays" / overlay)], check=True, capture_output=True,
                             text=True).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    docs = []
    for f in sorted((DEPLOY / "base").glob("*.yaml")):
        if f.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_resource_passes_strict_validation(overlay):
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "ConfigMap",
            "Secret", "Job", "HorizontalPodAutoscaler", "Namespace"} <= kinds
    for d in docs:
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)


def test_deployments_are_locked_down_and_probed():
    deployments = [d for d in render("prod") if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {f"moksori-{s}" for s in
                                                            ("intake", "classifier", "routing", "feedback")}
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"]
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"  # alive only, no dependency checks
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert "startupProbe" in c and c["resources"]["requests"]


def test_operator_data_shipped_to_the_cluster_is_valid():
    data = DEPLOY / "base" / "operator-data"
    load_calendar(data / "calendar.yaml")
    load_directory(data / "directory.yaml")
    load_lexicon(data / "lexicon.yaml")
    load_rewards(data / "rewards.yaml")
