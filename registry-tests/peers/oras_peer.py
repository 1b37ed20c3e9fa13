#!/usr/bin/env python3
"""A tiny CLI over oras-py (PyPI `oras`, tested with 0.2.43), used by wharf's
integration tests as an independent peer implementation.

    oras_peer.py push HOST/REPO:TAG FILE... [--media-type T]
                 [--config FILE] [--config-media-type T]
                 [--annotation KEY=VALUE]...
    oras_peer.py pull HOST/REPO:TAG OUTDIR
    oras_peer.py manifest HOST/REPO:TAG

Common options: --user U --password P (HTTP basic auth), --ca-file PEM
(use HTTPS trusting this CA; without it the registry is spoken to over plain
HTTP, i.e. oras-py's insecure=True, as for a loopback test registry).

push prints the manifest digest (sha256:...) on stdout; pull prints the path of
every pulled file, one per line; manifest prints the manifest JSON. Any error:
a message on stderr and exit code 2.

Notes on what oras-py does (so tests can rely on it):
- every layer gets an `org.opencontainers.image.title` annotation with the
  file's basename, and pull names the output file after it;
- the manifest is `application/vnd.oci.image.manifest.v1+json`, has
  `"annotations": {}` when none are given and no `artifactType`;
- without --config the config blob is `{}` with media type
  `application/vnd.unknown.config.v1+json`;
- without --media-type layers get `application/vnd.oci.image.layer.v1.tar`.
"""

import argparse
import hashlib
import os
import sys


def fail(msg):
    print(f"oras_peer: error: {msg}", file=sys.stderr)
    sys.exit(2)


def client(args):
    try:
        import oras.provider
    except ImportError as e:  # pragma: no cover - environment problem
        fail(f"cannot import oras (pip install oras==0.2.43): {e}")

    # oras-py retries every failed request 5 times with 3..83 s sleeps; a test
    # peer must fail fast (e.g. when the registry is deliberately down).
    do_request = oras.provider.Registry.do_request
    if hasattr(do_request, "__wrapped__"):
        oras.provider.Registry.do_request = do_request.__wrapped__

    backend = "basic" if args.user is not None else "token"
    if args.ca_file:
        reg = oras.provider.Registry(
            insecure=False, tls_verify=args.ca_file, auth_backend=backend
        )
    else:
        reg = oras.provider.Registry(insecure=True, auth_backend=backend)
    if args.user is not None:
        reg.auth.set_basic_auth(args.user, args.password or "")
    return reg


def manifest_digest(response):
    digest = response.headers.get("Docker-Content-Digest")
    if digest:
        return digest
    body = response.request.body or b""
    if isinstance(body, str):
        body = body.encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def cmd_push(args):
    files = []
    for f in args.files:
        if not os.path.isfile(f):
            fail(f"{f}: no such file")
        path = os.path.abspath(f)
        files.append(f"{path}:{args.media_type}" if args.media_type else path)
    manifest_config = None
    if args.config is not None:
        if not os.path.isfile(args.config):
            fail(f"{args.config}: no such file")
        manifest_config = os.path.abspath(args.config)
        if args.config_media_type:
            manifest_config += f":{args.config_media_type}"
    elif args.config_media_type:
        # Empty path: oras-py uploads `{}` with the given media type.
        manifest_config = f":{args.config_media_type}"
    annotations = {}
    for a in args.annotation:
        key, sep, value = a.partition("=")
        if not sep:
            fail(f"--annotation {a!r}: expected KEY=VALUE")
        annotations[key] = value

    reg = client(args)
    response = reg.push(
        target=args.reference,
        files=files,
        manifest_config=manifest_config,
        manifest_annotations=annotations or None,
        disable_path_validation=True,
        quiet=True,
    )
    print(manifest_digest(response))


def cmd_pull(args):
    reg = client(args)
    os.makedirs(args.outdir, exist_ok=True)
    for path in reg.pull(target=args.reference, outdir=args.outdir):
        print(path)


def cmd_manifest(args):
    import json

    reg = client(args)
    print(json.dumps(reg.get_manifest(args.reference), indent=2))


def main(argv):
    p = argparse.ArgumentParser(prog="oras_peer.py", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--user", help="basic auth user")
    common.add_argument("--password", help="basic auth password")
    common.add_argument("--ca-file", help="speak HTTPS, trusting this CA bundle")
    sub = p.add_subparsers(dest="command", required=True)

    push = sub.add_parser("push", parents=[common], help="push files as layers")
    push.add_argument("reference", help="HOST/REPO:TAG")
    push.add_argument("files", nargs="+", metavar="FILE")
    push.add_argument("--media-type", help="layer media type, e.g. application/wasm")
    push.add_argument("--config", help="config blob file")
    push.add_argument("--config-media-type", help="config media type")
    push.add_argument(
        "--annotation", action="append", default=[], metavar="KEY=VALUE",
        help="manifest annotation (repeatable)",
    )
    push.set_defaults(func=cmd_push)

    pull = sub.add_parser("pull", parents=[common], help="pull all layers into OUTDIR")
    pull.add_argument("reference", help="HOST/REPO:TAG")
    pull.add_argument("outdir")
    pull.set_defaults(func=cmd_pull)

    manifest = sub.add_parser("manifest", parents=[common], help="print the manifest")
    manifest.add_argument("reference", help="HOST/REPO:TAG or HOST/REPO@DIGEST")
    manifest.set_defaults(func=cmd_manifest)

    args = p.parse_args(argv)
    try:
        args.func(args)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report everything as exit 2
        fail(f"{args.command} {args.reference}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
