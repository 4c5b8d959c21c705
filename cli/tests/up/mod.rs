//! `groundwork up` run as a person runs it, for the tests that start the local stack.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// The ports of a stack a test starts, all below the range the system hands out for
/// outgoing connections (testkit's `free_port_block`): a fixed port inside it (the default
/// 50051–50055) is now and then held by some connection when `up` starts.
pub struct Ports {
    /// The event bus's; the other services follow, replicas 10 further (`--services-port`).
    pub services: u16,
    /// The first NATS client port (`--nats-port`), the first route port, moto's.
    pub nats: u16,
    pub routes: u16,
    pub moto: u16,
}

impl Ports {
    pub fn pick() -> Self {
        let first = groundwork_testkit::process::free_port_block(40).unwrap();
        Self {
            services: first,
            nats: first + 20,
            routes: first + 25,
            moto: first + 30,
        }
    }

    /// `up`'s flags for these ports.
    pub fn args(&self) -> Vec<String> {
        [
            ("--services-port", self.services),
            ("--nats-port", self.nats),
            ("--nats-route-port", self.routes),
            ("--moto-port", self.moto),
        ]
        .into_iter()
        .flat_map(|(flag, port)| [flag.to_owned(), port.to_string()])
        .collect()
    }

    /// `up`'s flags for these ports and the scaled-out shape: three NATS nodes, two
    /// replicas of each service.
    pub fn cluster_args(&self) -> Vec<String> {
        let shape = ["--nats-cluster", "3", "--replicas", "2"].map(String::from);
        [shape.to_vec(), self.args()].concat()
    }

    /// The URL of replica `replica` of the service `offset` after the event bus.
    pub fn url(&self, offset: u16, replica: u16) -> String {
        format!(
            "https://127.0.0.1:{}",
            self.services + offset + 10 * replica
        )
    }
}

/// `groundwork up`, stopped with SIGTERM (so that it stops what it started) when dropped.
pub struct Up {
    pub child: Child,
    /// Every line it prints, as it prints them.
    pub lines: Receiver<String>,
    /// Where its processes log (`<dir>/.groundwork/logs`).
    pub logs: std::path::PathBuf,
}

impl Up {
    /// Starts `groundwork up ARGS` in `dir` and waits until it says the stack is up;
    /// returns it and what it printed until then.
    pub fn start(dir: &Path, args: &[String], timeout: Duration) -> (Self, Vec<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_groundwork"))
            .arg("up")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let up = Self {
            child,
            lines,
            logs: dir.join(".groundwork/logs"),
        };
        let printed = up.until(timeout, |l| l.contains("press Ctrl-C"), "come up");
        (up, printed)
    }

    /// Reads lines until one satisfies `done`; returns the lines before it. Panics, with
    /// them, after `timeout`.
    pub fn until(&self, timeout: Duration, done: impl Fn(&str) -> bool, what: &str) -> Vec<String> {
        let mut printed = Vec::new();
        loop {
            match self.lines.recv_timeout(timeout) {
                Ok(line) if done(&line) => return printed,
                Ok(line) => printed.push(line),
                Err(e) => panic!(
                    "groundwork up did not {what} ({e}); it printed:\n{printed:#?}\n{}",
                    self.errors_in_logs()
                ),
            }
        }
    }

    /// The lines of its processes' logs that report an error or a warning, for a failure's
    /// message.
    pub fn errors_in_logs(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(&self.logs) else {
            return out;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for line in text
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("WARN") || l.contains("error:"))
                .take(10)
            {
                out.push_str(&format!(
                    "{}: {line}\n",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
        out
    }

    /// The pid of the process `up` runs as `name` (its executable) whose environment or
    /// command line holds `needle` (from /proc). Waits up to 10 s, as `up` may be between
    /// a restart's exit and start; panics with the errors in the logs when there is none.
    pub fn process(&self, name: &str, needle: &str) -> u32 {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = self.find_process(name, needle) {
                return pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "up runs no {name} with {needle:?} (10 s); errors in the logs:\n{}",
                self.errors_in_logs()
            );
            // Polling /proc for a restarted child, not a synchronisation sleep.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn find_process(&self, name: &str, needle: &str) -> Option<u32> {
        let parent = self.child.id();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            // A binary rebuilt while it runs reads as `<name> (deleted)`.
            let exe = std::fs::read_link(entry.path().join("exe")).ok();
            let runs_name = exe.is_some_and(|e| {
                e.file_name()
                    .is_some_and(|f| f.to_string_lossy().trim_end_matches(" (deleted)") == name)
            });
            let mut environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            environ.extend(std::fs::read(entry.path().join("cmdline")).unwrap_or_default());
            if ppid == Some(parent)
                && runs_name
                && String::from_utf8_lossy(&environ).contains(needle)
            {
                return Some(pid);
            }
        }
        None
    }

    /// Stops process `pid` as an operator would (SIGTERM).
    pub fn terminate(pid: u32) {
        assert!(
            Command::new("kill")
                .arg(pid.to_string())
                .status()
                .unwrap()
                .success()
        );
    }

    /// Kills process `pid` hard.
    pub fn kill_hard(pid: u32) {
        assert!(
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
