"""docker/k8s/*.yaml: every object valid against Kubernetes' own schemas (kubernetes-validate,
strict, offline) and wired as the deployment needs: a headless Service over the dynamics
Deployment, TLS health probes on the served ports, token and TLS from Secrets, NetworkPolicies,
metrics on their own port, requests and limits, non-root pods, a gate Job (measure, then check)
and an Indexed Job that shards the measurement by JOB_COMPLETION_INDEX."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from . import deploy

# The oldest Kubernetes these manifests target (Indexed Jobs' backoffLimitPerIndex: beta in 1.29).
K8S_VERSION = "1.30"
DOCS = deploy.k8s_documents()


@pytest.mark.parametrize(
    "doc",
    [doc for _, doc in DOCS],
    ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in DOCS],
)
def test_manifest_matches_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    # Raises ValidationError on a bad object and SchemaNotFoundError on an unknown kind.
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_kind_is_known() -> None:
    kinds = {doc["kind"] for _, doc in DOCS}
    assert kinds == {"Service", "Deployment", "Job", "PersistentVolumeClaim", "NetworkPolicy"}


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["spec"].update(replica=3),  # typo: strict schemas forbid unknown fields
        lambda d: deploy.pod_spec(d)["containers"][0]["readinessProbe"]["exec"].update(
            command="python3 -m wf_grpc_health"  # exec probes take a list, not a string
        ),
        lambda d: deploy.pod_spec(d)["containers"][0]["resources"].update(requests=[1]),
    ],
    ids=["unknown-field", "exec-probe-not-a-list", "requests-not-a-map"],
)
def test_broken_manifest_is_rejected(edit: Any) -> None:
    doc = deploy.k8s_object("Deployment", "wf-dynamics")
    edit(doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def container_port(container: dict[str, Any], name: str) -> int:
    return next(int(p["containerPort"]) for p in container["ports"] if p["name"] == name)


def test_dynamics_service_is_headless_over_the_deployment() -> None:
    service = deploy.k8s_object("Service", "wf-dynamics")
    deployment = deploy.k8s_object("Deployment", "wf-dynamics")
    assert service["spec"]["clusterIP"] == "None"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert deployment["spec"]["replicas"] >= 2
    (port,) = service["spec"]["ports"]
    container = deploy.pod_spec(deployment)["containers"][0]
    assert port["targetPort"] == "grpc"
    assert port["port"] == container_port(container, "grpc")


def test_planner_dials_every_dynamics_pod_round_robin() -> None:
    service = deploy.k8s_object("Service", "wf-dynamics")
    args = deploy.pod_spec(deploy.k8s_object("Deployment", "wf-planner"))["containers"][0]["args"]
    port = service["spec"]["ports"][0]["port"]
    assert deploy.flag(args, "--dynamics") == [f"dns:///wf-dynamics:{port}"]
    assert deploy.flag(args, "--dynamics-policy") == ["round_robin"]


SERVICES = {"wf-dynamics": "dynamics-token", "wf-planner": "planner-token"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_services_have_tls_health_probes_on_the_served_port(name: str) -> None:
    pod = deploy.pod_spec(deploy.k8s_object("Deployment", name))
    (container,) = pod["containers"]
    port = container_port(container, "grpc")
    assert deploy.flag(container["args"], "--port") == [str(port)]
    assert deploy.flag(container["args"], "--host") == ["0.0.0.0"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:3] == ["python3", "-m", "wf_grpc_health"], probe
        assert command[-1] == f"127.0.0.1:{port}", probe
        # The server speaks TLS only: the probe must verify it against the mounted CA.
        assert deploy.flag(command, "--tls-ca") == ["/etc/wf/tls/ca.crt"], probe
        assert deploy.flag(command, "--tls-server-name") == [name], probe
    # The kubelet waits for the drain (--grace-s) before SIGKILL.
    grace = float((deploy.flag(container["args"], "--grace-s") or ["10"])[0])
    assert pod["terminationGracePeriodSeconds"] > grace


def test_planner_readiness_follows_the_dynamics_and_liveness_does_not() -> None:
    (container,) = deploy.pod_spec(deploy.k8s_object("Deployment", "wf-planner"))["containers"]
    ready = container["readinessProbe"]["exec"]["command"]
    alive = container["livenessProbe"]["exec"]["command"]
    assert deploy.flag(ready, "--service") == ["worldflux.v1.PlannerService"]
    assert deploy.flag(alive, "--service") == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_token_and_tls_come_from_secrets_and_fail_closed(name: str) -> None:
    pod = deploy.pod_spec(deploy.k8s_object("Deployment", name))
    (container,) = pod["containers"]
    args = container["args"]
    assert deploy.flag(args, "--token") == []  # never on argv (visible in `ps`)
    assert deploy.flag(args, "--allow-no-auth") == [] and "--allow-no-auth" not in args
    (token_file,) = deploy.flag(args, "--token-file")
    assert token_file == f"/etc/wf/tokens/{SERVICES[name]}"
    assert deploy.flag(args, "--tls-cert") == ["/etc/wf/tls/tls.crt"]
    assert deploy.flag(args, "--tls-key") == ["/etc/wf/tls/tls.key"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for volume, secret in (("tokens", "wf-service-tokens"), ("tls", "wf-service-tls")):
        assert volumes[volume]["secret"]["secretName"] == secret
        assert not volumes[volume]["secret"].get("optional", False)  # no Secret: no pod
        assert mounts[volume]["readOnly"] is True
    if name == "wf-planner":
        assert deploy.flag(args, "--dynamics-token-file") == ["/etc/wf/tokens/dynamics-token"]
        assert deploy.flag(args, "--dynamics-tls-ca") == ["/etc/wf/tls/ca.crt"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_metrics_have_their_own_port_and_connections_age(name: str) -> None:
    (container,) = deploy.pod_spec(deploy.k8s_object("Deployment", name))["containers"]
    args = container["args"]
    metrics = container_port(container, "metrics")
    assert deploy.flag(args, "--metrics-port") == [str(metrics)]
    assert metrics != container_port(container, "grpc")
    assert float(deploy.flag(args, "--max-connection-age-s")[0]) > 0


def ingress_ports(policy: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Port -> the `from` peers allowed to reach it."""
    allowed: dict[int, list[dict[str, Any]]] = {}
    for rule in policy["spec"]["ingress"]:
        for port in rule["ports"]:
            allowed.setdefault(int(port["port"]), []).extend(rule["from"])
    return allowed


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_network_policy_admits_only_the_right_peers(name: str) -> None:
    policy = deploy.k8s_object("NetworkPolicy", name)
    deployment = deploy.k8s_object("Deployment", name)
    (container,) = deploy.pod_spec(deployment)["containers"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    allowed = ingress_ports(policy)
    grpc_port, metrics_port = container_port(container, "grpc"), container_port(
        container, "metrics"
    )
    assert set(allowed) == {grpc_port, metrics_port}
    monitoring = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    assert allowed[metrics_port] == [monitoring]
    (peer,) = allowed[grpc_port]
    if name == "wf-dynamics":
        planner = deploy.k8s_object("Deployment", "wf-planner")
        planner_labels = planner["spec"]["template"]["metadata"]["labels"]
        assert peer["podSelector"]["matchLabels"].items() <= planner_labels.items()
    else:
        assert peer == {"podSelector": {"matchLabels": {"worldflux.io/planner-client": "true"}}}


def all_pods() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", deploy.pod_spec(doc))
        for _, doc in DOCS
        if doc["kind"] in ("Deployment", "Job")
    ]


