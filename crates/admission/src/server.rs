//! The webhook's HTTPS server (hyper over rustls): `/validate`, `/mutate`,
//! `/healthz`, `/readyz` and `/metrics` (Prometheus text).
//!
//! Bodies over [`MAX_BODY`] (more than the API server sends) are refused with 413,
//! unreadable reviews with 400 and a message; everything else is answered with an
//! AdmissionReview, in time: the answer is due [`crate::state::ANSWER_MARGIN`] before the
//! API server gives up ([`crate::state::Settings::webhook_timeout`], counted from the
//! request's arrival), and what is not judged by then is denied with the reason.
//!
//! [`Server::watch_policy`] re-reads the policy file on SIGHUP and whenever it changes
//! (another file behind its path, as after a ConfigMap's `..data` swap, or a new
//! modification time or size); an invalid new policy leaves the old one in force.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::file_stamp::file_stamp;
use crate::policy::Policy;
use crate::state::Admission;

/// The largest request body accepted (8 MiB); larger ones get 413. The API server sends at
/// most its own request limit (3 MiB) for `object` and as much again for `oldObject` (an
/// UPDATE), JSON-escaped: a review it sends is always read, never refused (with
/// `failurePolicy: Ignore` a refusal would admit the pod).
pub const MAX_BODY: usize = 8 << 20;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 15] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Request counters and the latency histogram.
#[derive(Default)]
struct Metrics {
    /// Requests by (path, status code).
    requests: std::sync::Mutex<std::collections::BTreeMap<(String, u16), u64>>,
    /// Cumulative bucket counts of review latencies.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    fn record(&self, path: &str, status: StatusCode, elapsed: Option<f64>) {
        let mut requests = match self.requests.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        *requests.entry((path.to_string(), status.as_u16())).or_default() += 1;
        drop(requests);
        if let Some(secs) = elapsed {
            for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
                if secs <= bound {
                    bucket.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.count.fetch_add(1, Ordering::Relaxed);
            self.sum_micros.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        }
    }

    fn render(&self, admission: &Admission) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        out.push_str("# HELP wharf_admission_requests_total HTTP requests by path and status.\n");
        out.push_str("# TYPE wharf_admission_requests_total counter\n");
        let requests = match self.requests.lock() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        };
        for ((path, code), n) in requests {
            let _ = writeln!(out, "wharf_admission_requests_total{{path=\"{path}\",code=\"{code}\"}} {n}");
        }
        let c = &admission.counters;
        let counter = |out: &mut String, name: &str, help: &str, labels: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name}{labels} {}", v.load(Ordering::Relaxed));
        };
        let _ = writeln!(
            out,
            "# HELP wharf_admission_verdicts_total Image verdicts.\n# TYPE wharf_admission_verdicts_total counter"
        );
        let _ = writeln!(
            out,
            "wharf_admission_verdicts_total{{verdict=\"allowed\"}} {}",
            c.images_allowed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "wharf_admission_verdicts_total{{verdict=\"denied\"}} {}",
            c.images_denied.load(Ordering::Relaxed)
        );
        counter(&mut out, "wharf_admission_cache_hits_total", "Verdicts served from the cache.", "", &c.cache_hits);
        counter(&mut out, "wharf_admission_cache_misses_total", "Verdicts looked up.", "", &c.cache_misses);
        counter(&mut out, "wharf_admission_registry_errors_total", "Registry errors.", "", &c.registry_errors);
        counter(&mut out, "wharf_admission_policy_reloads_total", "Policies reloaded.", "", &c.policy_reloads);
        counter(
            &mut out,
            "wharf_admission_policy_reload_failures_total",
            "Reloads refused (invalid policy; the old one stays).",
            "",
            &c.policy_reload_failures,
        );
        let _ = writeln!(
            out,
            "# HELP wharf_admission_policy_generation The policy in force.\n\
             # TYPE wharf_admission_policy_generation gauge\nwharf_admission_policy_generation {}",
            admission.generation()
        );
        let _ = writeln!(
            out,
            "# HELP wharf_admission_cache_entries Verdicts cached and lookups under way.\n\
             # TYPE wharf_admission_cache_entries gauge\nwharf_admission_cache_entries {}",
            admission.cached_verdicts()
        );
        out.push_str("# HELP wharf_admission_review_seconds Time to answer an AdmissionReview.\n");
        out.push_str("# TYPE wharf_admission_review_seconds histogram\n");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "wharf_admission_review_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "wharf_admission_review_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "wharf_admission_review_seconds_sum {sum}");
        let _ = writeln!(out, "wharf_admission_review_seconds_count {count}");
        out
    }
}

