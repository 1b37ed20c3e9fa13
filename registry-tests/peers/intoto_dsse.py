#!/usr/bin/env python3
"""An independent in-toto attestation verifier and signer, written from the specs alone:
DSSE v1 (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md: the signature is over
PAE(payloadType, payload) = "DSSEv1" SP len(type) SP type SP len(payload) SP payload) and the in-toto
Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md). Crypto is the
`cryptography` package (ECDSA P-256 with SHA-256, as cosign keys are); nothing of wharf is used.

Usage:
    python3 intoto_dsse.py verify PUBLIC.pem DIGEST PREDICATE_TYPE FILE
        FILE is a Sigstore bundle (its `dsseEnvelope` is read) or a bare DSSE envelope. Checks the
        signature, the statement's `_type`, that sha256 DIGEST (sha256:HEX) is a subject, and the
        predicate type; prints the predicate as JSON.
    python3 intoto_dsse.py sign PRIVATE.pem NAME DIGEST PREDICATE_TYPE PREDICATE.json OUT.json
        Writes a DSSE envelope (cosign's legacy `.att` layer) of a statement about NAME@DIGEST.

Exit status: 0 verified or written; 1 rejected (the reason on stderr); 2 usage or I/O error.
"""

import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"


class Rejected(Exception):
    pass


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope_of(document: dict) -> dict:
    envelope = document.get("dsseEnvelope", document)
    if not isinstance(envelope, dict) or "payload" not in envelope:
        raise Rejected("neither a bundle with a dsseEnvelope nor a DSSE envelope")
    return envelope


def verify(public_pem: str, digest: str, predicate_type: str, path: str) -> dict:
    with open(public_pem, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    with open(path, "rb") as f:
        envelope = envelope_of(json.load(f))
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise Rejected(f"payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE}")
    payload = base64.b64decode(envelope["payload"], validate=True)
    message = pae(PAYLOAD_TYPE, payload)
    signatures = envelope.get("signatures") or []
    if not any(_valid(key, base64.b64decode(s.get("sig", "")), message) for s in signatures):
        raise Rejected(f"none of the {len(signatures)} signature(s) verifies with the key")
    statement = json.loads(payload)
    if statement.get("_type") != STATEMENT_V1:
        raise Rejected(f"_type is {statement.get('_type')!r}, not {STATEMENT_V1}")
    algorithm, _, hexdigest = digest.partition(":")
    subjects = statement.get("subject") or []
    if not any(s.get("digest", {}).get(algorithm) == hexdigest for s in subjects):
        raise Rejected(f"{digest} is not among the subjects {subjects}")
    if statement.get("predicateType") != predicate_type:
        raise Rejected(f"predicateType is {statement.get('predicateType')!r}, not {predicate_type}")
    return statement.get("predicate", {})


def _valid(key, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def sign(private_pem, name, digest, predicate_type, predicate_path, out_path):
    with open(private_pem, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(predicate_path) as f:
        predicate = json.load(f)
    algorithm, _, hexdigest = digest.partition(":")
    statement = {
        "_type": STATEMENT_V1,
        "subject": [{"name": name, "digest": {algorithm: hexdigest}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    payload = json.dumps(statement, separators=(",", ":")).encode()
    signature = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
    }
    with open(out_path, "w") as f:
        json.dump(envelope, f)


def main(argv):
    try:
        if len(argv) == 6 and argv[1] == "verify":
            print(json.dumps(verify(*argv[2:]), sort_keys=True))
            return 0
        if len(argv) == 8 and argv[1] == "sign":
            sign(*argv[2:])
            return 0
    except Rejected as e:
        print(f"rejected: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"intoto_dsse.py: {e}", file=sys.stderr)
        return 2
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
