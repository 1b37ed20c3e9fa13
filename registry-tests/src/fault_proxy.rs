//! A fault-injecting HTTP/1.1 proxy to put between wharf and a real registry.
//!
//! Every request is forwarded on a fresh upstream connection and answered with
//! `Connection: close`. Rules, matched in order by method and path, replace
//! the forwarding for their first `times` matches: answer with a status
//! (optionally with headers such as `Retry-After`), cut the response body short
//! and reset, flip a byte of the body, redirect, rewrite the `Location` the
//! registry sent into a relative one, replace text in the answer's head, or do
//! any of these to every other request, or drop a request header. Everything
//! that happened is logged, and the response body bytes sent are counted.
//!
//! It can also stand for a slow link ([`FaultProxy::start_throttled`]): every
//! answer waits one round trip, and the answers share one fixed rate, as the
//! requests of one client share its link (a pull by ranges four at a time gets
//! no more bandwidth than one whole pull).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a rule does instead of (or to) the forwarded exchange.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and headers, without forwarding.
    Status(u16, Vec<(String, String)>),
    /// Forward, then send only this many body bytes and reset the connection.
    CutBodyAfter(usize),
    /// Forward, but flip one byte in the middle of the response body.
    CorruptBody,
    /// Forward, send the head and half the body, then go silent for this long.
    Stall(Duration),
    /// Answer `307 Temporary Redirect` to the same path on this `host:port`.
    Redirect(String),
    /// Let the first N matching requests through, then apply the fault.
    After(usize, Box<Fault>),
    /// Answer `307 Temporary Redirect` with this `Location`, verbatim (it may be relative).
    RedirectTo(String),
    /// Forward, then rewrite the answer's `Location` (an upload URL) into a
    /// reference relative to the request's path, as some registries send it.
    RelativeLocation(Relative),
    /// Forward, then replace every occurrence of the first text in the
    /// answer's head by the second (to send a client to another proxy, say,
    /// through the realm of a `WWW-Authenticate` challenge).
    ReplaceInHead(String, String),
    /// Forward without this request header (a proxy or registry that drops
    /// `Range`, say, and answers with the whole blob).
    DropRequestHeader(String),
    /// Apply the fault to every other request of each method and path (the
    /// first, third, ...; the others pass), the query left out (an upload's
    /// `_state` changes with every answer). Counted per method and path, not
    /// across all requests: with one shared count, requests running side by
    /// side would take each other's passing turn and the outcome would depend
    /// on timing. Build it with [`Fault::every_other`].
    EveryOther(Box<Fault>, HashMap<String, usize>),
}

impl Fault {
    /// [`Fault::EveryOther`] over `fault`.
    pub fn every_other(fault: Fault) -> Fault {
        Fault::EveryOther(Box::new(fault), HashMap::new())
    }
}

/// How [`Fault::RelativeLocation`] writes the `Location`.
#[derive(Clone, Copy, Debug)]
pub enum Relative {
    /// Relative to the request's directory, no leading `/`: a request to
    /// `/v2/r/blobs/uploads/` gets `UUID?_state=...`.
    SameDirectory,
    /// Through the parent directory: `../uploads/UUID?_state=...`.
    ParentDirectory,
}

/// A rule: requests whose method matches (if given) and whose path contains `path`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// HTTP method, or any.
    pub method: Option<String>,
    /// A substring of the request path.
    pub path: String,
    /// How many matching requests get the fault (then they pass through).
    pub times: usize,
    /// The fault.
    pub fault: Fault,
}

/// A slow link: answers wait a round trip, and their bytes go out at a fixed
/// rate shared by all connections.
#[derive(Debug)]
pub struct Link {
    /// Bytes per second, for all answers together.
    pub rate: u64,
    /// Added before each answer (the round trip of a request on a kept-alive connection).
    pub round_trip: Duration,
    /// When the link is free again (the end of the bytes already scheduled).
    free_at: Mutex<Instant>,
}

/// Bytes the link schedules at once (what a 40 Mbit/s link sends in about 3 ms).
const LINK_PIECE: usize = 16 << 10;

