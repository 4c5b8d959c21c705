"""Offline check of the Kubernetes manifests under deploy/kubernetes/ (docs/DEPLOYMENT.md).

Two parts, no cluster needed:

1. Schemas: every object of every manifest is validated, strictly (unknown fields refused), against
   the JSON schemas of the Kubernetes versions in KUBERNETES_VERSIONS, as shipped by the pinned
   `kubernetes-validate` package (scripts/setup-venv). A kind or apiVersion with no schema in a
   version is an error too (the package's own CLI only warns).
2. What this deployment relies on:
   - every Groundwork service has a Deployment running its binary, a Service on its documented
     port, a NetworkPolicy for Ingress and Egress, and a default-deny policy exists;
   - every Deployment has startup, readiness and liveness probes asking the gRPC health check with
     `groundwork health` over TLS, CPU and memory requests and limits, a non-root pod with the
     runtime's seccomp profile, and a container without privileges, privilege escalation or
     capabilities, on a read-only root filesystem; no service-account token is mounted;
   - every environment variable a container gets (its `env` and the ConfigMaps of `envFrom`) is one
     that service reads: its settings (`env = "..."` in crates/kit/src/config.rs and
     services/<service>/src/settings.rs), the telemetry variables, and the AWS SDK's own variables
     for the services built on the AWS SDK;
   - the security settings are on (operator token file, TLS certificate and key, the service's own
     NATS nkey, no GROUNDWORK_INSECURE, no token as a literal value);
   - every file an environment variable names is mounted from a Secret volume that provides it, and
     every Secret and key referenced exists in secrets.example.yaml (the documented Secrets);
   - every service runs two or more replicas, with a PodDisruptionBudget (the orchestrator too:
     its runs are leased, so replicas side by side and rolling updates are safe), and the
     orchestrator's replicas get their pod's name as replica id;
   - kustomization.yaml lists every manifest but secrets.example.yaml; the NATS values ask for a
     cluster of three with JetStream on file storage; NATS_URL names three nodes and the stream
     replicas are 3;
   - docs/DEPLOYMENT.md names every documented Secret, and every GROUNDWORK_* or NATS_* variable
     it names is read by a service or the CLI.

Then it breaks copies of the manifests in known ways and fails unless each is caught, so that a
check which passes everything cannot go unnoticed.
"""
import copy
import pathlib
import re
import sys

try:
    import yaml
    from kubernetes_validate import utils as kv
    from kubernetes_validate.version import __version__ as KV_VERSION
except ImportError:
    print("check-kubernetes: the Python packages kubernetes-validate and PyYAML are needed; run "
          "./scripts/setup-venv (it installs the pinned versions into .venv) and use .venv/bin/python",
          file=sys.stderr)
    sys.exit(1)

ROOT = pathlib.Path(__file__).resolve().parent.parent
KDIR = ROOT / "deploy" / "kubernetes"
SECRETS_FILE = KDIR / "secrets.example.yaml"
HELM_VALUES = KDIR / "nats" / "values.yaml"
DOC = ROOT / "docs" / "DEPLOYMENT.md"

# The oldest Kubernetes the manifests are meant for, and the newest the pinned schemas know.
KUBERNETES_VERSIONS = ("1.33", "1.37")

PORTS = {"eventbus": 50051, "identity": 50052, "budget": 50053, "alerting": 50054, "orchestrator": 50055}

# Read by aws-config's default chain (region, endpoint, static, web-identity and profile
# credentials); only services that depend on groundwork-cloud (the AWS SDK) may be given them.
AWS_SDK_VARIABLES = {
    "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
}

