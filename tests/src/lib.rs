//! End-to-end tests of the Groundwork stack; the helpers that start it live here.
//!
//! [`Stack::start`] starts a real nats-server and a real moto_server (the sandbox AWS) through
//! testkit, then the five services in-process through their `serve` functions on
//! 127.0.0.1:0 — eventbus, identity, budget, alerting, orchestrator — wired to each other
//! as in the local stack, with the sandbox AWS settings and the test credentials.
//!
//! Layout:
//! - [`Stack`]: the servers and services, gRPC clients, AWS clients straight to moto, the
//!   events stored on the bus.
//!   [`Stack::start_with_iam_user`] runs the services as an IAM user without permissions in
//!   a moto that enforces IAM.
//! - [`inbox`]: an SNS front for moto that keeps email subscriptions pending until they are
//!   confirmed, as AWS does (moto confirms every subscription at once), and holds the
//!   confirmation token AWS would email.
//! - [`two_consecutive_codes`] / [`otpauth_secret`]: what an authenticator app does.
//! - [`flow`]: following a run, doing what the person does, snapshots of the sandbox.
//! - [`eventually`]: polling with a deadline, never a fixed sleep.
//! - [`Security`]: the stack runs as it does after `groundwork up`: every service requires
//!   the operator token (a read-only token is accepted for reads) and serves TLS with a
//!   certificate of a local CA; [`Stack::channel`] is a client with both.

pub mod flow;
pub mod inbox;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use groundwork_cloud::AwsSettings;
use groundwork_kit::client::Target;
use groundwork_kit::tls::LocalTls;
use groundwork_kit::{CommonSettings, Shutdown};
use groundwork_proto::v1 as pb;
use groundwork_proto::v1::identity_client::IdentityClient;
use groundwork_proto::v1::orchestrator_client::OrchestratorClient;
use groundwork_testkit::{AccountPlan, AwsStandIn, MotoServer, NatsServer};
use tokio::task::JoinHandle;

/// A client channel to a service of the stack: TLS with the local CA, the token in every
/// call.
pub type Channel = groundwork_kit::client::Channel;

pub use inbox::Inbox;

/// The account moto answers for.
pub const ACCOUNT: &str = "123456789012";

/// The first-day spec every test applies.
pub const EXAMPLE_SPEC: &str = include_str!("../../examples/groundwork.toml");

/// Why the stack could not start (the tests report it and stop).
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> StartError + '_ {
    move |e| StartError(format!("{what}: {e}"))
}

/// The SDK configuration for `endpoint`, with the test credentials.
pub async fn sdk_for(endpoint: &str) -> SdkConfig {
    sdk_with(
        endpoint,
        Credentials::new("testing", "testing", None, None, "tests"),
    )
    .await
}

/// The SDK configuration for `endpoint`, with `credentials`.
pub async fn sdk_with(endpoint: &str, credentials: Credentials) -> SdkConfig {
    groundwork_cloud::config::load(&AwsSettings::sandbox(endpoint))
        .await
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

/// The IAM user whose access key [`Stack::aws`] holds when the sandbox enforces IAM: it has
/// `AdministratorAccess`, so that a test can look at and change the account.
pub const OPERATOR: &str = "e2e-operator";

/// The AWS calls [`create_iam_users`] makes, all of them in moto's window without
/// authentication (see [`MotoServer::start_with_auth`]).
const IAM_SETUP_CALLS: u32 = 5;

/// Creates [`OPERATOR`] with `AdministratorAccess` and `services_user` with no permission
/// at all, each with an access key; returns their credentials (operator, services).
async fn create_iam_users(
    open: &SdkConfig,
    services_user: &str,
) -> Result<(Credentials, Credentials), StartError> {
    let iam = aws_sdk_iam::Client::new(open);
    let mut keys = Vec::new();
    for (user, policy) in [
        (
            OPERATOR,
            Some("arn:aws:iam::aws:policy/AdministratorAccess"),
        ),
        (services_user, None),
    ] {
        iam.create_user()
            .user_name(user)
            .send()
            .await
            .map_err(|e| StartError(format!("CreateUser {user}: {e:?}")))?;
        if let Some(arn) = policy {
            iam.attach_user_policy()
                .user_name(user)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| StartError(format!("AttachUserPolicy {user}: {e:?}")))?;
        }
        let key = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|e| StartError(format!("CreateAccessKey {user}: {e:?}")))?;
        let key = key
            .access_key()
            .ok_or_else(|| StartError(format!("CreateAccessKey {user}: no key returned")))?;
        keys.push(Credentials::new(
            key.access_key_id(),
            key.secret_access_key(),
            None,
            None,
            "e2e-iam-user",
        ));
    }
    match <[Credentials; 2]>::try_from(keys) {
        Ok([operator, services]) => Ok((operator, services)),
        Err(_) => Err(StartError("two access keys were expected".into())),
    }
}