/// How long a client may take over the TLS handshake, the request head and
/// the body, each, unless [`Server::client_timeout`] says otherwise: a slow or
/// silent client gets its connection closed instead of holding it.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound server, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
    /// A separate plain-HTTP listener for `/metrics` (and the health checks), if any.
    metrics_listener: Option<TcpListener>,
}

struct State {
    admission: Admission,
    metrics: Metrics,
    /// Whether the HTTPS listener serves `/metrics` (not when a metrics listener has it).
    metrics_here: bool,
    client_timeout: Duration,
}

impl Server {
    /// Binds `addr` with the TLS configuration.
    pub async fn bind(addr: SocketAddr, tls: rustls::ServerConfig, admission: Admission) -> Result<Server> {
        let listener = TcpListener::bind(addr).await.map_err(|e| Error::io("cannot listen", addr.to_string(), e))?;
        Ok(Server {
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
            state: Arc::new(State {
                admission,
                metrics: Metrics::default(),
                metrics_here: true,
                client_timeout: DEFAULT_CLIENT_TIMEOUT,
            }),
            metrics_listener: None,
        })
    }

    /// Serves `/metrics` (and `/healthz`, `/readyz`) on `addr` over plain
    /// HTTP instead of the HTTPS listener (`--metrics-listen`). Call before [`Server::run`].
    pub async fn metrics_on(mut self, addr: SocketAddr) -> Result<Server> {
        let listener = TcpListener::bind(addr).await.map_err(|e| Error::io("cannot listen", addr.to_string(), e))?;
        self.metrics_listener = Some(listener);
        self.state_mut()?.metrics_here = false;
        Ok(self)
    }

    /// Sets how long a client may take over each of the TLS handshake, the
    /// request head and the body. Call before [`Server::run`].
    pub fn client_timeout(mut self, timeout: Duration) -> Result<Server> {
        self.state_mut()?.client_timeout = timeout;
        Ok(self)
    }

    fn state_mut(&mut self) -> Result<&mut State> {
        Arc::get_mut(&mut self.state)
            .ok_or_else(|| Error::Usage("internal: the server's settings changed after it started".into()))
    }

    /// The address of the metrics listener, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address it listens on (for port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|e| Error::io("cannot read the listening address", "", e))
    }

    /// Re-reads the policy at `path` on SIGHUP (Unix) and whenever it changes (see
    /// `file_stamp`; checked every `every`), reporting each outcome to `on_event`. Must be
    /// called inside the runtime; the SIGHUP handler is installed before it returns.
    pub fn watch_policy(
        &self,
        path: PathBuf,
        every: Duration,
        on_event: impl Fn(ReloadEvent) + Send + 'static,
    ) -> Result<()> {
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| Error::io("cannot install the SIGHUP handler", "", e))?;
        let state = self.state.clone();
        let mut seen = file_stamp(&path);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let cause = tokio::select! {
                    _ = hangup.recv() => ReloadCause::Signal,
                    _ = tick.tick() => ReloadCause::FileChanged,
                };
                #[cfg(not(unix))]
                let cause = {
                    tick.tick().await;
                    ReloadCause::FileChanged
                };
                let stamp = file_stamp(&path);
                if cause == ReloadCause::FileChanged && stamp == seen {
                    continue;
                }
                seen = stamp;
                on_event(reload(&state.admission, &path, cause));
            }
        });
        Ok(())
    }

    /// Serves until the task is dropped; a failed connection never stops the server.
    pub async fn run(mut self) -> Result<()> {
        if let Some(listener) = self.metrics_listener.take() {
            tokio::spawn(serve_metrics(listener, self.state.clone()));
        }
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            };
            let acceptor = self.acceptor.clone();
            let state = self.state.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(state.client_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::debug!("TLS handshake with {peer} failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake with {peer} timed out");
                        return;
                    }
                };
                serve_connection(TokioIo::new(tls), state, peer, Listener::Webhook).await;
            });
        }
    }
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    /// HTTPS: reviews, health, and metrics unless they were moved.
    Webhook,
    /// Plain HTTP (`--metrics-listen`): metrics and health only.
    Metrics,
}

/// Serves one connection, closing it when the client is too slow to send a request head.
async fn serve_connection<I>(io: I, state: Arc<State>, peer: SocketAddr, listener: Listener)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let timeout = state.client_timeout;
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, req, listener).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service);
    if let Err(e) = connection.await {
        tracing::debug!("connection with {peer} ended: {e}");
    }
}

