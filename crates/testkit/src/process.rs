//! Finding binaries, picking free ports and waiting for a server to answer.

use std::io::{Read, Write};
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
    #[error("message {sequence} of stream {stream} holds text that is not an event: {reason}")]
    NotAnEvent {
        stream: String,
        sequence: u64,
        reason: String,
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

/// A port that was free a moment ago on 127.0.0.1, outside the range outgoing connections
/// take their ports from (see [`free_port_block`]).
pub fn free_port() -> Result<u16, TestkitError> {
    free_port_block(1)
}

/// Where the system's ephemeral port range starts (32768 when it cannot be read).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768)
        .min(32768)
}

/// The first of `count` consecutive ports that were free a moment ago on 127.0.0.1, below
/// the range the system hands out for outgoing connections and port 0
/// (`/proc/sys/net/ipv4/ip_local_port_range`): nothing else takes one of them before a
/// server listens there, as now and then happens to a fixed port inside that range (such
/// as 50052). Picked at random in 10000..32768, and never one this process handed out
/// before: tests side by side (and the nine ports of a cluster) do not meet.
pub fn free_port_block(count: u16) -> Result<u16, TestkitError> {
    use std::hash::{BuildHasher, Hasher};
    static HANDED_OUT: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<u16>>> =
        std::sync::LazyLock::new(Default::default);
    let (low, high) = (10_000u16, ephemeral_low().saturating_sub(count));
    if high < low + 1000 {
        // A system whose ephemeral range starts low: the kernel's choice, as before.
        if count == 1 {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            return Ok(listener.local_addr()?.port());
        }
        return Err(std::io::Error::other(format!(
            "no room for {count} ports below the ephemeral range (it starts at {})",
            ephemeral_low()
        ))
        .into());
    }
    for _ in 0..500 {
        // std's RandomState is seeded afresh from the system's randomness each time.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let first = low + (random % u64::from(high - low)) as u16;
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if (first..first + count).any(|port| handed_out.contains(&port)) {
            continue;
        }
        let held: Result<Vec<TcpListener>, _> = (first..first + count)
            .map(|port| TcpListener::bind(("127.0.0.1", port)))
            .collect();
        if held.is_ok() {
            handed_out.extend(first..first + count);
            return Ok(first);
        }
    }
    Err(std::io::Error::other(format!(
        "no {count} consecutive free ports found in {low}..{high}"
    ))
    .into())
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

/// How many client URLs the NATS server at `addr` advertises (`connect_urls` in the INFO it
/// sends to every new connection before any authentication): itself and every node it is
/// routed to. `None` when nothing answers with an INFO.
pub fn advertised_nats_urls(addr: SocketAddr) -> Option<usize> {
    let timeout = Duration::from_millis(500);
    let stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line).ok()?;
    let info: serde_json::Value = serde_json::from_str(line.strip_prefix("INFO ")?.trim()).ok()?;
    Some(info["connect_urls"].as_array().map_or(0, Vec::len))
}

/// The status code and body of a plain HTTP `GET path` at `addr` (a server's monitoring
/// endpoint); `None` when nothing answers.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    // HTTP/1.0: the server closes the connection after the body.
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    // "HTTP/1.1 200 OK": the code is the second word.
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The status code of a plain HTTP `GET path` at `addr`; `None` when nothing answers.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).map(|(status, _)| status)
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

/// Stops a child process as an operator or a supervisor does: SIGTERM (through `kill`, as
/// `groundwork up` sends it), then waits up to `grace` for it to exit; past that it is
/// killed. Returns how it exited: a clean stop is a success.
pub fn terminate(
    child: &mut std::process::Child,
    grace: Duration,
) -> Result<std::process::ExitStatus, TestkitError> {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    let deadline = Instant::now() + grace;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            child.kill()?;
            return Ok(child.wait()?);
        }
        // Exit poll interval, not a synchronisation sleep.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a child process: SIGTERM-free and immediate (`kill`), then reaps it.
pub fn stop(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_lie_below_the_ephemeral_range_and_are_never_handed_out_twice() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let port = free_port().unwrap();
            assert!(port < ephemeral_low() || ephemeral_low() < 11_000, "{port}");
            assert!(seen.insert(port), "{port} handed out twice");
        }
        let block = free_port_block(40).unwrap();
        assert!((block..block + 40).all(|p| !seen.contains(&p)));
        assert!((block..block + 40).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()));
    }
}
