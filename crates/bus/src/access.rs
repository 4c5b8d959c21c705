//! Who may do what on NATS. Every Groundwork process connects with its own NATS identity,
//! and each identity may publish and subscribe only where its job needs it:
//!
//! - the event bus owns the bus: it alone writes to bus streams and manages streams,
//!   consumers and the rules bucket;
//! - identity, budget, alerting and the orchestrator emit their own events through
//!   `groundwork.events.emit.<service>.<bus>` (the event bus stores only the sources the
//!   service owns, see [`Principal::owned_sources`]) and read and write their own KV
//!   bucket and durable consumer, nothing else;
//! - `events` is for other programs: PutEvents requests on the ingress subjects and their
//!   replies, nothing else (no JetStream, no bus stream, no bucket);
//! - `admin` is the operator's own identity (the `nats` CLI), with every permission.
//!
//! Services receive replies on their own inbox prefix (`_INBOX_<service>.`), so no other
//! identity can subscribe to what JetStream answers them (KV values, run records).
//!
//! [`server_config`] writes the nats-server configuration (JSON, which nats-server reads)
//! with these permissions; [`LocalCredentials`] generates one nkey per identity for the
//! local stack and the tests. The table in docs/SECURITY.md is [`markdown_table`].

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use groundwork_events::catalog::sources;
use serde_json::{Value, json};

use crate::names;

/// A NATS identity of Groundwork.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    EventBus,
    Identity,
    Budget,
    Alerting,
    Orchestrator,
    /// Other programs' event producers.
    Events,
    /// The operator (every permission).
    Admin,
}

/// Subjects one identity may publish and subscribe to (allow lists; `>` is everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl Principal {
    pub const ALL: [Principal; 7] = [
        Principal::EventBus,
        Principal::Identity,
        Principal::Budget,
        Principal::Alerting,
        Principal::Orchestrator,
        Principal::Events,
        Principal::Admin,
    ];

    /// The identity's name: the service's name, `events` or `admin`.
    pub fn name(self) -> &'static str {
        match self {
            Principal::EventBus => "eventbus",
            Principal::Identity => "identity",
            Principal::Budget => "budget",
            Principal::Alerting => "alerting",
            Principal::Orchestrator => "orchestrator",
            Principal::Events => "events",
            Principal::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// What the identity is for, as the docs say it.
    pub fn description(self) -> &'static str {
        match self {
            Principal::EventBus => "the event bus: owns the bus streams, consumers and rules",
            Principal::Identity => "the identity service",
            Principal::Budget => "the budget service",
            Principal::Alerting => "the alerting service",
            Principal::Orchestrator => "the orchestrator",
            Principal::Events => "other programs that put events (PutEvents on the ingress)",
            Principal::Admin => "the operator (`nats` CLI): every permission",
        }
    }

    /// The inbox prefix the identity's client uses for replies. Services have their own,
    /// so that no other identity may read what JetStream answers them; `events` and
    /// `admin` keep the standard `_INBOX` that every NATS client uses.
    pub fn inbox_prefix(self) -> String {
        match self {
            Principal::Events | Principal::Admin => "_INBOX".to_owned(),
            other => format!("_INBOX_{}", other.name()),
        }
    }

    /// The event sources the identity may emit through its emit subject; the first is its
    /// own, which its `Emitter` stamps on its events. Customers'
    /// producers (`events`, PutEvents over gRPC) may use neither `aws.*` nor
    /// `groundwork.*`.
    pub fn owned_sources(self) -> &'static [&'static str] {
        match self {
            // Every service records its own API calls (the event bus checks that an audit
            // record names the sender's own gRPC service).
            Principal::EventBus => &[sources::AUDIT],
            Principal::Identity => &[sources::IDENTITY, sources::AUDIT],
            Principal::Budget => &[sources::BUDGET, sources::AUDIT],
            Principal::Alerting => &[sources::ALERTING, sources::AWS_CLOUDWATCH, sources::AUDIT],
            Principal::Orchestrator => &[sources::ORCHESTRATOR, sources::AUDIT],
            Principal::Events | Principal::Admin => &[],
        }
    }

    /// The gRPC service the identity serves, as audit records name it.
    pub fn grpc_service(self) -> Option<&'static str> {
        match self {
            Principal::EventBus => Some("groundwork.v1.EventBus"),
            Principal::Identity => Some("groundwork.v1.Identity"),
            Principal::Budget => Some("groundwork.v1.Budget"),
            Principal::Alerting => Some("groundwork.v1.Alerting"),
            Principal::Orchestrator => Some("groundwork.v1.Orchestrator"),
            Principal::Events | Principal::Admin => None,
        }
    }

    /// The subjects the identity may publish and subscribe to.
    pub fn permissions(self) -> Permissions {
        let inbox = format!("{}.>", self.inbox_prefix());
        let emit = format!("{}.{}.>", names::EMIT_PREFIX, self.name());
        let everything = || Permissions {
            publish: vec![">".into()],
            subscribe: vec![">".into()],
        };
        let service = |extra: Vec<String>| {
            let mut publish = vec![emit.clone()];
            // Two buckets both need `$JS.API.INFO`: each subject once, in first-seen order.
            for subject in extra {
                if !publish.contains(&subject) {
                    publish.push(subject);
                }
            }
            Permissions {
                publish,
                subscribe: vec![inbox.clone()],
            }
        };
        match self {
            Principal::EventBus | Principal::Admin => everything(),
            Principal::Identity => service(
                [
                    kv_bucket(names::IDENTITY_GUARDRAILS_BUCKET),
                    durable_consumer(
                        names::DELIVERIES_STREAM,
                        names::IDENTITY_KILL_SWITCH_CONSUMER,
                    ),
                ]
                .concat(),
            ),
            Principal::Budget => service(kv_bucket(names::BUDGET_WATCH_BUCKET)),
            Principal::Alerting => service(
                [
                    kv_bucket(names::ALERTING_WATCH_BUCKET),
                    durable_consumer(names::DELIVERIES_STREAM, names::ALERTING_NOTIFIER_CONSUMER),
                ]
                .concat(),
            ),
            Principal::Orchestrator => service(
                [
                    kv_bucket(names::RUNS_BUCKET),
                    kv_bucket(names::RUN_LEASES_BUCKET),
                    kv_bucket(names::ONE_TIME_SECRETS_BUCKET),
                    durable_consumer(
                        names::DELIVERIES_STREAM,
                        names::ORCHESTRATOR_RESUME_CONSUMER,
                    ),
                ]
                .concat(),
            ),
            Principal::Events => Permissions {
                publish: vec![names::INGRESS_ALL.to_owned()],
                subscribe: vec![inbox],
            },
        }
    }
}