type Task = JoinHandle<()>;

/// The stack's tokens and TLS material, in a directory of its own (removed on drop).
#[derive(Debug)]
pub struct Security {
    dir: tempfile::TempDir,
    /// The local CA and the services' certificate.
    pub tls: LocalTls,
    /// The operator token every service requires.
    pub api_token: String,
    /// The read-only token every service accepts for calls that change nothing.
    pub read_only_token: String,
    /// The orchestrator's key that seals one-time secrets (not in NATS).
    pub one_time_secrets_key: PathBuf,
}

impl Security {
    /// New tokens and a new local CA.
    pub fn generate() -> Result<Self, StartError> {
        let dir = tempfile::tempdir().map_err(|e| err("secrets dir")(&e))?;
        let tls = groundwork_kit::tls::generate_local(&dir.path().join("tls"))
            .map_err(|e| err("local CA")(&e))?;
        let token = || groundwork_kit::secrets::new_token().map_err(|e| err("token")(&e));
        let one_time_secrets_key = groundwork_kit::secrets::LocalSecrets::at(dir.path())
            .ensure_one_time_secrets_key()
            .map_err(|e| err("one-time secrets key")(&e))?;
        Ok(Self {
            tls,
            api_token: token()?,
            read_only_token: token()?,
            one_time_secrets_key,
            dir,
        })
    }

    /// The directory holding the TLS material.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Makes a service's settings require the tokens and serve TLS, and its calls to the
    /// other services use both.
    pub fn apply(&self, common: &mut CommonSettings) {
        common.api_token = Some(self.api_token.clone());
        common.read_only_token = Some(self.read_only_token.clone());
        common.tls_cert = Some(self.tls.server_cert.clone());
        common.tls_key = Some(self.tls.server_key.clone());
        common.ca_file = Some(self.tls.ca_cert.clone());
    }

    /// The same, as environment variables for a service process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.display().to_string();
        vec![
            ("GROUNDWORK_API_TOKEN", self.api_token.clone()),
            ("GROUNDWORK_READ_ONLY_TOKEN", self.read_only_token.clone()),
            ("GROUNDWORK_TLS_CERT", path(&self.tls.server_cert)),
            ("GROUNDWORK_TLS_KEY", path(&self.tls.server_key)),
            ("GROUNDWORK_CA_FILE", path(&self.tls.ca_cert)),
            (
                "GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE",
                path(&self.one_time_secrets_key),
            ),
        ]
    }

    /// A target at `addr` over TLS with the local CA, sending `token`.
    pub fn target(&self, addr: SocketAddr, token: Option<&str>) -> Result<Target, StartError> {
        let tls = self.tls.client().map_err(|e| err("CA")(&e))?;
        Ok(Target::new(
            format!("https://{addr}"),
            token.map(str::to_owned),
            "the test stack",
        )
        .with_tls(Some(tls)))
    }
}