@pytest.mark.parametrize("where,pod", all_pods(), ids=[w for w, _ in all_pods()])
def test_every_container_is_bounded_and_unprivileged(where: str, pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys(), container["name"]
        assert {"cpu", "memory"} <= resources["limits"].keys(), container["name"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        image = container["image"]
        assert image.rsplit(":", 1)[0].rsplit("/", 1)[1] in deploy.IMAGE_NAMES, image


def test_gate_job_measures_then_checks_the_same_report() -> None:
    job = deploy.k8s_object("Job", "wf-gate")
    pod = deploy.pod_spec(job)
    (measure,) = pod["initContainers"]
    (check,) = pod["containers"]
    assert measure["args"][0] == "measure" and check["args"][0] == "check"
    assert deploy.flag(measure["args"], "--output") == deploy.flag(check["args"], "--input")
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0


def test_indexed_job_shards_the_measurement() -> None:
    job = deploy.k8s_object("Job", "wf-gate-shards")
    spec = job["spec"]
    count = spec["completions"]
    assert spec["completionMode"] == "Indexed"
    assert count >= 2 and spec["parallelism"] == count
    (container,) = deploy.pod_spec(job)["containers"]
    args = container["args"]
    assert args[0] == "measure"
    assert deploy.flag(args, "--shard") == [f"$(JOB_COMPLETION_INDEX)/{count}"]
    (output,) = deploy.flag(args, "--output")
    assert "$(JOB_COMPLETION_INDEX)" in output  # one report per shard
    env = {e["name"]: e for e in container["env"]}
    field = env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    # The merge Job reads exactly the shards the Indexed Job writes.
    merge = deploy.pod_spec(deploy.k8s_object("Job", "wf-gate-merge"))["initContainers"][0]
    inputs = [a for a in merge["args"][1:] if not a.startswith("--")]
    assert merge["args"][0] == "merge"
    assert inputs == [output.replace("$(JOB_COMPLETION_INDEX)", str(i)) for i in range(count)]


def test_gate_jobs_share_the_reports_claim() -> None:
    claim = deploy.k8s_object("PersistentVolumeClaim", "wf-gate-reports")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for name in ("wf-gate", "wf-gate-shards", "wf-gate-merge"):
        volumes = {v["name"]: v for v in deploy.pod_spec(deploy.k8s_object("Job", name))["volumes"]}
        assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == "wf-gate-reports"
