//! Hashing, and a tiny raw HTTP client and static server for what the tests ask
//! a registry (or serve to wharf) by hand.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// A raw HTTP response. Header names are lowercased.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// First header named `name` (case-insensitive) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `GET http://HOST/PATH` with the given `Accept` header (empty: none);
/// returns `(status, headers, body)`. Panics on I/O errors.
pub fn registry_get(host: &str, path: &str, accept: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    if !accept.is_empty() {
        headers.push(("Accept", accept));
    }
    let r = http_request("GET", host, path, &headers, &[]).unwrap_or_else(|e| panic!("GET http://{host}{path}: {e}"));
    (r.status, r.headers, r.body)
}

/// [`registry_get`] of a JSON document that must exist: its bytes and the parsed JSON.
pub fn registry_get_json(host: &str, path: &str, accept: &str) -> (Vec<u8>, serde_json::Value) {
    let (status, _, body) = registry_get(host, path, accept);
    assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    let value = serde_json::from_slice(&body).expect("JSON body");
    (body, value)
}

/// Upload `bytes` as a blob of `repo` on the plain-HTTP, anonymous registry
/// `host` (monolithic POST + PUT); returns its `sha256:` digest.
pub fn push_blob(host: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let r = http_request("POST", host, &format!("/v2/{repo}/blobs/uploads/"), &[], &[])
        .unwrap_or_else(|e| panic!("POST upload to {host}/{repo}: {e}"));
    assert_eq!(r.status, 202, "starting a blob upload: {r:?}");
    let location = r.header("location").expect("upload Location header");
    let location = location.strip_prefix(&format!("http://{host}")).unwrap_or(location);
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{sep}digest={digest}");
    let r = http_request("PUT", host, &url, &[("Content-Type", "application/octet-stream")], bytes)
        .unwrap_or_else(|e| panic!("PUT blob to {host}/{repo}: {e}"));
    assert_eq!(r.status, 201, "finishing a blob upload: {r:?}");
    digest
}

/// PUT `bytes` as manifest `reference` (tag or digest) of `repo` with the
/// given `Content-Type`; returns the registry's `Docker-Content-Digest`.
pub fn push_manifest(host: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
    let r =
        http_request("PUT", host, &format!("/v2/{repo}/manifests/{reference}"), &[("Content-Type", media_type)], bytes)
            .unwrap_or_else(|e| panic!("PUT manifest {host}/{repo}:{reference}: {e}"));
    assert_eq!(r.status, 201, "PUT manifest: {} {}", r.status, String::from_utf8_lossy(&r.body));
    r.header("docker-content-digest").expect("Docker-Content-Digest header").to_owned()
}

/// `Authorization` header value for HTTP basic auth.
pub fn basic_auth(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

/// Standard base64 (RFC 4648, with padding), as docker writes `auths[...].auth`.
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A minimal plain-HTTP/1.1 client over `std::net::TcpStream`
/// (`Connection: close`; handles `Content-Length`, chunked and
/// read-to-EOF bodies; no body for `HEAD`, 1xx, 204 and 304).
pub fn http_request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    read_response(BufReader::new(stream), method == "HEAD")
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed mid-response"));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| bad("non-UTF-8 header line"))
}

fn read_response(mut r: impl BufRead, head: bool) -> std::io::Result<HttpResponse> {
    let (status, headers) = loop {
        let status_line = read_line(&mut r)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/") {
            return Err(bad(format!("bad status line {status_line:?}")));
        }
        let status: u16 =
            parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut r)?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        // Skip interim responses (100 Continue and friends).
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        break (status, headers);
    };
    let mut body = Vec::new();
    let no_body = head || status == 204 || status == 304;
    let chunked = header(&headers, "transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if no_body {
    } else if chunked {
        loop {
            let line = read_line(&mut r)?;
            let size_str = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers until an empty line (or EOF).
                while let Ok(l) = read_line(&mut r) {
                    if l.is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let crlf = read_line(&mut r)?;
            if !crlf.is_empty() {
                return Err(bad("missing CRLF after chunk"));
            }
        }
    } else if let Some(len) = header(&headers, "content-length") {
        let len: usize = len.parse().map_err(|_| bad(format!("bad content-length {len:?}")))?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(HttpResponse { status, headers, body })
}

/// python's `http.server` on a free loopback port, serving `dir` (a registry's `.well-known`
/// metadata, which docker-registry cannot serve); killed on drop.
pub struct StaticServer {
    child: Child,
    port: u16,
}

impl StaticServer {
    /// Starts it; panics if it does not listen within 10 s.
    pub fn start(dir: &Path) -> StaticServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("find a free loopback port");
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server (is python3 installed? scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "python3 -m http.server did not listen on port {port} within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        StaticServer { child, port }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o, "base64({i:?})");
        }
    }

    #[test]
    fn sha256_of_empty_and_abc() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_digest(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn parses_chunked_and_content_length_bodies() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\nTrailer: x\r\n\r\n";
        let r = read_response(&raw[..], false).expect("chunked parses");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"Wikipedia ");
        assert_eq!(r.header("x-a"), Some("b"));

        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcEXTRA";
        let r = read_response(&raw[..], false).expect("content-length parses");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abc"[..]));

        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let r = read_response(&raw[..], true).expect("HEAD parses");
        assert!(r.body.is_empty());
    }
}