impl Link {
    /// A link of `rate` bytes per second and `round_trip`.
    pub fn new(rate: u64, round_trip: Duration) -> Link {
        Link { rate: rate.max(1), round_trip, free_at: Mutex::new(Instant::now()) }
    }

    /// Writes `bytes` to `out` no faster than the link's rate: each piece
    /// takes its turn on the link and is written when its last byte would
    /// have crossed it.
    fn send(&self, out: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
        for piece in bytes.chunks(LINK_PIECE) {
            let crossed = {
                let mut free_at = self.free_at.lock().map_err(|_| std::io::Error::other("link lock"))?;
                let start = (*free_at).max(Instant::now());
                *free_at = start + Duration::from_secs_f64(piece.len() as f64 / self.rate as f64);
                *free_at
            };
            thread::sleep(crossed.saturating_duration_since(Instant::now()));
            out.write_all(piece)?;
        }
        Ok(())
    }
}

/// A running proxy, stopped on drop.
pub struct FaultProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    rules: Arc<Mutex<Vec<Rule>>>,
    log: Arc<Mutex<Vec<String>>>,
    body_bytes: Arc<AtomicU64>,
}

/// What every connection of one proxy shares.
struct Shared {
    upstream: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    log: Arc<Mutex<Vec<String>>>,
    body_bytes: Arc<AtomicU64>,
    link: Option<Link>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`host:port`, plain HTTP).
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_with(upstream, None)
    }

    /// [`FaultProxy::start`] behind a slow link: answers wait `link.round_trip`
    /// and share `link.rate` bytes per second (heads and bodies).
    pub fn start_throttled(upstream: &str, link: Link) -> FaultProxy {
        FaultProxy::start_with(upstream, Some(link))
    }

    fn start_with(upstream: &str, link: Option<Link>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let proxy = FaultProxy {
            port,
            stop: Arc::new(AtomicBool::new(false)),
            rules: Arc::new(Mutex::new(Vec::new())),
            log: Arc::new(Mutex::new(Vec::new())),
            body_bytes: Arc::new(AtomicU64::new(0)),
        };
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            rules: proxy.rules.clone(),
            log: proxy.log.clone(),
            body_bytes: proxy.body_bytes.clone(),
            link,
        });
        let stop = proxy.stop.clone();
        // A blocking accept (no polling delay on each connection); the drop
        // wakes it with a connection of its own.
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let shared = shared.clone();
                thread::spawn(move || {
                    if let Err(e) = serve(client, &shared) {
                        push_log(&shared.log, format!("proxy error: {e}"));
                    }
                });
            }
        });
        proxy
    }

    /// `127.0.0.1:PORT`, to use in references instead of the registry's host.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Adds a rule (rules are tried in the order added).
    pub fn add(&self, rule: Rule) {
        self.rules.lock().expect("rules lock").push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().expect("rules lock").clear();
    }

    /// One line per request: `METHOD PATH -> what happened`, with
    /// ` [Authorization]` after the path when the request carried credentials.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Forgets the requests logged so far.
    pub fn clear_log(&self) {
        self.log.lock().expect("log lock").clear();
    }

    /// Response body bytes sent to clients so far (what crossed the wire
    /// besides the heads), to count what a pull moved.
    pub fn body_bytes_sent(&self) -> u64 {
        self.body_bytes.load(Ordering::SeqCst)
    }

    /// Starts counting [`FaultProxy::body_bytes_sent`] from zero again.
    pub fn reset_body_bytes(&self) {
        self.body_bytes.store(0, Ordering::SeqCst);
    }

    /// How many requests got a fault.
    pub fn faults_served(&self) -> usize {
        self.log().iter().filter(|l| l.contains("-> fault")).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Request {
    method: String,
    path: String,
    authorized: bool,
    head: Vec<u8>,
    body: Vec<u8>,
}

fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (upstream, rules, log, body_bytes) = (&shared.upstream, &shared.rules, &shared.log, &shared.body_bytes);
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some(mut request) = read_request(&mut reader)? else { return Ok(()) };
    let fault = take_fault(rules, &request);
    let credentials = if request.authorized { " [Authorization]" } else { "" };
    let line = format!("{} {}{credentials}", request.method, request.path);
    let mut client = client;
    if let Some(Fault::Redirect(target)) = &fault {
        let response = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target}{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            request.path
        );
        client.write_all(response.as_bytes())?;
        push_log(log, format!("{line} -> fault: redirect to {target}"));
        return client.shutdown(Shutdown::Both);
    }
    if let Some(Fault::RedirectTo(location)) = &fault {
        let response = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        client.write_all(response.as_bytes())?;
        push_log(log, format!("{line} -> fault: redirect to {location}"));
        return client.shutdown(Shutdown::Both);
    }
    if let Some(Fault::Status(code, headers)) = &fault {
        let mut response = format!("HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\nConnection: close\r\n");
        for (k, v) in headers {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        client.write_all(response.as_bytes())?;
        push_log(log, format!("{line} -> fault: status {code}"));
        return client.shutdown(Shutdown::Both);
    }
    if let Some(Fault::DropRequestHeader(name)) = &fault {
        request.head = without_header(&request.head, name);
    }
    let (mut head, mut body) = forward(upstream, &request)?;
    match fault {
        Some(Fault::RelativeLocation(style)) => match relative_location(&head, &request.path, style) {
            Some((rewritten, location)) => {
                head = rewritten;
                push_log(log, format!("{line} -> fault: Location rewritten to {location}"));
            }
            None => push_log(log, format!("{line} -> forwarded (no Location to rewrite)")),
        },
        Some(Fault::ReplaceInHead(from, to)) => {
            let text = String::from_utf8_lossy(&head).into_owned();
            if text.contains(&from) {
                head = text.replace(&from, &to).into_bytes();
                push_log(log, format!("{line} -> fault: {from} replaced by {to} in the head"));
            } else {
                push_log(log, format!("{line} -> forwarded"));
            }
        }
        Some(Fault::CutBodyAfter(n)) => {
            client.write_all(&head)?;
            client.write_all(&body[..n.min(body.len())])?;
            body_bytes.fetch_add(n.min(body.len()) as u64, Ordering::SeqCst);
            client.flush()?;
            push_log(log, format!("{line} -> fault: body cut after {n} of {} bytes", body.len()));
            return client.shutdown(Shutdown::Both);
        }
        Some(Fault::Stall(pause)) => {
            let half = body.len() / 2;
            client.write_all(&head)?;
            client.write_all(&body[..half])?;
            client.flush()?;
            push_log(log, format!("{line} -> fault: stalled after {half} bytes"));
            thread::sleep(pause);
            client.write_all(&body[half..])?;
            client.flush()?;
            body_bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
            return client.shutdown(Shutdown::Both);
        }
        Some(Fault::CorruptBody) if !body.is_empty() => {
            let middle = body.len() / 2;
            body[middle] ^= 0xff;
            push_log(log, format!("{line} -> fault: body byte {middle} flipped"));
        }
        Some(Fault::DropRequestHeader(name)) => push_log(log, format!("{line} -> fault: forwarded without {name}")),
        _ => push_log(log, format!("{line} -> forwarded")),
    }
    match &shared.link {
        Some(link) => {
            thread::sleep(link.round_trip);
            link.send(&mut client, &head)?;
            link.send(&mut client, &body)?;
        }
        None => {
            client.write_all(&head)?;
            client.write_all(&body)?;
        }
    }
    body_bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
    client.flush()?;
    client.shutdown(Shutdown::Both)
}

