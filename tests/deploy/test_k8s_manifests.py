"""deploy/k8s: every object validates against the official Kubernetes schema
(kubernetes-validate ships them; no cluster runs here), and the security
settings the design relies on are present."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.common.key_files import key_file_permission_problem

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"


def _objects():
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] != "Kustomization":
                yield path.name, document


OBJECTS = list(_objects())
DEPLOYMENTS = {d["metadata"]["name"]: d for _name, d in OBJECTS if d["kind"] == "Deployment"}

# The Secrets each service needs, and no more: its own mutual-TLS pair, the
# database URL for the four that keep state, and its own keys.
NEEDED_SECRETS = {
    "gateway": {"aecaro-tls-gateway", "aecaro-public-tls"},
    "identity": {"aecaro-tls-identity", "aecaro-database", "aecaro-identity-signing-key"},
    "vault": {"aecaro-tls-vault", "aecaro-database", "aecaro-vault-keyring"},
    "executor": {"aecaro-tls-executor", "aecaro-database"},
    "audit": {"aecaro-tls-audit", "aecaro-database"},
}
POSTGRESQL_PORT = 5432


def _pod(deployment):
    return deployment["spec"]["template"]["spec"]


def _secrets_referenced(pod):
    names = set()
    for container in pod.get("initContainers", []) + pod["containers"]:
        for variable in container.get("env", []):
            names.add(variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name"))
        for source in container.get("envFrom", []):
            names.add(source.get("secretRef", {}).get("name"))
    for volume in pod.get("volumes", []):
        names.add(volume.get("secret", {}).get("secretName"))
        for source in volume.get("projected", {}).get("sources", []):
            names.add(source.get("secret", {}).get("name"))
    return names - {None}


def _selects(selector, labels):
    """Whether a label selector (matchLabels, matchExpressions In) picks these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        if expression["operator"] != "In":
            raise NotImplementedError(expression["operator"])  # extend when a manifest uses it
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _opens_to_other_namespaces(rule, port):
    """Whether an egress rule lets traffic to ``port`` leave the namespace
    (PostgreSQL and NATS live in aecaro-infra, never beside the services)."""
    peers = rule.get("to")
    leaves = not peers or any(set(peer) != {"podSelector"} for peer in peers)
    ports = rule.get("ports")
    opens = not ports or any(
        "port" not in entry or entry["port"] <= port <= entry.get("endPort", entry["port"])
        for entry in ports
    )
    return leaves and opens


def _egress_rules_for(deployment):
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return [
        rule
        for _name, doc in OBJECTS
        if doc["kind"] == "NetworkPolicy" and "namespace" not in doc["metadata"]
        if _selects(doc["spec"]["podSelector"], labels)
        for rule in doc["spec"].get("egress", [])
    ]


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


def test_no_pod_holds_a_kubernetes_api_token():
    # No service calls the Kubernetes API yet (the executor will, once it runs
    # agents in pods); a token nobody uses only helps whoever breaks in.
    for name, deployment in DEPLOYMENTS.items():
        assert _pod(deployment)["automountServiceAccountToken"] is False, name
    accounts = [doc for _name, doc in OBJECTS if doc["kind"] == "ServiceAccount"]
    assert len(accounts) == len(DEPLOYMENTS)
    for account in accounts:
        assert account["automountServiceAccountToken"] is False


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


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_each_service_gets_only_the_secrets_it_needs(name):
    assert _secrets_referenced(_pod(DEPLOYMENTS[name])) == NEEDED_SECRETS[name]


def test_the_gateway_has_no_database_credential_and_no_way_to_the_database():
    gateway = DEPLOYMENTS["gateway"]
    variables = {v["name"] for c in _pod(gateway)["containers"] for v in c.get("env", [])}
    assert not {name for name in variables if "DATABASE" in name}

    rules = _egress_rules_for(gateway)
    assert rules  # the policies do select the gateway
    assert not [rule for rule in rules if _opens_to_other_namespaces(rule, POSTGRESQL_PORT)]


def test_the_services_that_keep_state_can_reach_the_database():
    for name in ("identity", "vault", "executor", "audit"):
        rules = _egress_rules_for(DEPLOYMENTS[name])
        assert [rule for rule in rules if _opens_to_other_namespaces(rule, POSTGRESQL_PORT)], name


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_secret_files_are_readable_by_the_service_and_pass_its_key_file_check(name):
    pod = _pod(DEPLOYMENTS[name])
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] != 0
    # Secret files are root's; without fsGroup a non-root service cannot read them.
    assert context["fsGroup"] == context["runAsGroup"]

    for secret in [volume["secret"] for volume in pod["volumes"] if "secret" in volume]:
        modes = [secret.get("defaultMode", 0o644)]
        modes += [item["mode"] for item in secret.get("items", []) if "mode" in item]
        for mode in modes:
            # On disk: root's, the kubelet adds group read for fsGroup (the
            # volume is read-only), and the service runs as runAsUser.
            on_disk = mode | 0o440
            assert key_file_permission_problem(on_disk, 0, context["runAsUser"]) is None
