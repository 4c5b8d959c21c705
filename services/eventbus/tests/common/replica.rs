//! The event bus as a real process on a NATS cluster, as `groundwork up` runs each replica:
//! killed (`kill -9`) or stopped (SIGTERM) and started again on the same port.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use groundwork_proto::v1::event_bus_client::EventBusClient;
use groundwork_testkit::NatsCluster;

use super::{API_TOKEN, Channel, answers_health_check, channel};

/// How long a replica stopped with SIGTERM may take to finish what it holds and exit.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// One `groundwork-eventbus` process, killed on drop. Its warnings and errors go to a file
/// that every start appends to (to the test's own stderr with `TEST_LOG`); a replica that
/// does not come up fails the test with the end of it.
pub struct BusReplica {
    child: Option<Child>,
    port: u16,
    nats_url: String,
    nkey: std::path::PathBuf,
    log: tempfile::NamedTempFile,
}

impl BusReplica {
    /// Starts the binary on `cluster` with every node's URL, its NATS identity, the tests'
    /// operator token and quick retries and ack waits, all through the environment, and
    /// waits until it answers its health check.
    pub async fn start(cluster: &NatsCluster) -> Self {
        let mut replica = Self {
            child: None,
            port: groundwork_testkit::process::free_port().unwrap(),
            nats_url: cluster.url(),
            nkey: cluster.nkey_file("eventbus"),
            log: tempfile::NamedTempFile::new().expect("a temporary file for the replica's log"),
        };
        replica.start_again().await;
        replica
    }

    /// Starts the process again (after [`BusReplica::stop`] or [`BusReplica::kill`]) on the
    /// same port, so that clients reach it where they did, and waits until it answers.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the replica is still running");
        let child = Command::new(env!("CARGO_BIN_EXE_groundwork-eventbus"))
            // Only what the test sets: no settings file or flag of the developer's shell.
            .env_clear()
            .env("NATS_URL", &self.nats_url)
            .env("NATS_NKEY", &self.nkey)
            .env("GROUNDWORK_API_TOKEN", API_TOKEN)
            .env(
                "GROUNDWORK_EVENTBUS__LISTEN",
                format!("127.0.0.1:{}", self.port),
            )
            .env("GROUNDWORK_EVENTBUS__RETRY_BASE_DELAY_MS", "10")
            .env("GROUNDWORK_EVENTBUS__RETRY_MAX_DELAY_MS", "100")
            .env("GROUNDWORK_EVENTBUS__WEBHOOK_TIMEOUT_MS", "2000")
            // What a lost replica held unacknowledged comes back to another one after these
            // (the defaults are 30 s and 60 s); still well above the webhook timeout.
            .env("GROUNDWORK_EVENTBUS__ROUTER_ACK_WAIT_MS", "5000")
            .env("GROUNDWORK_EVENTBUS__DELIVERY_ACK_WAIT_MS", "10000")
            // Every bus's streams reserve their byte limit on every node's disk (1 GiB and
            // 256 MiB by default); tests that make dozens of buses would run out of it.
            .env(
                "GROUNDWORK_EVENTBUS__EVENTS_MAX_BYTES",
                (64 << 20).to_string(),
            )
            .env("GROUNDWORK_EVENTBUS__DLQ_MAX_BYTES", (16 << 20).to_string())
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::from(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .open(self.log.path())
                        .expect("the replica's log file"),
                )
            })
            .spawn()
            .expect("the groundwork-eventbus binary");
        self.child = Some(child);
        if !answers_health_check(self.addr(), None).await {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .map_or_else(|| "still running".to_owned(), |s| format!("exited: {s}"));
            panic!(
                "the event bus replica on port {} did not answer its health check within 30 s \
                 ({exited}){}",
                self.port,
                groundwork_testkit::process::log_tail(self.log.path())
            );
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap()
    }

    /// SIGKILL, as `kill -9`: no shutdown, no goodbye to NATS, nothing acknowledged.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, as a supervisor or an operator stops it: the replica stops taking calls and
    /// work, and exits. Waits for it; returns whether it exited cleanly (status 0).
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        groundwork_testkit::process::terminate(&mut child, STOP_GRACE)
            .unwrap()
            .success()
    }

    pub async fn client(&self) -> EventBusClient<Channel> {
        EventBusClient::new(channel(self.addr()).await)
    }
}

impl Drop for BusReplica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The pull requests waiting on a durable consumer (`num_waiting`): one per replica
/// pulling from it while it is idle.
pub async fn waiting_pulls(js: &jetstream::Context, stream: &str, consumer: &str) -> usize {
    let Ok(stream) = js.get_stream(stream).await else {
        return 0;
    };
    let Ok(mut consumer) = stream
        .get_consumer::<jetstream::consumer::pull::Config>(consumer)
        .await
    else {
        return 0;
    };
    consumer.info().await.map_or(0, |i| i.num_waiting)
}
