//! A real `moto_server` (sandbox AWS) for a test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{TestkitError, find_binary, free_port, stop, wait_until};

/// A moto_server on 127.0.0.1 with AWS managed policies loaded, stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    _dir: TempDir,
    port: u16,
    child: Child,
}

impl MotoServer {
    /// Starts a server and waits until it answers HTTP. Every request is accepted whatever
    /// its credentials, as moto does by default.
    pub fn start() -> Result<Self, TestkitError> {
        Self::spawn(None)
    }

    /// Starts a server that authenticates and authorizes requests as IAM does, after the
    /// first `no_auth_actions` AWS requests: those are accepted whatever their credentials,
    /// so that a test can create the IAM users, policies and access keys it needs (moto's
    /// `INITIAL_NO_AUTH_ACTION_COUNT`). From then on a request must be signed with an access
    /// key of an IAM user of this server (`InvalidClientTokenId` otherwise, and
    /// `SignatureDoesNotMatch` for a wrong secret), and an action its policies do not allow
    /// is answered `AccessDenied`. Requests to `/moto-api/` (readiness, reset) are not
    /// counted.
    pub fn start_with_auth(no_auth_actions: u32) -> Result<Self, TestkitError> {
        Self::spawn(Some(no_auth_actions))
    }

    fn spawn(no_auth_actions: Option<u32>) -> Result<Self, TestkitError> {
        let binary: PathBuf = find_binary("moto_server", "MOTO_SERVER_BIN", crate::INSTALL_HINT)?;
        let dir = tempfile::Builder::new()
            .prefix("groundwork-moto-")
            .tempdir()?;
        let port = free_port()?;
        let log = dir.path().join("moto.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(&binary);
        command
            .args(["-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
        if let Some(n) = no_auth_actions {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let mut child = command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .map_err(|source| TestkitError::Spawn {
                what: format!("moto_server ({})", binary.display()),
                source,
            })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Err(e) = wait_until(
            "moto_server",
            &mut child,
            &log,
            Duration::from_secs(60),
            || http_ok(addr, "/moto-api/data.json"),
        ) {
            stop(&mut child);
            return Err(e);
        }
        Ok(Self {
            _dir: dir,
            port,
            child,
        })
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Clears every resource (moto's `/moto-api/reset`).
    pub fn reset(&self) -> Result<(), TestkitError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        http_request(addr, "POST", "/moto-api/reset", "")
            .map(|_| ())
            .map_err(TestkitError::Io)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn http_ok(addr: SocketAddr, path: &str) -> bool {
    http_request(addr, "GET", path, "").is_ok_and(|status| {
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200")
    })
}

/// A minimal HTTP/1.0 request; returns the status line.
fn http_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or_default().to_owned())
}