# Variables whose value is a file the service reads.
FILE_VARIABLES = {
    "NATS_NKEY", "NATS_CREDS", "NATS_CA", "NATS_CERT", "NATS_KEY",
    "GROUNDWORK_API_TOKEN_FILE", "GROUNDWORK_READ_ONLY_TOKEN_FILE",
    "GROUNDWORK_TLS_CERT", "GROUNDWORK_TLS_KEY", "GROUNDWORK_TLS_CLIENT_CA",
    "GROUNDWORK_CA_FILE", "GROUNDWORK_TLS_CLIENT_CERT", "GROUNDWORK_TLS_CLIENT_KEY",
    "GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE", "GROUNDWORK_CONFIG",
}

ENV_ATTRIBUTE = re.compile(r'env\s*=\s*"([A-Z0-9_]+)"')


def load_all(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifest_paths():
    """Every file of Kubernetes objects: all YAML under deploy/kubernetes/ but the kustomization
    and the Helm chart's values."""
    return sorted(p for p in KDIR.rglob("*.yaml") if p.name != "kustomization.yaml" and p != HELM_VALUES)


# ---------------------------------------------------------------------------------------------
# What the code reads


def env_read_by(service):
    """The environment variables `service` reads, from its sources."""
    names = set(ENV_ATTRIBUTE.findall((ROOT / "crates/kit/src/config.rs").read_text()))
    names |= set(ENV_ATTRIBUTE.findall((ROOT / f"services/{service}/src/settings.rs").read_text()))
    telemetry = (ROOT / "crates/kit/src/telemetry.rs").read_text()
    names |= set(re.findall(r'env::var\("([A-Z0-9_]+)"\)', telemetry))
    if "RUST_LOG" in telemetry:
        names.add("RUST_LOG")
    cargo = (ROOT / f"services/{service}/Cargo.toml").read_text()
    dependencies = cargo.split("[dev-dependencies]")[0]
    if re.search(r"^groundwork-cloud\b", dependencies, re.M):
        names |= AWS_SDK_VARIABLES
    return names


def env_read_by_anyone():
    names = set()
    for service in PORTS:
        names |= env_read_by(service)
    for path in (ROOT / "cli/src").rglob("*.rs"):
        names |= set(ENV_ATTRIBUTE.findall(path.read_text()))
    return names


# ---------------------------------------------------------------------------------------------
# Schemas


def schema_problems(objects):
    """objects: (source, object) pairs. Validated strictly against every version."""
    problems = []
    for source, obj in objects:
        what = f"{source}: {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        for version in KUBERNETES_VERSIONS:
            try:
                kv.validate(obj, version, strict=True)
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                problems.append(f"{what}: not valid for Kubernetes {version}: {path}: {e.message}")
            except kv.SchemaNotFoundError as e:
                problems.append(f"{what}: {e.message}")
            except kv.VersionNotSupportedError:
                problems.append(f"kubernetes-validate {KV_VERSION} has no schemas for Kubernetes {version}")
            except (KeyError, TypeError) as e:
                problems.append(f"{what}: not a Kubernetes object ({e})")
    return problems


# ---------------------------------------------------------------------------------------------
# Structure


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def documented_secrets(secret_objects):
    """Secret name -> its keys, from secrets.example.yaml."""
    out = {}
    for s in secret_objects:
        if s.get("kind") == "Secret":
            out[s["metadata"]["name"]] = set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())
    return out


