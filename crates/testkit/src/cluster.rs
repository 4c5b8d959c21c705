//! A real three-node nats-server cluster for a test: routes on loopback, JetStream on each
//! node with a store of its own, secured as the single server ([`crate::NatsServer`]) is.
//! Nodes can be killed (`kill -9`) or stopped (SIGTERM) and started again on the same
//! store, to test what survives the loss of one; each serves nats-server's monitoring
//! endpoint, whose `/healthz` says when a restarted node's JetStream is current again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use groundwork_bus::access::{LocalCredentials, Principal, read_seed};
use tempfile::TempDir;

use crate::process::{
    TestkitError, accepts_connections, advertised_nats_urls, find_binary, free_port, http_get,
    http_status, stop, terminate, wait_until,
};

/// Nodes in a test cluster: the smallest that keeps a quorum when one is lost.
pub const NODES: usize = 3;

/// The cluster's name, as nats-server reports it in `INFO` and stream info.
pub const CLUSTER_NAME: &str = "groundwork-test";

/// How long a node may take to be ready and see the JetStream meta leader.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a node stopped with SIGTERM may take to shut down before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

#[derive(Debug)]
struct Node {
    name: String,
    client_port: u16,
    route_port: u16,
    monitor_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Three nats-servers on 127.0.0.1 routed to each other, stopped and removed on drop.
/// Clients use the same nkey identities as on one server ([`NatsCluster::settings_for`],
/// [`NatsCluster::client`]), with every node's URL.
#[derive(Debug)]
pub struct NatsCluster {
    binary: PathBuf,
    dir: TempDir,
    credentials: LocalCredentials,
    nodes: Vec<Node>,
}

impl NatsCluster {
    /// Starts three nodes and waits until each accepts connections and knows the JetStream
    /// meta leader (so that streams can be created at once).
    pub fn start() -> Result<Self, TestkitError> {
        let binary = find_binary("nats-server", "NATS_SERVER_BIN", crate::INSTALL_HINT)?;
        // Free ports are released before the servers bind them, so another process may take
        // one meanwhile: try a few fresh sets before giving up.
        let mut tries = 0;
        loop {
            let dir = tempfile::Builder::new()
                .prefix("groundwork-nats-cluster-")
                .tempdir()?;
            let mut cluster = Self {
                binary: binary.clone(),
                credentials: LocalCredentials::ensure(dir.path().join("credentials"))?,
                dir,
                nodes: Vec::new(),
            };
            cluster.configure()?;
            match cluster.start_all() {
                Ok(()) => return Ok(cluster),
                Err(e) if tries < 3 && e.to_string().contains("address already in use") => {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes each node's configuration: the single server's users and permissions, plus
    /// JetStream with its own store, a server name, and routes to the other nodes that
    /// authenticate with the cluster's route user.
    fn configure(&mut self) -> Result<(), TestkitError> {
        let base_path = self.credentials.write_server_config()?;
        let base = std::fs::read_to_string(&base_path)?;
        let password = groundwork_kit::secrets::new_token()?;
        let ports = (0..NODES)
            .map(|_| Ok((free_port()?, free_port()?, free_port()?)))
            .collect::<Result<Vec<_>, TestkitError>>()?;
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route, _)| format!("127.0.0.1:{route}"))
            .collect();
        for (i, (client_port, route_port, monitor_port)) in ports.into_iter().enumerate() {
            let name = format!("n{i}");
            let node_dir = self.dir.path().join(&name);
            groundwork_kit::secrets::ensure_private_dir(&node_dir)?;
            let store = node_dir.join("store");
            let config = groundwork_bus::access::cluster_node_config(
                &base,
                &groundwork_bus::access::ClusterNode {
                    name: &name,
                    cluster: CLUSTER_NAME,
                    host: "127.0.0.1",
                    client_port,
                    route_port,
                    store_dir: &store,
                    routes: &routes,
                    route_password: &password,
                },
            )
            .map_err(|e| TestkitError::Config(e.to_string()))?;
            // The monitoring endpoint, on loopback as the rest: `/healthz` for tests.
            let mut config: serde_json::Value =
                serde_json::from_str(&config).map_err(|e| TestkitError::Config(e.to_string()))?;
            config["http"] = serde_json::json!(format!("127.0.0.1:{monitor_port}"));
            let config = config.to_string();
            let path = node_dir.join("nats.json");
            groundwork_kit::secrets::write_private(&path, config.as_bytes())?;
            self.nodes.push(Node {
                log: node_dir.join("nats.log"),
                name,
                client_port,
                route_port,
                monitor_port,
                config: path,
                child: None,
            });
        }
        Ok(())
    }

    /// Spawns every node, then waits for all of them: a node alone cannot elect a meta
    /// leader, so they must all be running before any is waited on.
    fn start_all(&mut self) -> Result<(), TestkitError> {
        let mut offsets = Vec::with_capacity(NODES);
        for i in 0..NODES {
            offsets.push(self.spawn(i)?);
        }
        for (i, offset) in offsets.into_iter().enumerate() {
            self.wait_ready(i, offset)?;
        }
        self.wait_meshed()?;
        self.wait_meta_peers()
    }

    /// Waits until the JetStream meta leader counts every other node as a current peer:
    /// until then it cannot place a stream on three nodes ("no suitable peers for
    /// placement, peer offline"), and a service creating its R3 streams at once would fail.
    fn wait_meta_peers(&mut self) -> Result<(), TestkitError> {
        let monitors: Vec<(String, SocketAddr)> = (0..self.nodes.len())
            .map(|i| (self.nodes[i].name.clone(), self.monitor_addr(i)))
            .collect();
        let node = &mut self.nodes[0];
        let Some(child) = node.child.as_mut() else {
            return Ok(());
        };
        wait_until(
            "the JetStream meta leader of the cluster to count every node as a peer",
            child,
            &node.log,
            READY_TIMEOUT,
            || {
                monitors
                    .iter()
                    .any(|(name, addr)| leads_with_every_peer(*addr, name, monitors.len()))
            },
        )
    }

    /// Waits until every node advertises all nodes to its clients: a node can know the
    /// meta leader with one route of two, and a client that connects then is told of two
    /// nodes, so that detection makes its streams R1 (`groundwork_bus::replicas`).
    fn wait_meshed(&mut self) -> Result<(), TestkitError> {
        for node in &mut self.nodes {
            let addr = SocketAddr::from(([127, 0, 0, 1], node.client_port));
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            let what = format!(
                "nats-server {} of the cluster, routed to every node",
                node.name
            );
            wait_until(&what, child, &node.log, READY_TIMEOUT, || {
                advertised_nats_urls(addr).is_some_and(|n| n >= NODES)
            })?;
        }
        Ok(())
    }

    /// Starts node `i`; returns where its log stood before, to read only this run's lines.
    fn spawn(&mut self, i: usize) -> Result<u64, TestkitError> {
        let node = &mut self.nodes[i];
        let offset = std::fs::metadata(&node.log).map(|m| m.len()).unwrap_or(0);
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&node.config)
            .arg("-l")
            .arg(&node.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| TestkitError::Spawn {
                what: format!("nats-server {} ({})", node.name, self.binary.display()),
                source,
            })?;
        node.child = Some(child);
        Ok(offset)
    }

    /// Waits until node `i` accepts clients and its log (since `offset`) names the meta
    /// leader (or says it is the leader).
    fn wait_ready(&mut self, i: usize, offset: u64) -> Result<(), TestkitError> {
        let node = &mut self.nodes[i];
        let addr = SocketAddr::from(([127, 0, 0, 1], node.client_port));
        let log = node.log.clone();
        let Some(child) = node.child.as_mut() else {
            return Ok(());
        };
        let what = format!("nats-server {} of the cluster", node.name);
        let ready = wait_until(&what, child, &log, READY_TIMEOUT, || {
            let text = log_since(&log, offset);
            accepts_connections(addr)
                && text.contains("Server is ready")
                && text.contains("metadata leader")
        });
        if let Err(e) = ready {
            stop(child);
            node.child = None;
            return Err(e);
        }
        Ok(())
    }

    /// `nats://127.0.0.1:<port>` of every node, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
            .collect()
    }

