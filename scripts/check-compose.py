"""Structural check of docker-compose.yml where no Docker engine runs.

`docker compose config -q` is the real check and runs where Docker exists; this one checks what
the stack relies on: every service has an image or a build, health checks exist, depends_on
conditions name services with health checks, service ports match the documented defaults, and
every Groundwork service runs a binary the workspace builds. It also checks what makes the file work
with the Compose versions people have: no top-level `name:` (Compose v1 rejects it), one `build:`
for the shared image, a `setup` that `docker compose up --wait` understands, and a Dockerfile the
classic builder can build, with stripped binaries.

Two profiles: `single` (the default, through `.env`'s COMPOSE_PROFILES) and `cluster`, checked
by `check_cluster`: three NATS nodes with their own configuration and store, written by the
one-shot `cluster-secrets`, and two replicas of each service given every node's URL.
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PORTS = {"eventbus": 50051, "identity": 50052, "budget": 50053, "alerting": 50054, "orchestrator": 50055}
NODES = ("nats-1", "nats-2", "nats-3")
# Serve both profiles.
SHARED = ("secrets", "moto")


def fail(message):
    print(f"docker-compose.yml: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc.get("services") or fail("no services")
    for required in ("nats", "moto", "eventbus"):
        if required not in services:
            fail(f"service '{required}' is missing")
    members = (ROOT / "Cargo.toml").read_text()
    for name, svc in services.items():
        if not (svc.get("image") or svc.get("build")):
            fail(f"service '{name}' has neither image nor build")
        if "healthcheck" not in svc and svc.get("restart") != "no":
            fail(f"service '{name}' has no healthcheck")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep not in services:
                fail(f"service '{name}' depends on unknown service '{dep}'")
            if cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                fail(f"'{name}' waits for '{dep}' to be healthy, but '{dep}' has no healthcheck")
        if name in PORTS:
            port = PORTS[name]
            if not any(str(p).endswith(f":{port}") for p in svc.get("ports", [])):
                fail(f"service '{name}' does not publish its documented port {port}")
            env = svc.get("environment") or {}
            if env.get(f"GROUNDWORK_{name.upper()}__LISTEN") != f"0.0.0.0:{port}":
                fail(f"service '{name}' must listen on 0.0.0.0:{port} inside its container")
            if f'"services/{name}"' not in members:
                fail(f"service '{name}' runs a binary that is not a workspace member")
    nats_cmd = " ".join(services["nats"].get("command", []))
    if "-js" not in nats_cmd:
        fail("nats must run with JetStream (-js)")
    # Secure by default: NATS runs with the generated configuration (no anonymous access,
    # per-identity permissions), made first by the one-shot `secrets` service.
    if "-c /secrets/nats/nats-server.conf" not in nats_cmd:
        fail("nats must run with the generated configuration (-c /secrets/nats/nats-server.conf)")
    init = services.get("secrets") or fail("service 'secrets' (the stack's secrets) is missing")
    if "secrets init" not in " ".join(init.get("command", [])):
        fail("service 'secrets' must run `groundwork secrets init`")
    if (services["nats"].get("depends_on") or {}).get("secrets", {}).get("condition") != "service_completed_successfully":
        fail("nats must wait for 'secrets' to complete")
    for name in PORTS:
        env = services[name].get("environment") or {}
        if env.get("NATS_NKEY") != f"/secrets/nats/{name}.nk":
            fail(f"service '{name}' must connect to NATS with its own identity (NATS_NKEY=/secrets/nats/{name}.nk)")
        if not any(str(v).startswith("secrets:/secrets") for v in services[name].get("volumes", [])):
            fail(f"service '{name}' must mount the secrets volume")
        # gRPC: the operator token required, TLS served, no insecure opt-in.
        for key, value in (("GROUNDWORK_API_TOKEN_FILE", "/secrets/api-token"),
                           ("GROUNDWORK_TLS_CERT", "/secrets/tls/server.pem"),
                           ("GROUNDWORK_TLS_KEY", "/secrets/tls/server.key")):
            if env.get(key) != value:
                fail(f"service '{name}' must run with {key}={value}")
        if str(env.get("GROUNDWORK_INSECURE", "false")).lower() not in ("false", "0", ""):
            fail(f"service '{name}' runs with GROUNDWORK_INSECURE")
    for name, svc in services.items():
        if "nats://" in str(svc.get("environment", {}).get("NATS_URL", "")) and "@" in svc["environment"]["NATS_URL"]:
            fail(f"service '{name}' has a NATS password in its URL; use NATS_NKEY")
    if "MOTO_IAM_LOAD_MANAGED_POLICIES" not in (services["moto"].get("environment") or {}):
        fail("moto must load the AWS managed policies")
    orchestrator_env = services["orchestrator"].get("environment") or {}
    if orchestrator_env.get("GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE") != "/secrets/one-time-secrets.key":
        fail("the orchestrator must seal one-time secrets with the key `groundwork secrets init` writes "
             "(GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE=/secrets/one-time-secrets.key)")
    # Compose v1 (docker-compose 1.29) rejects every top-level key but these and `x-*`.
    for key in doc:
        if key not in ("version", "services", "volumes", "networks", "secrets", "configs") and not key.startswith("x-"):
            fail(f"top-level '{key}' is rejected by Compose v1")
    # One build of the shared image: every other service that runs it names the image only.
    builds = [name for name, svc in services.items() if svc.get("build")]
    if len(builds) != 1:
        fail(f"the image is built by {len(builds)} services ({', '.join(builds) or 'none'}); exactly one must build it")
    image = services[builds[0]].get("image")
    for name, svc in services.items():
        if name not in builds and svc.get("image") == image and svc.get("build"):
            fail(f"service '{name}' builds {image} again")
    # `up --wait` fails on a container that exits unless others wait for it to complete; a
    # one-shot nothing depends on must stay up with a healthcheck instead.
    awaited = {dep for svc in services.values() for dep, cond in (svc.get("depends_on") or {}).items()
               if cond.get("condition") == "service_completed_successfully"}
    for name, svc in services.items():
        if svc.get("restart") == "no" and name not in awaited and "healthcheck" not in svc:
            fail(f"one-shot service '{name}' has no healthcheck and nothing waits for it: `docker compose up --wait` fails when it exits")
    dockerfile = (ROOT / "Dockerfile").read_text()
    if "--mount=" in dockerfile:
        fail("Dockerfile: RUN --mount needs BuildKit; the classic builder refuses it")
    if "strip" not in dockerfile:
        fail("Dockerfile: the release binaries must be stripped (debug info makes the image several times larger)")
    check_cluster(services)
    print(f"docker-compose.yml: {len(services)} services in two profiles, structure ok")


def host_port(mapping):
    """The default host port of a `127.0.0.1:${VAR:-PORT}:TARGET` mapping."""
    text = str(mapping)
    default = text.split(":-", 1)[1].split("}", 1)[0] if ":-" in text else text.split(":")[-2]
    return int(default)


def check_cluster(services):
    env_file = ROOT / ".env"
    if "COMPOSE_PROFILES=single" not in (env_file.read_text() if env_file.exists() else ""):
        fail(".env must set COMPOSE_PROFILES=single: `docker compose up` runs the single-server profile")
    for name, svc in services.items():
        profiles = svc.get("profiles") or []
        if name in SHARED:
            if profiles:
                fail(f"'{name}' serves both profiles: it must have none")
        elif profiles not in (["single"], ["cluster"]):
            fail(f"service '{name}' must be in exactly one profile, single or cluster (it has {profiles})")
    for profile in ("single", "cluster"):
        members = [n for n, s in services.items() if n in SHARED or s.get("profiles") == [profile]]
        for name in members:
            for dep in services[name].get("depends_on") or {}:
                if dep not in members:
                    fail(f"'{name}' (profile {profile}) depends on '{dep}', which that profile does not run")
        published = {}
        for name in members:
            for mapping in services[name].get("ports", []):
                port = host_port(mapping)
                if port in published:
                    fail(f"profile {profile}: '{name}' and '{published[port]}' publish host port {port}")
                published[port] = name
    init = services.get("cluster-secrets") or fail("profile cluster: service 'cluster-secrets' is missing")
    command = init.get("command", [])
    if "secrets init" not in " ".join(command) or "--nats-cluster" not in command:
        fail("'cluster-secrets' must run `groundwork secrets init --nats-cluster ...`")
    named = command[command.index("--nats-cluster") + 1].split(",")
    if tuple(named) != NODES:
        fail(f"'cluster-secrets' configures nodes {named}, the profile runs {list(NODES)}")
    if (init.get("depends_on") or {}).get("secrets", {}).get("condition") != "service_completed_successfully":
        fail("'cluster-secrets' must wait for 'secrets' to complete (it adds to what that one writes)")
    stores = set()
    for node in NODES:
        svc = services.get(node) or fail(f"profile cluster: NATS node '{node}' is missing")
        cmd = " ".join(svc.get("command", []))
        if f"-c /secrets/nats/cluster/{node}.json" not in cmd:
            fail(f"'{node}' must run with its own configuration (-c /secrets/nats/cluster/{node}.json)")
        store = next((v.split(":")[0] for v in svc.get("volumes", []) if str(v).endswith(":/data")), None)
        if not store or store in stores:
            fail(f"'{node}' needs a store volume of its own on /data")
        stores.add(store)
        if (svc.get("depends_on") or {}).get("cluster-secrets", {}).get("condition") != "service_completed_successfully":
            fail(f"'{node}' must wait for 'cluster-secrets' to complete")
        probe = " ".join(svc.get("healthcheck", {}).get("test", []))
        if "/healthz" not in probe or "js-enabled-only" in probe:
            fail(f"'{node}' must be healthy only once its JetStream is current (/healthz, not js-enabled-only)")
    every_node = ",".join(f"nats://{n}:4222" for n in NODES)
    replica_ids = set()
    for service, port in PORTS.items():
        for k in (1, 2):
            name = f"{service}-{k}"
            svc = services.get(name) or fail(f"profile cluster: replica '{name}' is missing")
            env = svc.get("environment") or {}
            single_env = services[service].get("environment") or {}
            if env.get("NATS_URL") != every_node:
                fail(f"'{name}' must be given every node's URL (NATS_URL={every_node})")
            if str(env.get("GROUNDWORK_STREAM_REPLICAS")) != "3":
                fail(f"'{name}' must keep streams three times (GROUNDWORK_STREAM_REPLICAS=3)")
            # The same settings as the single profile's service but for NATS and replicas.
            for key, value in single_env.items():
                if key not in ("NATS_URL",) and env.get(key) != value:
                    fail(f"'{name}' differs from '{service}' in {key}")
            aliases = ((svc.get("networks") or {}).get("default") or {}).get("aliases") or []
            if service not in aliases:
                fail(f"'{name}' must answer to '{service}' (a network alias: the server certificate names it)")
            if not any(str(p).endswith(f":{port}") for p in svc.get("ports", [])):
                fail(f"'{name}' does not publish its port {port}")
            if svc.get("command") != services[service].get("command") or "healthcheck" not in svc:
                fail(f"'{name}' must run what '{service}' runs, with its healthcheck")
            if service == "orchestrator":
                replica_ids.add(env.get("GROUNDWORK_ORCHESTRATOR__REPLICA_ID"))
    if len(replica_ids - {None}) != 2:
        fail("each orchestrator replica needs a replica id of its own (GROUNDWORK_ORCHESTRATOR__REPLICA_ID)")
    setup = services.get("cluster-setup") or fail("profile cluster: 'cluster-setup' is missing")
    if setup.get("command") != services["setup"].get("command") or "healthcheck" not in setup:
        fail("'cluster-setup' must apply as 'setup' does, with its healthcheck")


if __name__ == "__main__":
    main()