/// What a client needs to open, read, write and watch one KV bucket (and create it when
/// it does not exist yet), and nothing of any other bucket or stream.
fn kv_bucket(bucket: &str) -> Vec<String> {
    let stream = format!("KV_{bucket}");
    vec![
        format!("$KV.{bucket}.>"),
        // Creating a bucket reads the account's JetStream limits first.
        "$JS.API.INFO".to_owned(),
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.STREAM.CREATE.{stream}"),
        // Raising a bucket's copies on a cluster (`streams::raise_replicas`).
        format!("$JS.API.STREAM.UPDATE.{stream}"),
        format!("$JS.API.STREAM.MSG.GET.{stream}"),
        format!("$JS.API.DIRECT.GET.{stream}"),
        format!("$JS.API.DIRECT.GET.{stream}.>"),
        // Watches and listings are ordered consumers the client creates and deletes.
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
        format!("$JS.API.CONSUMER.INFO.{stream}.>"),
        format!("$JS.API.CONSUMER.DELETE.{stream}.>"),
        format!("$JS.FC.{stream}.>"),
    ]
}

/// What a client needs to create (when missing) and read one named durable pull consumer
/// of a stream, and acknowledge its messages.
fn durable_consumer(stream: &str, consumer: &str) -> Vec<String> {
    vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.CONSUMER.INFO.{stream}.{consumer}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{consumer}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{consumer}.>"),
        format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{consumer}"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
        format!("$JS.ACK.{stream}.{consumer}.>"),
    ]
}

/// The user the routes between the nodes of a cluster authenticate as; its password is the
/// cluster's own secret ([`ClusterNode::route_password`]).
pub const ROUTE_USER: &str = "route";

/// One node of a nats-server cluster: on one host (`groundwork up --nats-cluster`, the
/// tests' clusters: everything on 127.0.0.1) or one per container (compose's `cluster`
/// profile: each listens on 0.0.0.0 and reaches the others by name).
#[derive(Debug, Clone)]
pub struct ClusterNode<'a> {
    /// Its server name, as stream info names a leader (`n0`, `n1`, …).
    pub name: &'a str,
    pub cluster: &'a str,
    /// The address it listens on for clients and routes.
    pub host: &'a str,
    pub client_port: u16,
    pub route_port: u16,
    pub store_dir: &'a Path,
    /// The route address (`host:port`) of every node, this one included (a node ignores its
    /// own), so that any majority can form and a restarted node finds the others by itself.
    pub routes: &'a [String],
    pub route_password: &'a str,
}

