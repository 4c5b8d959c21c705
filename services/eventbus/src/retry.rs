//! Retry policies of targets and the backoff between attempts: exponential from a
//! configurable base delay, capped, with jitter so that failed deliveries do not come
//! back in lockstep. Redelivery itself is JetStream's (a NAK with delay on the `TARGETS`
//! consumer), so pending retries survive a restart of the event bus.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, validation};

pub const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 185;
pub const DEFAULT_MAX_EVENT_AGE_SECS: u32 = 86_400;

/// EventBridge's per-target retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age_in_seconds: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: DEFAULT_MAX_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds: DEFAULT_MAX_EVENT_AGE_SECS,
        }
    }
}

impl RetryPolicy {
    /// Validates the optional values of a request (index is the target's, 1-based).
    pub fn from_request(
        index: usize,
        retries: Option<i32>,
        age: Option<i32>,
    ) -> Result<Self, Error> {
        let check = |value: Option<i32>, min: i32, max: i32, field: &str, default: u32| match value
        {
            None => Ok(default),
            Some(v) if v < min => Err(validation(format!(
                "1 validation error detected: Value '{v}' at 'targets.{index}.member.retryPolicy.{field}' failed to satisfy constraint: Member must have value greater than or equal to {min}"
            ))),
            Some(v) if v > max => Err(validation(format!(
                "1 validation error detected: Value '{v}' at 'targets.{index}.member.retryPolicy.{field}' failed to satisfy constraint: Member must have value less than or equal to {max}"
            ))),
            Some(v) => Ok(u32::try_from(v).unwrap_or(default)),
        };
        Ok(Self {
            maximum_retry_attempts: check(
                retries,
                0,
                185,
                "maximumRetryAttempts",
                DEFAULT_MAX_RETRY_ATTEMPTS,
            )?,
            maximum_event_age_in_seconds: check(
                age,
                60,
                86_400,
                "maximumEventAgeInSeconds",
                DEFAULT_MAX_EVENT_AGE_SECS,
            )?,
        })
    }
}

/// Delays between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1 for the first try): the base
    /// doubled `attempt - 1` times, capped, then a random point in its upper half.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1 << exponent).min(self.max);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Why a delivery went to the DLQ after being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    MaximumRetryAttempts,
    MaximumEventAgeInSeconds,
}

impl Exhausted {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaximumRetryAttempts => "MaximumRetryAttempts",
            Self::MaximumEventAgeInSeconds => "MaximumEventAgeInSeconds",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(b.delay(40) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn policy_limits_are_eventbridge_s() {
        assert_eq!(
            RetryPolicy::from_request(1, None, None).unwrap(),
            RetryPolicy::default()
        );
        assert!(RetryPolicy::from_request(1, Some(186), None).is_err());
        assert!(RetryPolicy::from_request(1, Some(-1), None).is_err());
        assert!(RetryPolicy::from_request(1, None, Some(59)).is_err());
        assert!(RetryPolicy::from_request(1, None, Some(86_401)).is_err());
        assert_eq!(
            RetryPolicy::from_request(1, Some(0), Some(60)).unwrap(),
            RetryPolicy {
                maximum_retry_attempts: 0,
                maximum_event_age_in_seconds: 60
            }
        );
    }
}