/// A request head without the header `name` (any case).
fn without_header(head: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    text.split_inclusive("\r\n")
        .filter(|line| line.split_once(':').is_none_or(|(k, _)| !k.trim().eq_ignore_ascii_case(name)))
        .collect::<String>()
        .into_bytes()
}

fn push_log(log: &Mutex<Vec<String>>, line: String) {
    if let Ok(mut l) = log.lock() {
        l.push(line);
    }
}

fn take_fault(rules: &Mutex<Vec<Rule>>, request: &Request) -> Option<Fault> {
    let mut rules = rules.lock().ok()?;
    let rule = rules.iter_mut().find(|r| {
        r.times > 0 && r.method.as_deref().is_none_or(|m| m == request.method) && request.path.contains(&r.path)
    })?;
    match &mut rule.fault {
        Fault::After(pass, inner) => {
            if *pass > 0 {
                *pass -= 1;
                return None;
            }
            let inner = (**inner).clone();
            rule.times -= 1;
            Some(inner)
        }
        Fault::EveryOther(inner, seen) => {
            let path = request.path.split('?').next().unwrap_or_default();
            let count = seen.entry(format!("{} {path}", request.method)).or_insert(0);
            *count += 1;
            if *count % 2 == 0 {
                return None;
            }
            let inner = (**inner).clone();
            rule.times -= 1;
            Some(inner)
        }
        fault => {
            let fault = fault.clone();
            rule.times -= 1;
            Some(fault)
        }
    }
}

