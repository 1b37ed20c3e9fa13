#!/usr/bin/env python3
"""A tiny Docker-registry token server (the "bearer token" auth of the
distribution spec) for wharf's integration tests. Python stdlib only; JWTs are
signed ES256 with the `openssl` command-line tool.

    token_server.py --key KEY.pem --cert CERT.pem --issuer ISS --service SVC
                    --user USER --log LOG.jsonl --port-file PORT
                    [password from $WHARF_TOKEN_PASSWORD]

It binds a free loopback port, writes the port number to --port-file (once it
listens) and serves until killed:

    GET /token?service=SVC&scope=repository:NAME:pull,push[&scope=...]
        [&account=USER] with optional HTTP basic auth

Policy:
  * the right user and password: every requested action is granted;
  * no credentials at all (anonymous): only `pull` on `repository` scopes;
  * anything else (wrong user or password, malformed Authorization): 401.
A request without any scope (what `docker login` / `wharf login` sends to
check credentials) gets a token with an empty access list.

    POST /token   (application/x-www-form-urlencoded: grant_type=refresh_token,
                   refresh_token=..., service=..., scope="A B", client_id=...)

is the OAuth2 flow docker uses with an identity token (Azure ACR): the refresh
token "identity-" + PASSWORD stands for USER and gets every requested action;
any other refresh token or grant gets 401. Logged with "grant".

The answer is {"token", "access_token", "expires_in": 300, "issued_at"}; the
JWT header carries the signing certificate in `x5c`, which distribution 2.8
verifies against its `auth.token.rootcertbundle` (the same self-signed cert).

Each request is appended to --log as one JSON line:
  {"method", "path", "user" (null when anonymous), "account", "service",
   "scopes": [...], "granted": [{"type","name","actions"}], "status"}
"""

import argparse
import base64
import binascii
import datetime
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN_LIFETIME = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der_cert_b64(pem_path: str) -> str:
    """Standard base64 of the DER certificate (the body of the PEM)."""
    with open(pem_path, "r", encoding="ascii") as f:
        lines = f.read().splitlines()
    body, inside = [], False
    for line in lines:
        if line.startswith("-----BEGIN CERTIFICATE"):
            inside = True
        elif line.startswith("-----END CERTIFICATE"):
            break
        elif inside:
            body.append(line.strip())
    if not body:
        raise SystemExit(f"no certificate in {pem_path}")
    return "".join(body)


def der_read(data: bytes, pos: int, tag: int):
    """Reads one DER TLV of `tag` at `pos`; returns (value, next_pos)."""
    if data[pos] != tag:
        raise ValueError(f"DER: expected tag {tag:#x}, got {data[pos]:#x}")
    pos += 1
    length = data[pos]
    pos += 1
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    return data[pos : pos + length], pos + length


def ecdsa_der_to_raw(sig: bytes, size: int = 32) -> bytes:
    """DER `SEQUENCE { INTEGER r, INTEGER s }` -> JOSE `r || s` (fixed width)."""
    seq, _ = der_read(sig, 0, 0x30)
    r, pos = der_read(seq, 0, 0x02)
    s, _ = der_read(seq, pos, 0x02)
    out = b""
    for n in (r, s):
        n = n.lstrip(b"\x00")
        if len(n) > size:
            raise ValueError("ECDSA integer too large")
        out += n.rjust(size, b"\x00")
    return out


def sign_es256(key_path: str, message: bytes) -> bytes:
    proc = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", key_path],
        input=message,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError("openssl dgst -sign failed: " + proc.stderr.decode(errors="replace"))
    return ecdsa_der_to_raw(proc.stdout)


def make_jwt(cfg, subject: str, access: list) -> str:
    now = int(time.time())
    header = {"typ": "JWT", "alg": "ES256", "x5c": [cfg.cert_b64]}
    claims = {
        "iss": cfg.issuer,
        "sub": subject,
        "aud": cfg.service,
        "exp": now + TOKEN_LIFETIME,
        "nbf": now - 10,
        "iat": now - 10,
        "jti": secrets.token_hex(16),
        "access": access,
    }
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = sign_es256(cfg.key, signing_input.encode("ascii"))
    return signing_input + "." + b64url(sig)