def deployment_problems(dep, objects, secrets):
    problems = []
    name = dep["metadata"]["name"]
    where = f"Deployment {name}"
    pod = dep["spec"]["template"]["spec"]
    pod_labels = dep["spec"]["template"]["metadata"].get("labels") or {}
    containers = pod.get("containers") or []
    if len(containers) != 1:
        return [f"{where}: one container expected, found {len(containers)}"]
    c = containers[0]
    command = c.get("command") or []
    service = command[0].removeprefix("groundwork-") if command else ""
    if service not in PORTS or name != service:
        return [f"{where}: must be named after the Groundwork service whose binary it runs "
                f"(groundwork-<service>), not {command}"]
    port = PORTS[service]

    # Pod and container security.
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false")
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
        problems.append(f"{where}: the pod must run as non-root (runAsNonRoot: true, a non-zero runAsUser)")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: the pod must use the RuntimeDefault seccomp profile")
    csc = c.get("securityContext") or {}
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation must be false")
    if csc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem must be true")
    if csc.get("privileged"):
        problems.append(f"{where}: must not be privileged")
    caps = csc.get("capabilities") or {}
    if caps.get("drop") != ["ALL"] or caps.get("add"):
        problems.append(f"{where}: capabilities must drop ALL and add none")

    # Resources.
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if not (res.get(part) or {}).get(r):
                problems.append(f"{where}: resources.{part}.{r} is missing")

    # Probes: the gRPC health check over TLS, as docker-compose.yml's health checks ask it.
    expected = ["groundwork", "health", "--service", service, f"--{service}-url", f"https://127.0.0.1:{port}"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = c.get(probe)
        if not p:
            problems.append(f"{where}: {probe} is missing")
        elif (p.get("exec") or {}).get("command") != expected:
            problems.append(f"{where}: {probe} must run {' '.join(expected)}")

    # Ports.
    ports = c.get("ports") or []
    if [p.get("containerPort") for p in ports] != [port]:
        problems.append(f"{where}: must expose exactly its documented port {port}")

    # Environment: only what the service reads.
    allowed = env_read_by(service)
    env = {}
    for e in c.get("env") or []:
        env[e["name"]] = e
    from_config = {}
    for src in c.get("envFrom") or []:
        ref = src.get("configMapRef")
        if not ref:
            problems.append(f"{where}: envFrom may only name ConfigMaps of these manifests")
            continue
        cms = [o for o in objects if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == ref.get("name")]
        if not cms:
            problems.append(f"{where}: envFrom names ConfigMap {ref.get('name')}, which no manifest defines")
            continue
        from_config.update(cms[0].get("data") or {})
    for var in sorted(set(env) | set(from_config)):
        if var not in allowed:
            problems.append(f"{where}: environment variable {var} is not read by the {service} service")
    values = dict(from_config)
    for var, e in env.items():
        if "value" in e:
            values[var] = e["value"]

    # Security settings on.
    listen = f"GROUNDWORK_{service.upper()}__LISTEN"
    if values.get(listen) != f"0.0.0.0:{port}":
        problems.append(f"{where}: {listen} must be 0.0.0.0:{port}")
    for var in ("GROUNDWORK_API_TOKEN_FILE", "GROUNDWORK_TLS_CERT", "GROUNDWORK_TLS_KEY", "NATS_NKEY"):
        if var not in values:
            problems.append(f"{where}: {var} must be set (secure by default, docs/SECURITY.md)")
    if str(values.get("GROUNDWORK_INSECURE", "false")).lower() not in ("false", "0", ""):
        problems.append(f"{where}: runs with GROUNDWORK_INSECURE")
    for var in ("GROUNDWORK_API_TOKEN", "GROUNDWORK_READ_ONLY_TOKEN"):
        if var in values:
            problems.append(f"{where}: {var} as a literal value; mount the token and use {var}_FILE")
    if values.get("NATS_NKEY", "").rsplit("/", 1)[-1] != f"{service}.nk":
        problems.append(f"{where}: NATS_NKEY must be the service's own identity, {service}.nk")
    if "@" in values.get("NATS_URL", ""):
        problems.append(f"{where}: NATS_URL carries a password; use NATS_NKEY")

    # Secrets: every file mounted from a documented Secret key; every reference documented.
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    provided = {}  # mount path -> set of file names
    for v in volumes.values():
        sec = v.get("secret")
        if not sec:
            continue
        sname = sec.get("secretName")
        if sname not in secrets:
            problems.append(f"{where}: volume {v['name']} mounts Secret {sname}, not in secrets.example.yaml")
            continue
        items = sec.get("items")
        if items:
            for it in items:
                if it["key"] not in secrets[sname]:
                    problems.append(f"{where}: volume {v['name']} mounts key {it['key']}, which Secret {sname} does not document")
        for m in c.get("volumeMounts") or []:
            if m["name"] == v["name"]:
                if m.get("readOnly") is not True:
                    problems.append(f"{where}: Secret volume {v['name']} must be mounted read-only")
                files = {it["path"] for it in items} if items else set(secrets[sname])
                provided[m["mountPath"].rstrip("/")] = files
    for var, path in values.items():
        if var in FILE_VARIABLES:
            directory, _, file = str(path).rpartition("/")
            if file not in provided.get(directory, set()):
                problems.append(f"{where}: {var}={path} is not a file mounted from a documented Secret")
    for var, e in env.items():
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref and ref.get("key") not in secrets.get(ref.get("name"), set()):
            problems.append(f"{where}: {var} reads key {ref.get('key')} of Secret {ref.get('name')}, not in secrets.example.yaml")

    # Replicas.
    replicas = dep["spec"].get("replicas", 1)
    pdbs = [o for o in objects if o.get("kind") == "PodDisruptionBudget"
            and labels_match(o["spec"].get("selector", {}).get("matchLabels"), pod_labels)]
    if replicas < 2:
        problems.append(f"{where}: runs {replicas} replica(s); two or more keep it answering through a restart")
    if not pdbs:
        problems.append(f"{where}: {replicas} replicas and no PodDisruptionBudget selecting them")
    if service == "orchestrator":
        # Each replica's id in the run leases must be unique among running pods: the pod's name.
        field = ((env.get("GROUNDWORK_ORCHESTRATOR__REPLICA_ID") or {}).get("valueFrom") or {}).get("fieldRef") or {}
        if field.get("fieldPath") != "metadata.name":
            problems.append(f"{where}: GROUNDWORK_ORCHESTRATOR__REPLICA_ID must be the pod's name (fieldRef metadata.name), unique per replica")

    # Service and NetworkPolicy.
    svcs = [o for o in objects if o.get("kind") == "Service" and o["metadata"]["name"] == service]
    if not svcs:
        problems.append(f"{where}: no Service named {service} (the name the certificate and the other services use)")
    else:
        s = svcs[0]["spec"]
        if not labels_match(s.get("selector"), pod_labels):
            problems.append(f"Service {service}: does not select the Deployment's pods")
        sports = s.get("ports") or []
        if not any(p.get("port") == port and p.get("targetPort") in (port, *(q.get("name") for q in ports)) for p in sports):
            problems.append(f"Service {service}: must serve port {port} onto the container's port")
    nps = [o for o in objects if o.get("kind") == "NetworkPolicy"
           and labels_match(o["spec"].get("podSelector", {}).get("matchLabels"), pod_labels)
           and o["metadata"]["name"] == service]
    if not nps:
        problems.append(f"{where}: no NetworkPolicy named {service} selecting its pods")
    else:
        np = nps[0]["spec"]
        if sorted(np.get("policyTypes") or []) != ["Egress", "Ingress"]:
            problems.append(f"NetworkPolicy {service}: must govern both Ingress and Egress")
        ingress_ports = {p.get("port") for rule in np.get("ingress") or [] for p in rule.get("ports") or []}
        if ingress_ports != {port}:
            problems.append(f"NetworkPolicy {service}: must let in port {port} only, not {sorted(ingress_ports)}")
    return problems


def structural_problems(model):
    """model: objects (applied), secret_objects (documented), kustomization, helm_values, doc."""
    objects = model["objects"]
    secrets = documented_secrets(model["secret_objects"])
    problems = []
    if not secrets:
        problems.append("secrets.example.yaml documents no Secret")
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    for dep in deployments:
        problems += deployment_problems(dep, objects, secrets)
    for service in PORTS:
        if not any(d["metadata"]["name"] == service for d in deployments):
            problems.append(f"no Deployment for the {service} service")
    if any(o.get("kind") == "Secret" for o in objects):
        problems.append("a Secret among the applied manifests; secrets go in secrets.example.yaml (documented, not applied)")
    deny = [o for o in objects if o.get("kind") == "NetworkPolicy" and o["spec"].get("podSelector") == {}
            and not o["spec"].get("ingress") and not o["spec"].get("egress")
            and sorted(o["spec"].get("policyTypes") or []) == ["Egress", "Ingress"]]
    if not deny:
        problems.append("no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rule)")
    common = [o for o in objects if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == "groundwork-common"]
    if not common:
        problems.append("no ConfigMap groundwork-common")
    else:
        data = common[0].get("data") or {}
        urls = [u for u in data.get("NATS_URL", "").split(",") if u]
        if len(urls) < 3:
            problems.append("groundwork-common: NATS_URL must name every node of the three-node cluster, comma separated")
        if data.get("GROUNDWORK_STREAM_REPLICAS") != "3":
            problems.append("groundwork-common: GROUNDWORK_STREAM_REPLICAS must be \"3\" (R3 on the cluster)")

    # The kustomization applies every manifest of its directory but the documented secrets.
    listed = set(model["kustomization"].get("resources") or [])
    top = {p.name for p in model["top_files"]}
    if "secrets.example.yaml" in listed:
        problems.append("kustomization.yaml applies secrets.example.yaml (it would overwrite the real Secrets with empty ones)")
    missing = top - listed - {"secrets.example.yaml"}
    if missing:
        problems.append(f"kustomization.yaml does not list {sorted(missing)}")
    unknown = listed - top
    if unknown:
        problems.append(f"kustomization.yaml lists files that do not exist: {sorted(unknown)}")

    # The NATS chart's values: a cluster of three with JetStream on file storage.
    cfg = (model["helm_values"] or {}).get("config") or {}
    cluster = cfg.get("cluster") or {}
    js = cfg.get("jetstream") or {}
    if not (cluster.get("enabled") is True and cluster.get("replicas") == 3):
        problems.append("nats/values.yaml: config.cluster must be enabled with replicas: 3")
    if not (js.get("enabled") is True and (js.get("fileStore") or {}).get("enabled") is True):
        problems.append("nats/values.yaml: config.jetstream must be enabled with fileStore")

    # The document: every Secret explained, every variable real.
    doc = model["doc"]
    for name in secrets:
        if name not in doc:
            problems.append(f"docs/DEPLOYMENT.md does not say how to make Secret {name}")
    real = env_read_by_anyone()
    for var in sorted(set(re.findall(r"\b(?:GROUNDWORK|NATS)_[A-Z0-9_]*[A-Z0-9]\b", doc))):
        if var not in real:
            problems.append(f"docs/DEPLOYMENT.md names {var}, which no service or the CLI reads")
    return problems


# ---------------------------------------------------------------------------------------------
# The check's own test: broken copies must be caught.


def find(model, kind, name):
    return next(o for o in model["objects"] if o.get("kind") == kind and o["metadata"]["name"] == name)


def container(model, name):
    return find(model, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def self_test(model, deployment_sample):
    def drop_liveness(m):
        del container(m, "eventbus")["livenessProbe"]

    def foreign_env(m):
        container(m, "identity")["env"].append({"name": "GROUNDWORK_EVENTBUS__CONCURRENCY", "value": "8"})

    def one_orchestrator(m):
        find(m, "Deployment", "orchestrator")["spec"]["replicas"] = 1

    def shared_replica_id(m):
        for e in container(m, "orchestrator")["env"]:
            if e["name"] == "GROUNDWORK_ORCHESTRATOR__REPLICA_ID":
                e.pop("valueFrom", None)
                e["value"] = "orchestrator"

    def writable_root(m):
        container(m, "budget")["securityContext"]["readOnlyRootFilesystem"] = False

    def borrowed_nkey(m):
        for e in container(m, "alerting")["env"]:
            if e["name"] == "NATS_NKEY":
                e["value"] = "/secrets/nats/eventbus.nk"

    def undocumented_key(m):
        vol = find(m, "Deployment", "orchestrator")["spec"]["template"]["spec"]["volumes"]
        next(v for v in vol if v["name"] == "tls")["secret"]["items"] = [{"key": "tls.crt", "path": "server.pem"}]

    def no_limits(m):
        del container(m, "eventbus")["resources"]["limits"]

    def insecure(m):
        container(m, "identity")["env"].append({"name": "GROUNDWORK_INSECURE", "value": "true"})

    # Each breaker with a fragment the problem it causes must mention.
    structural = [(drop_liveness, "livenessProbe is missing"),
                  (foreign_env, "GROUNDWORK_EVENTBUS__CONCURRENCY is not read by the identity service"),
                  (one_orchestrator, "runs 1 replica(s); two or more"),
                  (shared_replica_id, "REPLICA_ID must be the pod's name"),
                  (writable_root, "readOnlyRootFilesystem"),
                  (borrowed_nkey, "own identity, alerting.nk"),
                  (undocumented_key, "tls.crt, which Secret groundwork-tls does not document"),
                  (no_limits, "resources.limits.cpu is missing"),
                  (insecure, "GROUNDWORK_INSECURE")]
    missed = []
    for breaker, expected in structural:
        broken = copy.deepcopy(model)
        breaker(broken)
        if not any(expected in p for p in structural_problems(broken)):
            missed.append(breaker.__name__)

    # Schema breakers on one Deployment: a misspelt field, a wrong type, a retired apiVersion.
    def misspelt(d):
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    def wrong_type(d):
        d["spec"]["replicas"] = "two"

    def retired_api(d):
        d["apiVersion"] = "extensions/v1beta1"

    schema = [(misspelt, "'imagePullPolicyy' was unexpected"),
              (wrong_type, "spec.replicas"),
              (retired_api, "extensions/v1beta1")]
    for breaker, expected in schema:
        broken = copy.deepcopy(deployment_sample)
        breaker(broken[1])
        found = schema_problems([broken])
        # Caught for every version checked, each for the expected reason.
        if len(found) != len(KUBERNETES_VERSIONS) or not all(expected in p for p in found):
            missed.append(breaker.__name__)
    return len(structural) + len(schema), missed


def main():
    if not KDIR.is_dir():
        print(f"check-kubernetes: {KDIR} is missing", file=sys.stderr)
        return 1
    objects = []  # (source, object)
    for path in manifest_paths():
        try:
            for obj in load_all(path):
                objects.append((str(path.relative_to(ROOT)), obj))
        except yaml.YAMLError as e:
            print(f"{path.relative_to(ROOT)}: not YAML: {e}", file=sys.stderr)
            return 1
    applied = [o for s, o in objects if not s.endswith("secrets.example.yaml") and "/nats/" not in s]
    model = {
        "objects": applied,
        "secret_objects": load_all(SECRETS_FILE),
        "kustomization": yaml.safe_load((KDIR / "kustomization.yaml").read_text()) or {},
        "top_files": [p for p in manifest_paths() if p.parent == KDIR],
        "helm_values": yaml.safe_load(HELM_VALUES.read_text()),
        "doc": DOC.read_text() if DOC.exists() else "",
    }
    problems = schema_problems(objects) + structural_problems(model)
    for p in problems:
        print(f"check-kubernetes: {p}", file=sys.stderr)
    if problems:
        return 1
    sample = next((s, o) for s, o in objects if o.get("kind") == "Deployment")
    tried, missed = self_test(model, sample)
    if missed:
        print(f"check-kubernetes: its self-test broke manifests in ways it did not catch: {missed}", file=sys.stderr)
        return 1
    print(f"    {len(objects)} objects in {len(manifest_paths())} files valid against Kubernetes "
          f"{' and '.join(KUBERNETES_VERSIONS)} (kubernetes-validate {KV_VERSION}, strict); "
          f"structural checks passed; {tried} deliberately broken copies all caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
