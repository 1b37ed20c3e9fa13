//! Retries for transient failures: a connection that broke, a registry that
//! answered 5xx or 429 (waiting as long as its `Retry-After` says, up to
//! [`crate::distribution::MAX_RETRY_AFTER`]). Integrity failures (wrong digest or size), refusals and
//! "not found" are final: retrying cannot change them.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::{Error, Result};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1 means no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled each time, with jitter.
    pub base_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 4, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(3) }
    }
}

/// True for failures a later attempt may not meet.
pub fn is_transient(error: &Error) -> bool {
    match error {
        Error::Unreachable { .. } | Error::Transfer { .. } => true,
        Error::RetryLater { after, .. } => *after <= crate::distribution::MAX_RETRY_AFTER,
        Error::Registry { status, .. } => status.starts_with("HTTP 5") || status == "HTTP 429",
        _ => false,
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): exponential, capped, with up to 50% jitter.
    fn delay(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1 << retry.saturating_sub(1).min(16));
        let capped = exponential.min(self.max_delay);
        let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 1000;
        capped.mul_f64(0.5 + jitter as f64 / 2000.0)
    }

    /// Runs `operation` until it succeeds, fails for good, or the attempts run out.
    /// Each attempt starts from scratch (the operation reopens its source).
    pub async fn run<T, F, Fut>(&self, mut operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match operation().await {
                Err(e) if attempt < self.attempts && is_transient(&e) => {
                    let delay = match &e {
                        // The registry said how long; a little jitter keeps clients apart.
                        Error::RetryLater { after, .. } => *after + self.delay(1) / 4,
                        _ => self.delay(attempt),
                    };
                    tracing::warn!(attempt, error = %e, delay_ms = delay.as_millis() as u64, "transient failure; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy { attempts, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(2) }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = quick(3)
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Error::Registry { registry: "r".into(), status: "HTTP 503".into(), message: String::new() })
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn final_failures_and_exhausted_attempts_stop() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = quick(5)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::DigestMismatch { expected: "a".into(), actual: "b".into() })
            })
            .await;
        assert!(matches!(result, Err(Error::DigestMismatch { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "integrity failures are not retried");

        let calls = AtomicU32::new(0);
        let result: Result<()> = quick(3)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::Unreachable { registry: "r".into(), detail: "reset".into() })
            })
            .await;
        assert!(matches!(result, Err(Error::Unreachable { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn delays_grow_and_stay_capped() {
        let p =
            RetryPolicy { attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(800) };
        assert!(p.delay(1) <= Duration::from_millis(100) && p.delay(1) >= Duration::from_millis(50));
        assert!(p.delay(9) <= Duration::from_millis(800));
    }
}