/// nats-server, moto_server and the five services, every one real.
#[derive(Debug)]
pub struct Stack {
    pub nats: NatsServer,
    pub moto: MotoServer,
    /// The front the services reach moto through (see [`inbox`]).
    pub inbox: Inbox,
    /// Between the front and moto, what moto lacks: the Free Tier API (a new account on
    /// the Free plan, 100 USD) and Budgets' actions (testkit's stand-in).
    pub standin: AwsStandIn,
    /// AWS straight to moto, to look at what the services did.
    pub aws: SdkConfig,
    pub eventbus: SocketAddr,
    pub identity: SocketAddr,
    pub budget: SocketAddr,
    pub alerting: SocketAddr,
    pub orchestrator: SocketAddr,
    /// The tokens and TLS every service requires.
    pub security: Security,
    orchestrator_process: Option<OrchestratorProcess>,
    /// More orchestrator replicas, as child processes, by address.
    more_orchestrators: Vec<(SocketAddr, OrchestratorProcess)>,
    shutdown: Shutdown,
    tasks: Vec<Task>,
}

fn spawn<E: std::fmt::Display + Send + 'static>(
    name: &'static str,
    fut: impl Future<Output = Result<(), E>> + Send + 'static,
) -> Task {
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            eprintln!("{name} stopped with an error: {e}");
        }
    })
}

/// The replica id in the run leases of the orchestrator process listening on `addr`
/// (the same id again when it is restarted, as a pod that keeps its name).
pub fn orchestrator_replica_id(addr: SocketAddr) -> String {
    format!("orchestrator-{}", addr.port())
}

/// The orchestrator as a child process (see `src/bin/e2e-orchestrator.rs`), which a test
/// can kill with SIGKILL and start again on the same port.
#[derive(Debug)]
pub struct OrchestratorProcess {
    binary: PathBuf,
    args: Vec<String>,
    /// The orchestrator's NATS credentials (`NATS_NKEY`).
    nkey: PathBuf,
    /// The stack's tokens and TLS (`Security::env`).
    env: Vec<(&'static str, String)>,
    log: PathBuf,
    child: Option<std::process::Child>,
}

impl OrchestratorProcess {
    fn spawn(&mut self) -> Result<(), StartError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| err("orchestrator log")(&e))?;
        let child = std::process::Command::new(&self.binary)
            .args(&self.args)
            .env("NATS_NKEY", &self.nkey)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                StartError(format!(
                    "cannot start {} ({e}); it is built with the tests (`cargo test -p groundwork-e2e`)",
                    self.binary.display()
                ))
            })?;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            groundwork_testkit::process::stop(&mut child);
        }
    }
}

impl Drop for OrchestratorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The variable that gives an orchestrator process its replica id.
const REPLICA_ID_VAR: &str = "GROUNDWORK_ORCHESTRATOR__REPLICA_ID";

/// The source of the audit trail's events.
const AUDIT_SOURCE: &str = "groundwork.audit";

/// How long the test stack's services wait for NATS before answering UNAVAILABLE.
const NATS_TIMEOUT_MS: u64 = 1500;

/// The orchestrator's settings in the test stack, in-process or as a child process: quick
/// retries, and the periodic check of waiting steps left at a minute, so that a waiting
/// step the test finishes is finished by the event the owning service publishes.
pub fn orchestrator_settings(
    common: groundwork_kit::CommonSettings,
    identity: &str,
    budget: &str,
    alerting: &str,
    eventbus: &str,
) -> groundwork_orchestrator::Settings {
    let mut s = groundwork_orchestrator::Settings::on(common, identity, budget, alerting);
    s.eventbus_url = eventbus.to_owned();
    s.common.nats_timeout_ms = NATS_TIMEOUT_MS;
    s.backoff_ms = 100;
    s.recheck_ms = 60_000;
    s
}