/// The configuration of `node`: the users and permissions of [`server_config`] (`base`, its
/// JSON text) with the node's name, its client and route addresses, its JetStream store,
/// and its routes. It holds the route password: write it 0600.
pub fn cluster_node_config(
    base: &str,
    node: &ClusterNode<'_>,
) -> Result<String, serde_json::Error> {
    let mut config: Value = serde_json::from_str(base)?;
    let password = node.route_password;
    let routes: Vec<String> = node
        .routes
        .iter()
        .map(|route| format!("nats-route://{ROUTE_USER}:{password}@{route}"))
        .collect();
    let host = node.host;
    config["server_name"] = json!(node.name);
    config["listen"] = json!(format!("{host}:{}", node.client_port));
    config["jetstream"] = json!({"store_dir": node.store_dir});
    config["cluster"] = json!({
        "name": node.cluster,
        "listen": format!("{host}:{}", node.route_port),
        "authorization": {"user": ROUTE_USER, "password": password},
        "routes": routes,
        "connect_retries": 120,
    });
    serde_json::to_string_pretty(&config)
}

/// The largest message NATS accepts, set explicitly in the server configuration: a
/// PutEvents request of ten entries of 256 KiB in all, with room for its JSON.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// The nats-server configuration (JSON) for `users` (each identity with the public key of
/// its nkey): anonymous clients are refused, each user gets [`Principal::permissions`].
/// Listen address, store and logging stay command-line flags.
pub fn server_config(users: &[(Principal, String)]) -> String {
    let users: Vec<Value> = users
        .iter()
        .map(|(principal, public_key)| {
            let p = principal.permissions();
            json!({
                "nkey": public_key,
                "permissions": {
                    "publish": {"allow": p.publish},
                    "subscribe": {"allow": p.subscribe},
                },
            })
        })
        .collect();
    let config = json!({
        "max_payload": MAX_PAYLOAD,
        "authorization": {"users": users},
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// The permission table (Markdown), as docs/SECURITY.md shows it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| identity | for | may publish | may subscribe | may emit sources |\n|---|---|---|---|---|\n",
    );
    let cell = |items: &[String]| {
        items
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for p in Principal::ALL {
        let perms = p.permissions();
        let owned: Vec<String> = p.owned_sources().iter().map(|s| (*s).to_owned()).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            p.name(),
            p.description(),
            cell(&perms.publish),
            cell(&perms.subscribe),
            if owned.is_empty() {
                "—".to_owned()
            } else {
                cell(&owned)
            },
        );
    }
    out
}

/// Why credentials could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} does not hold an nkey seed")]
    BadSeed { path: PathBuf },
}

/// One nkey per identity, as seed files (`<name>.nk`, mode 0600) in a directory (mode
/// 0700) that only the person running the stack can read. Made once and reused, so a
/// restart keeps the same credentials.
#[derive(Debug, Clone)]
pub struct LocalCredentials {
    dir: PathBuf,
}

/// The name of the nats-server configuration [`LocalCredentials::write_server_config`]
/// writes.
pub const SERVER_CONFIG_FILE: &str = "nats-server.conf";

