//! A real `nats-server` with JetStream for a test, secured as the local stack is: no
//! anonymous access, one nkey per Groundwork identity with its permissions
//! (`groundwork_bus::access`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use groundwork_bus::access::{LocalCredentials, Principal, read_seed};
use tempfile::TempDir;

use crate::process::{TestkitError, accepts_connections, find_binary, free_port, stop, wait_until};

/// A nats-server on 127.0.0.1 with JetStream, a store in a temporary directory, stopped
/// and removed on drop. It can be stopped and started again on the same port and store,
/// to test what survives an outage. Clients need credentials: [`NatsServer::settings_for`]
/// for a service, [`NatsServer::client`] for a test's own client.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    credentials: LocalCredentials,
    config: PathBuf,
    /// The server's TLS material (its CA, certificate and key), when it requires TLS.
    tls: Option<groundwork_kit::tls::LocalTls>,
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with(false)
    }

    /// Starts a server that accepts only TLS clients, with a certificate for 127.0.0.1
    /// from a CA of its own ([`NatsServer::tls`]).
    pub fn start_with_tls() -> Result<Self, TestkitError> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Result<Self, TestkitError> {
        let binary = find_binary("nats-server", "NATS_SERVER_BIN", crate::INSTALL_HINT)?;
        let dir = tempfile::Builder::new()
            .prefix("groundwork-nats-")
            .tempdir()?;
        let credentials = LocalCredentials::ensure(dir.path().join("credentials"))?;
        let config = credentials.write_server_config()?;
        let tls = if tls {
            let material = groundwork_kit::tls::generate_local(&dir.path().join("tls"))
                .map_err(|e| TestkitError::Tls(e.to_string()))?;
            // The generated configuration, with TLS required of every client.
            let text = std::fs::read_to_string(&config)?;
            let mut doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| TestkitError::Tls(format!("the NATS configuration: {e}")))?;
            doc["tls"] = serde_json::json!({
                "cert_file": material.server_cert,
                "key_file": material.server_key,
            });
            std::fs::write(&config, doc.to_string())?;
            Some(material)
        } else {
            None
        };
        let mut server = Self {
            binary,
            dir,
            port: free_port()?,
            child: None,
            credentials,
            config,
            tls,
        };
        // The free port was released before the server bound it, so another process may
        // have taken it meanwhile: try a few fresh ports before giving up.
        let mut tries = 0;
        loop {
            match server.start_again() {
                Ok(()) => return Ok(server),
                Err(e) if tries < 4 && e.to_string().contains("address already in use") => {
                    tries += 1;
                    server.port = free_port()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `nats://127.0.0.1:<port>` (`tls://` when the server requires TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The TLS material of a server started with [`NatsServer::start_with_tls`].
    pub fn tls(&self) -> Option<&groundwork_kit::tls::LocalTls> {
        self.tls.as_ref()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The seed file of an identity (`eventbus`, `identity`, …, `events`, `admin`), as
    /// `NATS_NKEY` names it.
    pub fn nkey_file(&self, principal: &str) -> PathBuf {
        self.credentials.dir().join(format!("{principal}.nk"))
    }

    /// The settings a service runs with on this server: its URL, the service's own
    /// credentials, and the tests' operator token ([`crate::grpc::API_TOKEN`]): services
    /// in tests run with security on.
    pub fn settings_for(&self, service: &str) -> groundwork_kit::CommonSettings {
        let mut common = groundwork_kit::CommonSettings::for_nats(self.url());
        common.nats_nkey = Some(self.nkey_file(service));
        common.nats_ca = self.tls.as_ref().map(|t| t.ca_cert.clone());
        common.api_token = Some(crate::grpc::API_TOKEN.into());
        common
    }

    /// Connect options for `principal`: its nkey and inbox prefix.
    pub fn connect_options(
        &self,
        principal: &str,
    ) -> Result<async_nats::ConnectOptions, TestkitError> {
        let known = Principal::from_name(principal).ok_or_else(|| TestkitError::Connect {
            principal: principal.to_owned(),
            message: "no such Groundwork identity".into(),
        })?;
        let seed = read_seed(&self.nkey_file(principal))?;
        let mut options = async_nats::ConnectOptions::new();
        if let Some(tls) = &self.tls {
            options = options
                .add_root_certificates(tls.ca_cert.clone())
                .require_tls(true);
        }
        Ok(options
            .nkey(seed)
            .custom_inbox_prefix(known.inbox_prefix())
            .name(format!("test as {principal}"))
            .max_reconnects(None))
    }

    /// A client connected as `principal` (with its inbox prefix); tests inspect streams
    /// as `admin`, and try what other identities may not do.
    pub async fn client(&self, principal: &str) -> Result<async_nats::Client, TestkitError> {
        self.connect_options(principal)?
            .connect(self.url())
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

    /// Stops the server (its store stays), as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Starts the server again on the same port with the same store.
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        self.stop();
        let log = self.dir.path().join("nats.log");
        let store = self.dir.path().join("store");
        let mut child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-js")
            .arg("-c")
            .arg(&self.config)
            .arg("-sd")
            .arg(&store)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| TestkitError::Spawn {
                what: format!("nats-server ({})", self.binary.display()),
                source,
            })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let ready = wait_until(
            "nats-server",
            &mut child,
            &log,
            Duration::from_secs(20),
            || {
                accepts_connections(addr)
                    && std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Server is ready"))
            },
        );
        if let Err(e) = ready {
            stop(&mut child);
            return Err(e);
        }
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