def parse_scope(scope: str):
    """`type:name:actions` -> (type, name, [actions]); the name may contain
    colons (a registry host with a port), the actions never do."""
    typ, sep, rest = scope.partition(":")
    if not sep:
        return None
    name, sep, actions = rest.rpartition(":")
    if not sep or not name:
        return None
    return typ, name, [a for a in actions.split(",") if a]


def parse_basic(header: str):
    """`Basic base64(user:pass)` -> (user, pass); None when malformed."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


class Handler(BaseHTTPRequestHandler):
    server_version = "wharf-test-token-server/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # stderr logging, quieter
        sys.stderr.write("token-server: " + (fmt % args) + "\n")

    def _record(self, entry: dict):
        cfg = self.server.cfg
        with cfg.lock:
            with open(cfg.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def _send(self, status: int, body: dict, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        scopes = []
        for s in query.get("scope", []):
            scopes.extend(x for x in s.split(" ") if x)
        entry = {
            "method": self.command,
            "path": url.path,
            "user": None,
            "account": (query.get("account") or [None])[0],
            "service": (query.get("service") or [None])[0],
            "scopes": scopes,
            "granted": [],
            "status": None,
        }
        try:
            status, body, headers = self._answer(url.path, scopes, entry)
        except Exception as e:  # keep serving; report the failure
            entry["error"] = repr(e)
            status, body, headers = 500, {"errors": [{"code": "UNKNOWN", "message": repr(e)}]}, []
        entry["status"] = status
        # Logged before answering, so a client that got its answer finds it
        # in the log.
        self._record(entry)
        self._send(status, body, headers)

    def do_POST(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
        first = lambda k: (form.get(k) or [None])[0]  # noqa: E731
        scopes = [x for x in (first("scope") or "").split(" ") if x]
        entry = {
            "method": "POST",
            "path": url.path,
            "user": None,
            "account": None,
            "service": first("service"),
            "grant": first("grant_type"),
            "client_id": first("client_id"),
            "scopes": scopes,
            "granted": [],
            "status": None,
        }
        cfg = self.server.cfg
        if first("grant_type") != "refresh_token" or first("refresh_token") != "identity-" + cfg.password:
            status, body, headers = 401, {"error": "invalid_grant"}, []
        else:
            status, body, headers = self._answer(url.path, scopes, entry, user=cfg.user)
        entry["status"] = status
        self._record(entry)
        self._send(status, body, headers)

    def _answer(self, path: str, scopes: list, entry: dict, user=None):
        """(status, JSON body, extra headers) for a request; fills `entry`.
        `user` is given when the caller already authenticated the request."""
        cfg = self.server.cfg
        if path != "/token":
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}, []

        auth = self.headers.get("Authorization")
        if user is not None:
            entry["user"] = user
        elif auth is not None:
            creds = parse_basic(auth)
            if creds is not None:
                entry["user"] = creds[0]
            if creds is None or creds != (cfg.user, cfg.password):
                return (
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]},
                    [("WWW-Authenticate", 'Basic realm="wharf-test-token-server"')],
                )
            user = creds[0]

        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            typ, name, actions = parsed
            if user is None:
                actions = [a for a in actions if a == "pull"] if typ == "repository" else []
            if actions:
                access.append({"type": typ, "name": name, "actions": actions})
        entry["granted"] = access

        token = make_jwt(cfg, user or "", access)
        issued = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return 200, body, []

    do_HEAD = do_GET


class Config:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--key", required=True, help="EC P-256 private key (PEM)")
    ap.add_argument("--cert", required=True, help="its self-signed certificate (PEM)")
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--log", required=True, help="JSON-lines request log")
    ap.add_argument("--port-file", required=True, help="written with the port once listening")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    password = os.environ.get("WHARF_TOKEN_PASSWORD")
    if password is None:
        raise SystemExit("token_server.py: set WHARF_TOKEN_PASSWORD")

    cfg = Config()
    cfg.key = args.key
    cfg.cert_b64 = der_cert_b64(args.cert)
    cfg.issuer = args.issuer
    cfg.service = args.service
    cfg.user = args.user
    cfg.password = password
    cfg.log = args.log
    cfg.lock = threading.Lock()
    open(cfg.log, "a", encoding="utf-8").close()

    # Fail early (before announcing the port) if signing does not work.
    make_jwt(cfg, "self-test", [])

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.cfg = cfg
    port = server.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)
    sys.stderr.write(f"token-server: listening on 127.0.0.1:{port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