    /// Every node's URL, comma separated: a `NATS_URL` for the whole cluster.
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// The server name of node `i` (`n0`, `n1`, `n2`), as stream info names a leader.
    pub fn node_name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// The node whose server name is `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Whether node `i` is running.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// The route port of node `i`.
    pub fn route_port(&self, i: usize) -> u16 {
        self.nodes[i].route_port
    }

    /// The monitoring endpoint of node `i` (`http://127.0.0.1:<port>`: `/healthz`, `/jsz`).
    pub fn monitor_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.nodes[i].monitor_port))
    }

    /// The seed file of an identity, as `NATS_NKEY` names it.
    pub fn nkey_file(&self, principal: &str) -> PathBuf {
        self.credentials.dir().join(format!("{principal}.nk"))
    }

    /// The settings a service runs with on this cluster: every node's URL, the service's
    /// own credentials and the tests' operator token. Stream replicas are left to
    /// detection ([`groundwork_bus::replicas`]).
    pub fn settings_for(&self, service: &str) -> groundwork_kit::CommonSettings {
        let mut common = groundwork_kit::CommonSettings::for_nats(self.url());
        common.nats_nkey = Some(self.nkey_file(service));
        common.api_token = Some(crate::grpc::API_TOKEN.into());
        common
    }

    /// Connect options for `principal`: its nkey and inbox prefix; reconnects forever.
    pub fn connect_options(
        &self,
        principal: &str,
    ) -> Result<async_nats::ConnectOptions, TestkitError> {
        let known = Principal::from_name(principal).ok_or_else(|| TestkitError::Connect {
            principal: principal.to_owned(),
            message: "no such Groundwork identity".into(),
        })?;
        let seed = read_seed(&self.nkey_file(principal))?;
        Ok(async_nats::ConnectOptions::new()
            .nkey(seed)
            .custom_inbox_prefix(known.inbox_prefix())
            .name(format!("test as {principal}"))
            .max_reconnects(None))
    }

    /// A client connected as `principal` to any node (it fails over to the others).
    pub async fn client(&self, principal: &str) -> Result<async_nats::Client, TestkitError> {
        let servers = groundwork_bus::connect::server_addrs(&self.url()).map_err(|e| {
            TestkitError::Connect {
                principal: principal.to_owned(),
                message: e.to_string(),
            }
        })?;
        self.connect_options(principal)?
            .connect(servers)
            .await
            .map_err(|e| TestkitError::Connect {
                principal: principal.to_owned(),
                message: e.to_string(),
            })
    }

    /// A client with every permission, for a test's own checks.
    pub async fn admin(&self) -> Result<async_nats::Client, TestkitError> {
        self.client(Principal::Admin.name()).await
    }

    /// The node that leads `stream` now (`$JS.API.STREAM.INFO`'s `cluster.leader`), asked
    /// through `admin` (a client of [`NatsCluster::admin`]); `None` while there is none.
    pub async fn stream_leader(
        &self,
        admin: &async_nats::Client,
        stream: &str,
    ) -> Result<Option<usize>, TestkitError> {
        let js = async_nats::jetstream::new(admin.clone());
        let mut handle = js
            .get_stream(stream)
            .await
            .map_err(|e| stream_error(stream, e))?;
        let info = handle.info().await.map_err(|e| stream_error(stream, e))?;
        Ok(info
            .cluster
            .as_ref()
            .and_then(|c| c.leader.as_deref())
            .and_then(|leader| self.node_index(leader)))
    }

    /// Kills node `i` at once (SIGKILL, as `kill -9`): no goodbye to its routes or clients.
    /// Its store stays.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            stop(&mut child);
        }
    }

    /// Starts node `i` again on the same ports and store, and waits until it is ready and
    /// back in the cluster (it knows the meta leader).
    pub fn restart(&mut self, i: usize) -> Result<(), TestkitError> {
        self.kill(i);
        let offset = self.spawn(i)?;
        self.wait_ready(i, offset)
    }

    /// Stops node `i` as an operator does for maintenance: SIGTERM, which nats-server takes
    /// as a clean shutdown (clients and routes are closed, so clients move to the other
    /// nodes at once), and waits until it has exited. Its store stays.
    pub fn stop(&mut self, i: usize) -> Result<(), TestkitError> {
        if let Some(mut child) = self.nodes[i].child.take() {
            terminate(&mut child, STOP_GRACE)?;
        }
        Ok(())
    }

    /// Starts a stopped node `i` again on the same ports and store, and waits until it is
    /// ready and back in the cluster (it knows the meta leader); [`NatsCluster::wait_current`]
    /// then waits until its streams have caught up.
    pub fn start_node(&mut self, i: usize) -> Result<(), TestkitError> {
        if self.nodes[i].child.is_some() {
            return Ok(());
        }
        let offset = self.spawn(i)?;
        self.wait_ready(i, offset)
    }

    /// Waits until node `i`'s `/healthz` answers 200: nats-server says so only once its
    /// JetStream is current, the meta group and every stream and consumer it holds a copy
    /// of caught up with their leaders. A node that restarted is a full member again then.
    pub fn wait_current(&mut self, i: usize, timeout: Duration) -> Result<(), TestkitError> {
        let addr = self.monitor_addr(i);
        let node = &mut self.nodes[i];
        let log = node.log.clone();
        let what = format!("JetStream on nats-server {} to be current", node.name);
        let Some(child) = node.child.as_mut() else {
            return Err(TestkitError::NotReady {
                what,
                seconds: 0,
                log: "; the node is not running".into(),
            });
        };
        wait_until(&what, child, &log, timeout, || {
            http_status(addr, "/healthz") == Some(200)
        })
    }

    /// The end of node `i`'s log, for a failing test's message.
    pub fn log_tail(&self, i: usize) -> String {
        crate::process::log_tail(&self.nodes[i].log)
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// Whether the node named `name` (monitoring at `addr`) leads the meta group of `nodes`
/// nodes and sees every other one current (`/jsz`'s `meta_cluster`).
fn leads_with_every_peer(addr: SocketAddr, name: &str, nodes: usize) -> bool {
    let Some((200, body)) = http_get(addr, "/jsz") else {
        return false;
    };
    let Ok(jsz) = serde_json::from_str::<serde_json::Value>(&body) else {
        return false;
    };
    let meta = &jsz["meta_cluster"];
    let peers = meta["replicas"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    meta["leader"] == name
        && peers.len() + 1 == nodes
        && peers
            .iter()
            .all(|p| p["current"] == true && p["offline"] != true)
}

/// What a log file holds from byte `offset` on.
fn log_since(path: &Path, offset: u64) -> String {
    std::fs::read(path)
        .map(|bytes| {
            let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        })
        .unwrap_or_default()
}

/// The configuration of `stream` as the server holds it (its replicas, limits, …), on one
/// server or a cluster.
pub async fn stream_config(
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> Result<async_nats::jetstream::stream::Config, TestkitError> {
    let mut handle = js
        .get_stream(stream)
        .await
        .map_err(|e| stream_error(stream, e))?;
    let info = handle.info().await.map_err(|e| stream_error(stream, e))?;
    Ok(info.config.clone())
}

fn stream_error(stream: &str, e: impl std::fmt::Display) -> TestkitError {
    TestkitError::Connect {
        principal: Principal::Admin.name().to_owned(),
        message: format!("cannot read stream {stream}: {e}"),
    }
}
