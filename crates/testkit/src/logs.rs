//! Every log line of a test process, in memory, for tests that check that no secret reaches
//! a log: [`capture`] installs a subscriber writing there as the process's default.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

/// The captured log.
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures every log line (span events included) that `filter` (an `EnvFilter` directive
/// such as `debug,groundwork_bus=trace`) lets through, from now on, for the whole process.
/// `None` when another subscriber was installed first.
pub fn capture(filter: &str) -> Option<Captured> {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_span_events(FmtSpan::FULL)
        .with_env_filter(EnvFilter::new(filter))
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .ok()
        .map(|()| captured)
}
