//! Bounded exponential backoff for one notification on one channel.

use std::future::Future;
use std::time::Duration;

/// How often and how patiently a delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts, counting the first (at least 1).
    pub attempts: u32,
    /// The delay before the second attempt; it doubles for each further one.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    pub fn new(attempts: u32, base: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            base,
            max: Duration::from_secs(30),
        }
    }

    /// The delay after failed attempt `n` (1-based).
    pub fn delay_after(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Why one attempt failed, and whether another may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub message: String,
    pub retryable: bool,
}

impl AttemptError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn terminal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Runs `attempt` until it succeeds, fails terminally or the attempts run out; returns
/// the outcome and how many attempts were made.
pub async fn with_retries<F, Fut>(
    policy: RetryPolicy,
    mut attempt: F,
) -> (Result<(), AttemptError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), AttemptError>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt().await {
            Ok(()) => return (Ok(()), n),
            Err(e) if !e.retryable || n >= policy.attempts => return (Err(e), n),
            Err(e) => {
                let delay = policy.delay_after(n);
                tracing::debug!(attempt = n, error = %e.message, delay_ms = delay.as_millis() as u64, "notification attempt failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::new(10, Duration::from_millis(500));
        let delays: Vec<u64> = (1..=8)
            .map(|n| p.delay_after(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_failures_are_retried_until_the_attempts_run_out() {
        let calls = AtomicU32::new(0);
        let (result, attempts) = with_retries(RetryPolicy::new(4, Duration::from_secs(1)), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(AttemptError::retryable("503")) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(attempts, 4);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_terminal_failure_stops_at_once_and_success_after_a_retry_counts_two() {
        let (result, attempts) =
            with_retries(RetryPolicy::new(5, Duration::from_secs(1)), || async {
                Err(AttemptError::terminal("404"))
            })
            .await;
        assert_eq!(result.unwrap_err().message, "404");
        assert_eq!(attempts, 1);

        let calls = AtomicU32::new(0);
        let (result, attempts) = with_retries(RetryPolicy::new(5, Duration::from_secs(1)), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(AttemptError::retryable("timeout"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(attempts, 2);
    }
}