/// The response head with its `Location` rewritten relative to `request_path`
/// in `style`, and the new value; `None` when there is no `Location` or it is
/// not under the request's directory.
fn relative_location(head: &[u8], request_path: &str, style: Relative) -> Option<(Vec<u8>, String)> {
    let text = String::from_utf8_lossy(head);
    let mut rewritten = None;
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            out.push_str(line);
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("location") {
            out.push_str(line);
            continue;
        }
        let value = value.trim();
        // An absolute URL loses its scheme and host first: `/v2/...`.
        let path = match value.split_once("://") {
            Some((_, rest)) => &rest[rest.find('/')?..],
            None => value,
        };
        let directory = &request_path[..=request_path.split('?').next()?.rfind('/')?];
        let relative = match style {
            Relative::SameDirectory => path.strip_prefix(directory)?.to_string(),
            Relative::ParentDirectory => {
                let parent = &directory[..=directory[..directory.len() - 1].rfind('/')?];
                format!("../{}", path.strip_prefix(parent)?)
            }
        };
        out.push_str(&format!("Location: {relative}\r\n"));
        rewritten = Some(relative);
    }
    rewritten.map(|r| (out.into_bytes(), r))
}

/// Reads a request head and its body (Content-Length or chunked, re-framed as Content-Length).
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let Some(lines) = read_head(reader)? else { return Ok(None) };
    let mut parts = lines[0].split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let body = read_body(reader, &lines[1..], true)?;
    let mut head = format!("{}\r\n", lines[0]);
    for line in &lines[1..] {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if !matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding" | "keep-alive") {
            head.push_str(&format!("{line}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let authorized = header(&lines[1..], "authorization").is_some();
    Ok(Some(Request { method, path, authorized, head: head.into_bytes(), body }))
}

/// Sends the request upstream on a new connection; returns the response head
/// (re-framed with Content-Length and `Connection: close`) and its body.
fn forward(upstream: &str, request: &Request) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut conn = TcpStream::connect(upstream)?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    conn.write_all(&request.head)?;
    conn.write_all(&request.body)?;
    let mut reader = BufReader::new(conn);
    let lines = read_head(&mut reader)?.ok_or_else(|| std::io::Error::other("upstream closed without answering"))?;
    let no_body = request.method == "HEAD" || lines[0].contains(" 204 ") || lines[0].contains(" 304 ");
    let body = if no_body { Vec::new() } else { read_body(&mut reader, &lines[1..], false)? };
    let mut head = format!("{}\r\n", lines[0]);
    for line in &lines[1..] {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        let keep_length = no_body && name == "content-length";
        if keep_length || !matches!(name.as_str(), "connection" | "content-length" | "transfer-encoding" | "keep-alive")
        {
            head.push_str(&format!("{line}\r\n"));
        }
    }
    if !no_body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    Ok((head.into_bytes(), body))
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(if lines.is_empty() { None } else { Some(lines) });
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn header<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
    headers.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn read_body(reader: &mut impl BufRead, headers: &[String], is_request: bool) -> std::io::Result<Vec<u8>> {
    if header(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::other(format!("bad chunk size {size_line:?}: {e}")))?;
            if size == 0 {
                let mut trailer = String::new();
                while reader.read_line(&mut trailer)? > 2 {
                    trailer.clear();
                }
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    }
    match header(headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => {
            let mut body = vec![0; n];
            reader.read_exact(&mut body)?;
            Ok(body)
        }
        None if is_request => Ok(Vec::new()),
        None => {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            Ok(body)
        }
    }
}
