"""deploy/k8s: every object validates against the official Kubernetes schema
(kubernetes-validate ships them; no cluster runs here), and the security
settings the design relies on are present."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"


def _objects():
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] != "Kustomization":
                yield path.name, document


OBJECTS = list(_objects())


@pytest.mark.parametrize(
    "document",
    [doc for _name, doc in OBJECTS],
    ids=[f"{n}:{d['kind']}:{d['metadata']['name']}" for n, d in OBJECTS],
)
def test_object_matches_the_official_schema(document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_an_unknown_field():
    broken = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spek": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_service_runs_unprivileged():
    deployments = [doc for _name, doc in OBJECTS if doc["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {
        "gateway",
        "identity",
        "vault",
        "executor",
        "audit",
    }
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
        # Only the executor talks to the Kubernetes API.
        expected_token = deployment["metadata"]["name"] == "executor"
        assert pod["automountServiceAccountToken"] is expected_token


def test_sandbox_namespace_denies_all_traffic():
    policies = [
        doc
        for _name, doc in OBJECTS
        if doc["kind"] == "NetworkPolicy" and doc["metadata"].get("namespace") == "aecaro-sandboxes"
    ]
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert spec["podSelector"] == {}
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in spec and "egress" not in spec
