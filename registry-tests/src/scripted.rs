//! A scripted HTTP/1.1 server, for tests where the peer is the attacker: a
//! registry whose challenge names a realm of its choosing, a token realm or a
//! wkg metadata host that streams an endless body. Every request is recorded
//! (method, path, headers: what a credential leak would show) and answered by
//! the test's closure; each connection carries one request and is closed.
//!
//! Also here: [`non_loopback_ip`], an address of this machine that is not on
//! loopback (to stand for a host "off loopback" that the test still
//! controls), and [`run_with_peak_rss`], a command's run with its peak memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::Run;

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`...
    pub method: String,
    /// The request target, query included.
    pub path: String,
    /// The headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header, if the request carried one.
    pub fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }
}

/// How the server answers a request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status, these headers and this body (`Content-Length` is added).
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// This status and these headers, then a chunked body: `chunk` again and
    /// again, until `limit` bytes are sent or the client hangs up. The limit
    /// only keeps a broken client from eating the machine: it is far beyond
    /// any cap wharf should apply.
    Endless {
        /// The status.
        status: u16,
        /// Headers (`Transfer-Encoding: chunked` is added).
        headers: Vec<(String, String)>,
        /// What the body repeats.
        chunk: Vec<u8>,
        /// Bytes after which the server stops anyway.
        limit: u64,
    },
}

impl Answer {
    /// `status` with headers and no body.
    pub fn status(status: u16, headers: &[(&str, &str)]) -> Answer {
        Answer::Full(status, headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), Vec::new())
    }

    /// `401` with one `WWW-Authenticate` challenge.
    pub fn challenge(challenge: &str) -> Answer {
        Answer::status(401, &[("WWW-Authenticate", challenge)])
    }
}

type Script = dyn Fn(&Request) -> Answer + Send + Sync;

/// A running scripted server, stopped on drop.
pub struct ScriptedServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    body_bytes_sent: Arc<AtomicU64>,
}

impl ScriptedServer {
    /// Starts a server on a free port of `ip` (`127.0.0.1`, or
    /// [`non_loopback_ip`]) answering each request with `script`.
    pub fn start(ip: IpAddr, script: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> ScriptedServer {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind a scripted server on {ip}: {e}"));
        let address = listener.local_addr().expect("scripted server address");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let server = ScriptedServer {
            address,
            stop: Arc::new(AtomicBool::new(false)),
            requests: Arc::new(Mutex::new(Vec::new())),
            body_bytes_sent: Arc::new(AtomicU64::new(0)),
        };
        let script: Arc<Script> = Arc::new(script);
        let (stop, requests, sent) = (server.stop.clone(), server.requests.clone(), server.body_bytes_sent.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (script, requests, sent) = (script.clone(), requests.clone(), sent.clone());
                        thread::spawn(move || {
                            let _ = client.set_nonblocking(false);
                            let _ = serve(client, script.as_ref(), &requests, &sent);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        server
    }

    /// `IP:PORT` (an IPv6 address in brackets).
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Body bytes sent by [`Answer::Endless`] answers so far.
    pub fn endless_bytes_sent(&self) -> u64 {
        self.body_bytes_sent.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(client: TcpStream, script: &Script, requests: &Mutex<Vec<Request>>, sent: &AtomicU64) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    // A TLS ClientHello (wharf tries TLS first on loopback): hang up, as a
    // plain-HTTP server does, so the client falls back to plain HTTP.
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 || first[0] == 0x16 {
        return Ok(());
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let request = Request { method, path, headers };
    let length: u64 = request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
    if let Ok(mut log) = requests.lock() {
        log.push(request.clone());
    }
    let mut out = client;
    match script(&request) {
        Answer::Full(status, headers, body) => {
            write_head(&mut out, status, &headers, &format!("Content-Length: {}", body.len()))?;
            out.write_all(&body)?;
        }
        Answer::Endless { status, headers, chunk, limit } => {
            write_head(&mut out, status, &headers, "Transfer-Encoding: chunked")?;
            let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat();
            while sent.load(Ordering::SeqCst) < limit {
                out.write_all(&framed)?;
                sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
            out.write_all(b"0\r\n\r\n")?;
        }
    }
    out.flush()
}

fn write_head(out: &mut TcpStream, status: u16, headers: &[(String, String)], framing: &str) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} Scripted\r\nConnection: close\r\n{framing}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())
}

/// An IPv4 address of this machine that is not on loopback: the source
/// address the kernel picks towards a documentation address (a UDP
/// `connect` sends nothing). Servers bound to it are reached over a real
/// interface, so wharf must treat them as "off loopback".
pub fn non_loopback_ip() -> IpAddr {
    for target in ["192.0.2.1:9", "198.51.100.1:9", "10.255.255.1:9", "8.8.8.8:53"] {
        let Ok(socket) = UdpSocket::bind("0.0.0.0:0") else { continue };
        if socket.connect(target).is_err() {
            continue;
        }
        if let Ok(local) = socket.local_addr()
            && !local.ip().is_loopback()
            && !local.ip().is_unspecified()
        {
            return local.ip();
        }
    }
    panic!("this test needs a network interface besides loopback (none has a route to a non-loopback address)");
}

/// Runs `cmd` (stdin from `stdin`) to completion, within two minutes, and
/// returns its outcome with its peak resident memory in KiB (the kernel's
/// `VmHWM`, read while it runs; a lower bound, exact to the last read).
pub fn run_with_peak_rss(mut cmd: Command, stdin: &str) -> (Run, u64) {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let read_all = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read_all(Box::new(child.stdout.take().expect("piped stdout")));
    let err = read_all(Box::new(child.stderr.take().expect("piped stderr")));
    let status_file = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak_kib = 0;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file).ok().as_deref().and_then(vm_hwm_kib) {
            peak_kib = peak_kib.max(hwm);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{desc} did not end within 2 minutes (peak memory so far {peak_kib} KiB)");
            }
            Ok(None) => thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("waiting for {desc}: {e}"),
        }
    };
    let code = {
        use std::os::unix::process::ExitStatusExt;
        status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
    };
    (Run { code, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }, peak_kib)
}

/// The `VmHWM` line of a `/proc/PID/status` text, in KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()
}