/// The plain-HTTP metrics listener: `/metrics`, `/healthz`, `/readyz`.
async fn serve_metrics(listener: TcpListener, state: Arc<State>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let state = state.clone();
                tokio::spawn(serve_connection(TokioIo::new(stream), state, peer, Listener::Metrics));
            }
            Err(e) => tracing::warn!("metrics accept failed: {e}"),
        }
    }
}

/// Why a policy was (re-)read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadCause {
    /// The process got SIGHUP.
    Signal,
    /// The file changed (another file behind the path, or its modification time or size).
    FileChanged,
}

/// What a reload did, for the caller to log.
#[derive(Debug)]
pub enum ReloadEvent {
    /// The new policy is in force under this generation.
    Reloaded {
        /// What triggered it.
        cause: ReloadCause,
        /// The new policy generation.
        generation: u64,
    },
    /// The new policy was refused; the old one (this generation) stays in force.
    Refused {
        /// What triggered it.
        cause: ReloadCause,
        /// Why the new policy cannot be used.
        error: Error,
        /// The generation still in force.
        generation: u64,
    },
}

/// Reads the policy at `path` and puts it in force, or reports why not.
fn reload(admission: &Admission, path: &Path, cause: ReloadCause) -> ReloadEvent {
    let loaded = Policy::load(path).inspect_err(|_| {
        // `Admission::reload` counts the policies it refuses; an unreadable file is counted here.
        admission.counters.policy_reload_failures.fetch_add(1, Ordering::Relaxed);
    });
    match loaded.and_then(|p| admission.reload(p)) {
        Ok(generation) => ReloadEvent::Reloaded { cause, generation },
        Err(error) => ReloadEvent::Refused { cause, error, generation: admission.generation() },
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

async fn handle(state: &State, req: Request<Incoming>, listener: Listener) -> Response<Full<Bytes>> {
    let start = Instant::now();
    let arrived = tokio::time::Instant::now();
    let path = req.uri().path().to_string();
    let metrics_here = listener == Listener::Metrics || state.metrics_here;
    let response = match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz" | "/readyz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/metrics") if metrics_here => text(StatusCode::OK, state.metrics.render(&state.admission)),
        (&Method::GET, "/metrics") => text(StatusCode::NOT_FOUND, "metrics are served on the metrics listener\n"),
        (_, "/validate" | "/mutate") if listener == Listener::Metrics => {
            text(StatusCode::NOT_FOUND, "reviews are served on the HTTPS listener\n")
        }
        (&Method::POST, "/validate" | "/mutate") => review(state, req, path == "/mutate", arrived).await,
        (_, "/validate" | "/mutate") => text(StatusCode::METHOD_NOT_ALLOWED, "POST an AdmissionReview\n"),
        _ => text(StatusCode::NOT_FOUND, "not found: use /validate, /mutate, /healthz, /readyz or /metrics\n"),
    };
    let known = matches!(path.as_str(), "/validate" | "/mutate" | "/healthz" | "/readyz" | "/metrics");
    let label = if known { path.as_str() } else { "other" };
    let elapsed = matches!(path.as_str(), "/validate" | "/mutate").then(|| start.elapsed().as_secs_f64());
    state.metrics.record(label, response.status(), elapsed);
    response
}

/// Reads and answers a review that `arrived` then (its answer is due
/// [`Admission::answer_within`] after).
async fn review(
    state: &State,
    req: Request<Incoming>,
    mutate: bool,
    arrived: tokio::time::Instant,
) -> Response<Full<Bytes>> {
    let read_by = (arrived + state.admission.answer_within()).min(arrived + state.client_timeout);
    let read = tokio::time::timeout_at(read_by, Limited::new(req.into_body(), MAX_BODY).collect());
    let Ok(read) = read.await else {
        return text(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive in time (within {} s, and before the answer is due)\n",
                state.client_timeout.as_secs_f64()
            ),
        );
    };
    let body = match read {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return text(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body exceeds {MAX_BODY} bytes\n"));
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}\n")),
    };
    match state.admission.review_arrived(&body, mutate, arrived).await {
        Ok(answer) => match serde_json::to_vec(&answer) {
            Ok(json) => {
                let mut r = Response::new(Full::new(Bytes::from(json)));
                r.headers_mut()
                    .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
                r
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}\n")),
        },
        Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}