impl LocalCredentials {
    /// Makes the directory and any seed that is missing.
    pub fn ensure(dir: impl Into<PathBuf>) -> Result<Self, AccessError> {
        let dir = dir.into();
        private_dir(&dir)?;
        let creds = Self { dir };
        for p in Principal::ALL {
            let path = creds.seed_file(p);
            if path.exists() {
                continue;
            }
            let pair = nkeys::KeyPair::new_user();
            let seed = pair
                .seed()
                .map_err(|_| AccessError::BadSeed { path: path.clone() })?;
            write_private(&path, seed.as_bytes())?;
        }
        Ok(creds)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The seed file of `principal` (what `NATS_NKEY` names).
    pub fn seed_file(&self, principal: Principal) -> PathBuf {
        self.dir.join(format!("{}.nk", principal.name()))
    }

    /// The public key of `principal`'s nkey.
    pub fn public_key(&self, principal: Principal) -> Result<String, AccessError> {
        let path = self.seed_file(principal);
        let seed = read_seed(&path)?;
        let pair = nkeys::KeyPair::from_seed(&seed).map_err(|_| AccessError::BadSeed { path })?;
        Ok(pair.public_key())
    }

    /// Writes the nats-server configuration for every identity next to the seeds and
    /// returns its path.
    pub fn write_server_config(&self) -> Result<PathBuf, AccessError> {
        let users = Principal::ALL
            .into_iter()
            .map(|p| Ok((p, self.public_key(p)?)))
            .collect::<Result<Vec<_>, AccessError>>()?;
        let path = self.dir.join(SERVER_CONFIG_FILE);
        write_private(&path, server_config(&users).as_bytes())?;
        Ok(path)
    }
}

/// Reads an nkey seed file (surrounding whitespace ignored).
pub fn read_seed(path: &Path) -> Result<String, AccessError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccessError::Io {
        what: "cannot read the nkey seed",
        path: path.to_owned(),
        source,
    })?;
    let seed = text.trim();
    if !seed.starts_with('S') {
        return Err(AccessError::BadSeed {
            path: path.to_owned(),
        });
    }
    Ok(seed.to_owned())
}

/// Creates `dir` (and its parents) readable only by its owner (kit's secrets layout).
fn private_dir(dir: &Path) -> Result<(), AccessError> {
    groundwork_kit::secrets::ensure_private_dir(dir).map_err(|source| AccessError::Io {
        what: "cannot create the directory",
        path: dir.to_owned(),
        source,
    })
}

/// Writes `contents` to a file only its owner can read (mode 0600 from creation on).
fn write_private(path: &Path, contents: &[u8]) -> Result<(), AccessError> {
    groundwork_kit::secrets::write_private(path, contents).map_err(|source| AccessError::Io {
        what: "cannot write",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn services_publish_only_under_their_own_emit_subject_and_read_only_their_inbox() {
        let identity = Principal::Identity.permissions();
        assert_eq!(identity.publish[0], "groundwork.events.emit.identity.>");
        assert_eq!(identity.subscribe, vec!["_INBOX_identity.>"]);
        // The kill switch: its own bucket and its own consumer of DELIVERIES, nothing more.
        assert!(
            identity
                .publish
                .contains(&"$JS.ACK.DELIVERIES.identity-kill-switch.>".to_owned())
        );
        assert!(
            identity
                .publish
                .contains(&"$KV.identity-guardrails.>".to_owned())
        );
        for p in [
            Principal::Identity,
            Principal::Budget,
            Principal::Alerting,
            Principal::Orchestrator,
        ] {
            let perms = p.permissions();
            for subject in perms.publish.iter().chain(&perms.subscribe) {
                assert!(
                    !subject.starts_with("groundwork.bus")
                        && !subject.contains("eventbus-rules")
                        && !subject.contains("STREAM.DELETE")
                        && subject != ">"
                        && subject != "$JS.API.>",
                    "{} may {subject}",
                    p.name()
                );
            }
        }
        let events = Principal::Events.permissions();
        assert_eq!(events.publish, vec!["groundwork.events.put.>"]);
    }

    #[test]
    fn only_the_owner_emits_a_source() {
        let owners = |source: &str| {
            Principal::ALL
                .into_iter()
                .filter(|p| p.owned_sources().contains(&source))
                .map(Principal::name)
                .collect::<Vec<_>>()
        };
        assert_eq!(owners("groundwork.identity"), ["identity"]);
        assert_eq!(owners("aws.cloudwatch"), ["alerting"]);
        assert!(owners("aws.iam").is_empty());
    }

    #[test]
    fn credentials_are_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let creds = LocalCredentials::ensure(dir.path().join("nats")).unwrap();
        let before = creds.public_key(Principal::Identity).unwrap();
        assert!(before.starts_with('U'));
        let again = LocalCredentials::ensure(dir.path().join("nats")).unwrap();
        assert_eq!(again.public_key(Principal::Identity).unwrap(), before);
        let config = creds.write_server_config().unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed["authorization"]["users"].as_array().unwrap().len(),
            7
        );
        // Only public keys go into the server configuration.
        assert!(!text.contains(&read_seed(&creds.seed_file(Principal::Identity)).unwrap()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(creds.dir()), 0o700);
            assert_eq!(mode(&creds.seed_file(Principal::Admin)), 0o600);
            assert_eq!(mode(&config), 0o600);
        }
    }
}
