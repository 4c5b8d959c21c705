"""Structural check of docker-compose.yml where no Docker engine runs.

`docker compose config -q` is the real check and runs where Docker exists; this one checks what
the stack relies on: every service has an image or a build, health checks exist, depends_on
conditions name services with health checks, service ports match the documented defaults, and
every Groundwork service runs a binary the workspace builds. It also checks what makes the file work
with the Compose versions people have: no top-level `name:` (Compose v1 rejects it), one `build:`
for the shared image, a `setup` that `docker compose up --wait` understands, and a Dockerfile the
classic builder can build, with stripped binaries.
"""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PORTS = {"eventbus": 50051, "identity": 50052, "budget": 50053, "alerting": 50054, "orchestrator": 50055}


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
    print(f"docker-compose.yml: {len(services)} services, structure ok")


if __name__ == "__main__":
    main()
