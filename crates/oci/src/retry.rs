//! Retries for transient failures: a connection that broke, a registry that
//! answered 5xx, 408 or 429 (waiting as long as its `Retry-After` says, up to
//! [`MAX_RETRY_AFTER`]). Integrity failures (wrong digest or size), refusals and
//! "not found" are final: retrying cannot change them.
//!
//! One policy covers every request: the registry session
//! ([`crate::distribution::Session`]) applies it where all requests go, and
//! its pieces ([`Attempts`]) let a download resume and an upload start over
//! within the same budget, so retries never nest.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::{Error, Result};

/// The longest `Retry-After` wharf honours by waiting; a registry asking for
/// more gets an error that says so.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The `Retry-After` of an answer, in seconds (an HTTP date counts as "soon":
/// one second, since clocks may disagree).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) if !text.is_empty() => Some(Duration::from_secs(1)),
        Err(_) => None,
    }
}

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
        Error::RetryLater { after, .. } => *after <= MAX_RETRY_AFTER,
        Error::Registry { status, .. } => status.starts_with("HTTP 5") || status == "HTTP 429" || status == "HTTP 408",
        _ => false,
    }
}

/// True for answers that mean "not now": a server error, 408 Request Timeout, 429 Too Many Requests.
pub fn is_transient_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): exponential, capped, with up to 50% jitter.
    fn delay(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1 << retry.saturating_sub(1).min(16));
        let capped = exponential.min(self.max_delay);
        let jitter = std::collections::hash_map::RandomState::new().build_hasher().finish() % 1000;
        capped.mul_f64(0.5 + jitter as f64 / 2000.0)
    }

    /// A policy of one attempt: no retry.
    pub fn once() -> RetryPolicy {
        RetryPolicy { attempts: 1, ..RetryPolicy::default() }
    }

    /// The budget of one operation under this policy, its first attempt under way.
    pub fn attempts(&self) -> Attempts {
        Attempts { policy: *self, made: 1 }
    }

    /// Runs `operation` until it succeeds, fails for good, or the attempts run out.
    /// Each attempt starts from scratch (the operation reopens its source).
    pub async fn run<T, F, Fut>(&self, mut operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempts = self.attempts();
        loop {
            match operation().await {
                Err(e) if attempts.again(&e).await => {}
                other => return other,
            }
        }
    }

    /// Sends the request `build` makes, again after a busy answer (5xx, 408,
    /// 429, waiting as `Retry-After` asks) and after a failure that `failed`
    /// maps to a transient error, for requests that do not go through a
    /// registry session; the last answer is returned whatever its status.
    pub async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        failed: impl Fn(reqwest::Error) -> Error,
    ) -> Result<reqwest::Response> {
        let mut attempts = self.attempts();
        loop {
            match build().send().await {
                Ok(answer) if attempts.again_after_answer(answer.status(), retry_after(answer.headers())).await => {}
                Ok(answer) => return Ok(answer),
                Err(e) => {
                    let error = failed(e);
                    if !attempts.again(&error).await {
                        return Err(error);
                    }
                }
            }
        }
    }
}

/// What is left of a policy for one operation: the attempts made so far.
/// After a failure, [`Attempts::again`] (or [`Attempts::again_after_answer`])
/// waits and says whether to try once more.
#[derive(Debug)]
pub struct Attempts {
    policy: RetryPolicy,
    made: u32,
}

impl Attempts {
    /// After `error`: when it is transient and attempts remain, waits (as long
    /// as a `Retry-After` asked, else the backoff) and returns true; else false.
    pub async fn again(&mut self, error: &Error) -> bool {
        if !is_transient(error) {
            return false;
        }
        let asked = match error {
            Error::RetryLater { after, .. } => Some(*after),
            _ => None,
        };
        self.wait(asked, &error.to_string()).await
    }

    /// After an answer with `status` and `retry_after`: [`Attempts::again`]
    /// for answers that mean "not now" ([`is_transient_status`]) and do not
    /// ask for more than [`MAX_RETRY_AFTER`]; false for any other.
    pub async fn again_after_answer(&mut self, status: StatusCode, retry_after: Option<Duration>) -> bool {
        if !is_transient_status(status) || retry_after.is_some_and(|d| d > MAX_RETRY_AFTER) {
            return false;
        }
        self.wait(retry_after, &format!("the registry answered HTTP {}", status.as_u16())).await
    }

    async fn wait(&mut self, asked: Option<Duration>, failure: &str) -> bool {
        if self.made >= self.policy.attempts {
            return false;
        }
        let delay = match asked {
            // The registry said how long; a little jitter keeps clients apart.
            Some(after) => after + self.policy.delay(1) / 4,
            None => self.policy.delay(self.made),
        };
        let (attempt, delay_ms) = (self.made, delay.as_millis() as u64);
        tracing::warn!(attempt, error = failure, delay_ms, "transient failure; retrying");
        tokio::time::sleep(delay).await;
        self.made += 1;
        true
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

    #[tokio::test]
    async fn answers_that_mean_not_now_are_retried_within_the_budget() {
        let mut attempts = quick(3).attempts();
        assert!(!attempts.again_after_answer(StatusCode::NOT_FOUND, None).await);
        assert!(!attempts.again_after_answer(StatusCode::SERVICE_UNAVAILABLE, Some(Duration::from_secs(3600))).await);
        assert!(attempts.again_after_answer(StatusCode::SERVICE_UNAVAILABLE, None).await);
        assert!(attempts.again_after_answer(StatusCode::TOO_MANY_REQUESTS, Some(Duration::ZERO)).await);
        assert!(!attempts.again_after_answer(StatusCode::BAD_GATEWAY, None).await, "three attempts made");
        assert!(!RetryPolicy::once().attempts().again_after_answer(StatusCode::BAD_GATEWAY, None).await);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(1)));
    }

    #[test]
    fn delays_grow_and_stay_capped() {
        let p =
            RetryPolicy { attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(800) };
        assert!(p.delay(1) <= Duration::from_millis(100) && p.delay(1) >= Duration::from_millis(50));
        assert!(p.delay(9) <= Duration::from_millis(800));
    }
}
