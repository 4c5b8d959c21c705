//! Finding binaries, picking free ports and waiting for a server to answer.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What can go wrong starting a test dependency.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error("{binary} was not found ({looked}); to install it: {hint}")]
    MissingBinary {
        binary: String,
        looked: String,
        hint: &'static str,
    },
    #[error("the nats-server configuration cannot be read back: {0}")]
    Config(String),
    #[error("TLS for the test server: {0}")]
    Tls(String),
    #[error("NATS credentials: {0}")]
    Credentials(#[from] groundwork_bus::access::AccessError),
    #[error("cannot connect to the test nats-server as {principal}: {message}")]
    Connect { principal: String, message: String },
    #[error("{what} could not be started: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} did not become ready within {seconds} s{log}")]
    NotReady {
        what: String,
        seconds: u64,
        log: String,
    },
    #[error("{what} exited early ({status}){log}")]
    Exited {
        what: String,
        status: String,
        log: String,
    },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Finds `binary`: the environment override, then `.venv/bin` in this directory or any
/// parent of it (the repository's), then `PATH`.
pub fn find_binary(
    binary: &str,
    env_override: &str,
    hint: &'static str,
) -> Result<PathBuf, TestkitError> {
    if let Some(path) = std::env::var_os(env_override) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
    }
    let mut looked = vec![format!("${env_override}")];
    let starts = [
        std::env::current_dir().ok(),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(".venv/bin").join(binary);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    looked.push(".venv/bin of the repository".into());
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(binary);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    looked.push("PATH".into());
    Err(TestkitError::MissingBinary {
        binary: binary.into(),
        looked: format!("looked in {}", looked.join(", ")),
        hint,
    })
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16, TestkitError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Polls until `ready` says yes, the child exits, or `timeout` passes.
pub fn wait_until(
    what: &str,
    child: &mut std::process::Child,
    log_path: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), TestkitError> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(TestkitError::Exited {
                what: what.into(),
                status: status.to_string(),
                log: log_tail(log_path),
            });
        }
        if Instant::now() >= deadline {
            return Err(TestkitError::NotReady {
                what: what.into(),
                seconds: timeout.as_secs(),
                log: log_tail(log_path),
            });
        }
        // Readiness poll interval, not a synchronisation sleep.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether something accepts TCP connections at `addr`.
pub fn accepts_connections(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// The end of a server's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(20);
            format!("; its log ends with:\n{}", lines[start..].join("\n"))
        }
        _ => String::new(),
    }
}

/// Stops a child process: SIGTERM-free and immediate (`kill`), then reaps it.
pub fn stop(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}
