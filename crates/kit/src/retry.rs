//! In-process retries, one way: a [`Backoff`] policy (exponential, capped, with jitter) and
//! [`retry`], which repeats an operation while its error says a retry makes sense.
//! Deliveries are not retried here: they keep JetStream's NAK-with-delay, which survives a
//! crash. [`Backoff::delay`] is pure, so schedulers that persist their attempts (the
//! orchestrator's steps) compute the same delays without sleeping here.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crate::error::Error;

/// Whether a failure is worth trying again.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

impl Retryable for Error {
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }
}

/// When to try again: `first`, doubling up to `max`, for at most `attempts` tries (counting
/// the first) and no longer than `within` after the first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Tries in all, counting the first; `None` for no limit (then `within` bounds it).
    pub attempts: Option<u32>,
    /// Give up once this much time has passed since the first try.
    pub within: Option<Duration>,
    /// Spread each delay over [delay/2, delay] so replicas do not retry in lockstep.
    pub jitter: bool,
}

impl Backoff {
    /// A call a person or a caller is waiting for: a few quick tries.
    pub const QUICK: Self = Self {
        first: Duration::from_millis(100),
        max: Duration::from_secs(2),
        attempts: Some(4),
        within: Some(Duration::from_secs(10)),
        jitter: true,
    };

    /// Background work that must eventually happen (an event not yet stored, a rule not
    /// yet created): keeps trying for ten minutes.
    pub const BACKGROUND: Self = Self {
        first: Duration::from_millis(200),
        max: Duration::from_secs(10),
        attempts: None,
        within: Some(Duration::from_secs(600)),
        jitter: true,
    };

    /// A loop that must keep running until shutdown (a consumer reconnecting).
    pub const FOREVER: Self = Self {
        first: Duration::from_millis(250),
        max: Duration::from_secs(5),
        attempts: None,
        within: None,
        jitter: true,
    };

    /// The delay before try `attempt + 1` (`attempt` counts failures so far, from 1),
    /// without jitter: `first · 2^(attempt-1)`, capped at `max`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// [`Backoff::delay`] with this policy's jitter applied.
    pub fn jittered(&self, attempt: u32) -> Duration {
        let delay = self.delay(attempt);
        if !self.jitter || delay.is_zero() {
            return delay;
        }
        let half = delay / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Whether another try is allowed after `failures` failures, `elapsed` after the first.
    pub fn allows(&self, failures: u32, elapsed: Duration) -> bool {
        self.attempts.is_none_or(|n| failures < n) && self.within.is_none_or(|w| elapsed < w)
    }
}

/// Runs `op` until it succeeds, fails with an error that is not retryable, or `backoff`
/// gives up; each retried failure is logged at debug with `what`.
pub async fn retry<T, E, F, Fut>(backoff: Backoff, what: &str, mut op: F) -> Result<T, E>
where
    E: Retryable + Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = tokio::time::Instant::now();
    let mut failures = 0u32;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) => {
                failures += 1;
                if !e.is_retryable() || !backoff.allows(failures, started.elapsed()) {
                    return Err(e);
                }
                let delay = backoff.jittered(failures);
                tracing::debug!(what, error = %e, attempt = failures, ?delay, "retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff {
            jitter: false,
            ..Backoff::BACKGROUND
        };
        let ms: Vec<u128> = (1..=8).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10));
        for attempt in 1..10 {
            let j = Backoff::BACKGROUND.jittered(attempt);
            let d = Backoff::BACKGROUND.delay(attempt);
            assert!(j >= d / 2 && j <= d, "{j:?} vs {d:?}");
        }
    }

    #[test]
    fn limits_are_attempts_and_time() {
        let b = Backoff::QUICK;
        assert!(b.allows(3, Duration::ZERO));
        assert!(!b.allows(4, Duration::ZERO));
        assert!(!b.allows(1, Duration::from_secs(11)));
        assert!(Backoff::FOREVER.allows(u32::MAX, Duration::from_secs(1_000_000)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_what_is_retryable_and_stops_at_what_is_not() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, Error> = retry(Backoff::QUICK, "test", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 {
                Err(Error::unavailable("away"))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);

        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = retry(Backoff::QUICK, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::permission_denied("AccessDenied"))
        })
        .await;
        assert_eq!(
            result.unwrap_err().kind(),
            crate::error::ErrorKind::PermissionDenied
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a terminal error is tried once"
        );

        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = retry(Backoff::QUICK, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::unavailable("still away"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4, "QUICK tries four times");
    }
}