impl Stack {
    /// Starts everything, the orchestrator in-process, and waits until every service
    /// answers health checks.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(None, None, None).await
    }

    /// Starts everything, the orchestrator in-process holding one-time secrets for
    /// `ttl_secs` only (24 h otherwise), for tests of what happens when they expire.
    pub async fn start_with_secrets_ttl(ttl_secs: u64) -> Result<Self, StartError> {
        Self::start_with(None, None, Some(ttl_secs)).await
    }

    /// Starts everything, the orchestrator in-process, with a sandbox that enforces IAM as
    /// AWS does: the services' AWS credentials are those of the IAM user `services_user`,
    /// created with no permission at all, so every AWS call they make but
    /// `sts:GetCallerIdentity` is denied until a test grants it. [`Stack::aws`] holds the
    /// credentials of [`OPERATOR`], an administrator, for looking at and changing the
    /// account; the test credentials of [`sdk_for`] are refused by this sandbox.
    pub async fn start_with_iam_user(services_user: &str) -> Result<Self, StartError> {
        Self::start_with(None, Some(services_user), None).await
    }

    /// Starts everything with the orchestrator as a child process run from `binary`
    /// (`env!("CARGO_BIN_EXE_e2e-orchestrator")`), so that a test can kill it.
    pub async fn start_with_orchestrator_process(binary: &Path) -> Result<Self, StartError> {
        Self::start_with(Some(binary), None, None).await
    }

    async fn start_with(
        orchestrator_binary: Option<&Path>,
        services_user: Option<&str>,
        secrets_ttl_secs: Option<u64>,
    ) -> Result<Self, StartError> {
        let nats = NatsServer::start().map_err(|e| err("nats-server")(&e))?;
        let (moto, aws, front) = match services_user {
            None => {
                let moto = MotoServer::start().map_err(|e| err("moto_server")(&e))?;
                let aws = sdk_for(&moto.endpoint()).await;
                (moto, aws, None)
            }
            Some(user) => {
                let moto = MotoServer::start_with_auth(IAM_SETUP_CALLS)
                    .map_err(|e| err("moto_server")(&e))?;
                let (operator, services) =
                    create_iam_users(&sdk_for(&moto.endpoint()).await, user).await?;
                let aws = sdk_with(&moto.endpoint(), operator).await;
                (moto, aws, Some(services))
            }
        };
        let standin = AwsStandIn::start(&moto.endpoint(), AccountPlan::new_account())
            .map_err(|e| err("the AWS stand-in")(&e))?;
        let inbox = Inbox::start(standin.endpoint()).await?;
        // The services reach moto through the front (see [`inbox`]).
        let front = match front {
            None => sdk_for(&inbox.endpoint()).await,
            Some(credentials) => sdk_with(&inbox.endpoint(), credentials).await,
        };
        let shutdown = Shutdown::new();
        let mut tasks = Vec::new();
        let security = Security::generate()?;

        // The event bus: the default bus stream every service publishes to.
        let mut s = groundwork_eventbus::Settings::on(nats.settings_for("eventbus"));
        s.common.nats_timeout_ms = NATS_TIMEOUT_MS;
        security.apply(&mut s.common);
        let listener = groundwork_kit::grpc::bind(s.listen)
            .await
            .map_err(|e| err("bind")(&e))?;
        let eventbus = listener.local_addr().map_err(|e| err("addr")(&e))?;
        let client = groundwork_eventbus::connect(&s)
            .await
            .map_err(|e| err("eventbus NATS")(&e))?;
        tasks.push(spawn(
            "eventbus",
            groundwork_eventbus::serve(s, client, listener, shutdown.clone()),
        ));
        wait_ready(&security, eventbus, "eventbus").await?;

        // Identity.
        let mut s = groundwork_identity::Settings::on(nats.settings_for("identity"));
        s.common.nats_timeout_ms = NATS_TIMEOUT_MS;
        security.apply(&mut s.common);
        let listener = groundwork_kit::grpc::bind(s.listen)
            .await
            .map_err(|e| err("bind")(&e))?;
        let identity = listener.local_addr().map_err(|e| err("addr")(&e))?;
        let client = groundwork_identity::connect(&s)
            .await
            .map_err(|e| err("identity NATS")(&e))?;
        tasks.push(spawn(
            "identity",
            groundwork_identity::serve(
                s,
                groundwork_identity::Deps {
                    aws: front.clone(),
                    nats: client,
                },
                listener,
                shutdown.clone(),
            ),
        ));

        // Budget: moto does not implement DescribeSubscribersForNotification, and the
        // watcher has nothing to watch in a test.
        let mut s = groundwork_budget::Settings::on(nats.settings_for("budget"));
        s.common.nats_timeout_ms = NATS_TIMEOUT_MS;
        security.apply(&mut s.common);
        s.read_subscribers = false;
        s.watch_interval_secs = 0;
        let listener = groundwork_kit::grpc::bind(s.listen)
            .await
            .map_err(|e| err("bind")(&e))?;
        let budget = listener.local_addr().map_err(|e| err("addr")(&e))?;
        let client = groundwork_budget::connect(&s)
            .await
            .map_err(|e| err("budget NATS")(&e))?;
        tasks.push(spawn(
            "budget",
            groundwork_budget::serve(
                s,
                groundwork_budget::Deps {
                    aws: groundwork_budget::AwsClients::from_config(&front),
                    nats: client,
                },
                listener,
                shutdown.clone(),
            ),
        ));

        // Alerting: email subscriptions wait for a person (the front); its watchers look
        // every 200 ms, so that a confirmation becomes an event quickly.
        let mut s = groundwork_alerting::Settings::on(nats.settings_for("alerting"));
        s.common.nats_timeout_ms = NATS_TIMEOUT_MS;
        security.apply(&mut s.common);
        s.eventbus_url = format!("http://{eventbus}");
        s.poll_interval_ms = 200;
        let listener = groundwork_kit::grpc::bind(s.listen)
            .await
            .map_err(|e| err("bind")(&e))?;
        let alerting = listener.local_addr().map_err(|e| err("addr")(&e))?;
        let client = groundwork_alerting::connect(&s)
            .await
            .map_err(|e| err("alerting NATS")(&e))?;
        tasks.push(spawn(
            "alerting",
            groundwork_alerting::serve(
                s,
                groundwork_alerting::Deps {
                    aws: front,
                    nats: client,
                },
                listener,
                shutdown.clone(),
            ),
        ));

        for (addr, name) in [
            (identity, "identity"),
            (budget, "budget"),
            (alerting, "alerting"),
        ] {
            wait_ready(&security, addr, name).await?;
        }

        // The orchestrator (see `orchestrator_settings`).
        let mut orchestrator_process = None;
        let orchestrator = if let Some(binary) = orchestrator_binary {
            let port = groundwork_testkit::process::free_port()
                .map_err(|e| err("orchestrator port")(&e))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut process = OrchestratorProcess {
                binary: binary.to_owned(),
                args: vec![
                    nats.url(),
                    addr.to_string(),
                    format!("http://{identity}"),
                    format!("http://{budget}"),
                    format!("http://{alerting}"),
                    format!("http://{eventbus}"),
                ],
                nkey: nats.nkey_file("orchestrator"),
                env: security
                    .env()
                    .into_iter()
                    .chain([(REPLICA_ID_VAR, orchestrator_replica_id(addr))])
                    .collect(),
                log: std::env::temp_dir().join(format!("groundwork-e2e-orchestrator-{port}.log")),
                child: None,
            };
            process.spawn()?;
            orchestrator_process = Some(process);
            addr
        } else {
            let mut s = orchestrator_settings(
                nats.settings_for("orchestrator"),
                &format!("http://{identity}"),
                &format!("http://{budget}"),
                &format!("http://{alerting}"),
                &format!("http://{eventbus}"),
            );
            security.apply(&mut s.common);
            s.secrets_key_file = Some(security.one_time_secrets_key.clone());
            if let Some(ttl) = secrets_ttl_secs {
                s.secrets_ttl_secs = ttl;
            }
            let listener = groundwork_kit::grpc::bind(s.listen)
                .await
                .map_err(|e| err("bind")(&e))?;
            let addr = listener.local_addr().map_err(|e| err("addr")(&e))?;
            let client = groundwork_orchestrator::connect(&s)
                .await
                .map_err(|e| err("orchestrator NATS")(&e))?;
            tasks.push(spawn(
                "orchestrator",
                groundwork_orchestrator::serve(s, client, listener, shutdown.clone()),
            ));
            addr
        };
        wait_ready(&security, orchestrator, "orchestrator").await?;

        Ok(Self {
            nats,
            moto,
            inbox,
            standin,
            aws,
            eventbus,
            identity,
            budget,
            alerting,
            orchestrator,
            security,
            orchestrator_process,
            more_orchestrators: Vec::new(),
            shutdown,
            tasks,
        })
    }

    /// A channel to the service at `addr` with TLS and the operator token.
    pub async fn channel(&self, addr: SocketAddr) -> Channel {
        match self
            .channel_with(addr, Some(&self.security.api_token))
            .await
        {
            Ok(c) => c,
            Err(e) => unreachable_service(&addr.to_string(), &e),
        }
    }

    /// A channel to the service at `addr` with TLS, sending `token` (none: no token).
    pub async fn channel_with(
        &self,
        addr: SocketAddr,
        token: Option<&str>,
    ) -> Result<Channel, StartError> {
        let target = self.security.target(addr, token)?;
        groundwork_kit::client::connect(&target, "test service")
            .await
            .map_err(|e| err("connect")(&e))
    }

    pub async fn orchestrator(&self) -> OrchestratorClient<Channel> {
        OrchestratorClient::new(self.channel(self.orchestrator).await)
    }

    pub async fn identity(&self) -> IdentityClient<Channel> {
        IdentityClient::new(self.channel(self.identity).await)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.aws)
    }

    pub fn budgets(&self) -> aws_sdk_budgets::Client {
        aws_sdk_budgets::Client::new(&groundwork_cloud::config::billing(&self.aws))
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.aws)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.aws)
    }

    /// Every event of the services stored on the `default` bus, in order; the audit
    /// trail's API calls are in [`Stack::audit_trail`].
    pub async fn events(&self) -> Vec<serde_json::Value> {
        self.stored()
            .await
            .into_iter()
            .filter(|e| e["source"] != AUDIT_SOURCE)
            .collect()
    }

    /// The audit trail: the `Groundwork API Call` events on the `default` bus, in order.
    pub async fn audit_trail(&self) -> Vec<serde_json::Value> {
        self.stored()
            .await
            .into_iter()
            .filter(|e| e["source"] == AUDIT_SOURCE)
            .collect()
    }

    async fn stored(&self) -> Vec<serde_json::Value> {
        let Ok(client) = self.nats.admin().await else {
            return Vec::new();
        };
        match groundwork_testkit::events::stored(&jetstream::new(client), "EVENTS_default").await {
            Ok(events) => events,
            // A test helper: the bus stores events only.
            #[allow(clippy::panic)]
            Err(e) => panic!("{e}"),
        }
    }

    /// Every message of every JetStream stream (events, deliveries, dead letters, every KV
    /// bucket), as (stream, place, text): the payload, the subject and each header, for
    /// tests that look for what must not be there.
    pub async fn nats_texts(&self) -> Result<Vec<(String, String)>, StartError> {
        use futures::StreamExt;
        let nats = |e: &dyn std::fmt::Display| StartError(format!("NATS: {e}"));
        let client = self.nats.admin().await.map_err(|e| nats(&e))?;
        let js = jetstream::new(client);
        let mut names = js.stream_names();
        let mut streams = Vec::new();
        while let Some(name) = names.next().await {
            streams.push(name.map_err(|e| nats(&e))?);
        }
        let mut out = Vec::new();
        for name in &streams {
            let mut stream = js.get_stream(name).await.map_err(|e| nats(&e))?;
            let state = stream.info().await.map_err(|e| nats(&e))?.state.clone();
            for seq in state.first_sequence..=state.last_sequence {
                let Ok(message) = stream.get_raw_message(seq).await else {
                    continue;
                };
                let place = format!("{name} #{seq}");
                out.push((
                    place.clone(),
                    String::from_utf8_lossy(&message.payload).into_owned(),
                ));
                out.push((format!("{place} subject"), message.subject.to_string()));
                for (key, values) in message.headers.iter() {
                    for v in values {
                        out.push((format!("{place} header {key}"), v.as_str().to_owned()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Kills the orchestrator process with SIGKILL (no shutdown, nothing flushed).
    pub fn kill_orchestrator(&mut self) {
        if let Some(p) = &mut self.orchestrator_process {
            p.kill();
        }
    }

    /// Starts one more orchestrator replica as a child process (the first one must be a
    /// process too), with `env` added (e.g. lease timings), and waits until it answers.
    /// Returns its address.
    pub async fn start_another_orchestrator(
        &mut self,
        env: &[(&'static str, String)],
    ) -> Result<SocketAddr, StartError> {
        let Some(first) = &self.orchestrator_process else {
            return Err(StartError("the orchestrator runs in-process".into()));
        };
        let port =
            groundwork_testkit::process::free_port().map_err(|e| err("orchestrator port")(&e))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut process = OrchestratorProcess {
            binary: first.binary.clone(),
            args: first.args.clone(),
            nkey: first.nkey.clone(),
            env: first.env.clone(),
            log: first.log.clone(),
            child: None,
        };
        process.args[1] = addr.to_string();
        process.env.retain(|(k, _)| *k != REPLICA_ID_VAR);
        process
            .env
            .push((REPLICA_ID_VAR, orchestrator_replica_id(addr)));
        process.env.extend(env.iter().cloned());
        process.log = std::env::temp_dir().join(format!("groundwork-e2e-orchestrator-{port}.log"));
        process.spawn()?;
        self.more_orchestrators.push((addr, process));
        wait_ready(&self.security, addr, "orchestrator").await?;
        Ok(addr)
    }

    /// Adds `env` to the first orchestrator process (it takes effect when it starts again).
    pub fn set_orchestrator_env(&mut self, env: &[(&'static str, String)]) {
        if let Some(p) = &mut self.orchestrator_process {
            p.env.extend(env.iter().cloned());
        }
    }

    /// Every orchestrator replica's address, the first one first.
    pub fn orchestrators(&self) -> Vec<SocketAddr> {
        std::iter::once(self.orchestrator)
            .chain(self.more_orchestrators.iter().map(|(a, _)| *a))
            .collect()
    }

    fn orchestrator_process_at(&mut self, addr: SocketAddr) -> Option<&mut OrchestratorProcess> {
        if addr == self.orchestrator {
            return self.orchestrator_process.as_mut();
        }
        self.more_orchestrators
            .iter_mut()
            .find(|(a, _)| *a == addr)
            .map(|(_, p)| p)
    }

    /// Kills the orchestrator replica at `addr` with SIGKILL.
    pub fn kill_orchestrator_at(&mut self, addr: SocketAddr) {
        if let Some(p) = self.orchestrator_process_at(addr) {
            p.kill();
        }
    }

    /// Starts the orchestrator replica at `addr` again and waits until it answers.
    pub async fn restart_orchestrator_at(&mut self, addr: SocketAddr) -> Result<(), StartError> {
        match self.orchestrator_process_at(addr) {
            Some(p) => {
                p.kill();
                p.spawn()?;
            }
            None => return Err(StartError(format!("no orchestrator process at {addr}"))),
        }
        wait_ready(&self.security, addr, "orchestrator").await
    }

    /// A client of the orchestrator replica at `addr`.
    pub async fn orchestrator_at(&self, addr: SocketAddr) -> OrchestratorClient<Channel> {
        OrchestratorClient::new(self.channel(addr).await)
    }

    /// Starts the orchestrator process again on its port and waits until it answers.
    pub async fn restart_orchestrator(&mut self) -> Result<(), StartError> {
        match &mut self.orchestrator_process {
            Some(p) => {
                p.kill();
                p.spawn()?;
            }
            None => return Err(StartError("the orchestrator runs in-process".into())),
        }
        wait_ready(&self.security, self.orchestrator, "orchestrator").await
    }

    /// Stops the services (as SIGTERM would) and waits for them, at most 10 s each;
    /// one that does not stop by then is aborted and named.
    pub async fn stop(mut self) -> Vec<usize> {
        self.kill_orchestrator();
        for (_, p) in &mut self.more_orchestrators {
            p.kill();
        }
        self.shutdown.trigger();
        let mut stuck = Vec::new();
        for (i, mut t) in self.tasks.into_iter().enumerate() {
            if tokio::time::timeout(Duration::from_secs(10), &mut t)
                .await
                .is_err()
            {
                t.abort();
                stuck.push(i);
            }
        }
        stuck
    }
}

fn unreachable_service(name: &str, e: &dyn std::fmt::Display) -> ! {
    // A test helper: the service answered health a moment ago.
    #[allow(clippy::panic)]
    {
        panic!("cannot connect to {name}: {e}")
    }
}

/// Waits until a gRPC port answers health checks over TLS (polling with a deadline).
async fn wait_ready(security: &Security, addr: SocketAddr, name: &str) -> Result<(), StartError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let target = security.target(addr, None)?;
    while Instant::now() < deadline {
        if let Ok(channel) = groundwork_kit::client::connect(&target, name).await {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(StartError(format!("{name} did not start at {addr}")))
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `secret` parameter of an `otpauth://totp/…?secret=…` URI, as an authenticator app
/// reads it from the QR code.
pub fn otpauth_secret(uri: &str) -> Option<String> {
    let (_, query) = uri.split_once('?')?;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .map(str::to_owned)
}

/// Two consecutive TOTP codes for `base32_seed` (RFC 6238: SHA-1, 30 s steps, 6 digits), as
/// an authenticator app shows them; the same computation as identity's tests.
pub fn two_consecutive_codes(base32_seed: &str) -> Option<(String, String)> {
    let secret = totp_rs::Secret::Encoded(base32_seed.to_owned())
        .to_bytes()
        .ok()?;
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret).ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some((totp.generate(now), totp.generate(now + 30)))
}

/// The console password of `user`'s login profile as moto keeps it (moto's
/// `/moto-api/data.json`, the IAM backend's `User.password`): what a console sign-in of
/// the sandbox would be checked against. `None` when the user has no login profile.
pub fn moto_login_password(moto: &MotoServer, user: &str) -> Result<Option<String>, StartError> {
    use std::io::{Read, Write};
    let io = |e: std::io::Error| StartError(format!("moto data.json: {e}"));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", moto.port())).map_err(io)?;
    write!(
        stream,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(io)?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let data: serde_json::Value =
        serde_json::from_str(body).map_err(|e| StartError(format!("moto data.json: {e}")))?;
    let users = data["iam"]["User"]
        .as_array()
        .ok_or_else(|| StartError("moto data.json has no IAM users".into()))?;
    Ok(users
        .iter()
        .find(|u| u["name"] == user)
        .and_then(|u| u["password"].as_str())
        .map(str::to_owned))
}

/// A run's step by resource id.
pub fn step<'a>(run: &'a pb::SetupRun, resource: &str) -> Option<&'a pb::SetupStep> {
    run.steps.iter().find(|s| s.resource == resource)
}
