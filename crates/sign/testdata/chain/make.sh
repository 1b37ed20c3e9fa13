#!/usr/bin/env bash
# Makes the certificates in this directory with OpenSSL, for the certificate path checks of
# crates/sign/src/sigstore/chain.rs that real Fulcio certificates cannot reach: a P-256 root and intermediate
# (pathlen 0), and CAs and leaves that differ from a good one in one respect each. Each file is the
# base64 of one DER certificate. Run from anywhere; it rewrites every .b64 file here. The keys are
# thrown away; nothing here protects anything.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key" 2>/dev/null; }
CA=(basicConstraints=critical,CA:TRUE keyUsage=critical,keyCertSign,cRLSign)
LEAF=(keyUsage=critical,digitalSignature extendedKeyUsage=codeSigning
    "subjectAltName=critical,URI:https://example.com/wharf/test")

key root
openssl req -new -x509 -key "$work/root.key" -subj "/O=wharf test/CN=Test Fulcio Root" -days 3650 \
    -set_serial 1 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$work/root.pem" 2>/dev/null

# issue NAME ISSUER SERIAL EXTENSION...: a certificate for a new key NAME signed by ISSUER.
issue() {
    local name=$1 issuer=$2 serial=$3
    shift 3
    key "$name"
    printf '%s\n' "$@" >"$work/ext.cnf"
    openssl req -new -key "$work/$name.key" -subj "/O=wharf test/CN=$name" -out "$work/$name.csr" 2>/dev/null
    openssl x509 -req -in "$work/$name.csr" -CA "$work/$issuer.pem" -CAkey "$work/$issuer.key" \
        -set_serial "$serial" -days 3650 -extfile "$work/ext.cnf" -out "$work/$name.pem" 2>/dev/null
}

issue intermediate root 2 basicConstraints=critical,CA:TRUE,pathlen:0 keyUsage=critical,keyCertSign,cRLSign
issue leaf intermediate 10 "${LEAF[@]}"
# Leaves that differ in one respect: a CA; no code-signing usage; an unknown critical extension;
# a key usage without digitalSignature.
issue leaf-ca intermediate 11 basicConstraints=critical,CA:TRUE "${LEAF[@]}"
issue leaf-no-eku intermediate 12 keyUsage=critical,digitalSignature "subjectAltName=critical,URI:https://example.com/wharf/test"
issue leaf-odd-critical intermediate 13 "${LEAF[@]}" "1.3.6.1.4.1.99999.1=critical,DER:05:00"
issue leaf-no-digital-signature intermediate 14 keyUsage=critical,keyEncipherment extendedKeyUsage=codeSigning \
    "subjectAltName=critical,URI:https://example.com/wharf/test"
# A second intermediate below the pathlen-0 one, and a leaf under it.
issue intermediate-2 intermediate 3 "${CA[@]}"
issue leaf-too-deep intermediate-2 15 "${LEAF[@]}"
# Intermediates under the root that may not issue: not a CA; a CA without keyCertSign. A leaf under each.
issue not-a-ca root 4 basicConstraints=critical,CA:FALSE keyUsage=critical,keyCertSign
issue leaf-under-not-a-ca not-a-ca 16 "${LEAF[@]}"
issue no-cert-sign root 5 basicConstraints=critical,CA:TRUE keyUsage=critical,digitalSignature
issue leaf-under-no-cert-sign no-cert-sign 17 "${LEAF[@]}"

# A leaf without a key usage extension; a leaf whose identity is Fulcio's username SAN (an otherName of
# type 1.3.6.1.4.1.57264.1.7, UTF8String), with the OIDC issuer extension (1.3.6.1.4.1.57264.1.8).
issue leaf-no-key-usage intermediate 18 extendedKeyUsage=codeSigning "subjectAltName=critical,URI:https://example.com/wharf/test"
issue leaf-username intermediate 19 keyUsage=critical,digitalSignature extendedKeyUsage=codeSigning \
    "subjectAltName=critical,otherName:1.3.6.1.4.1.57264.1.7;UTF8:alice!oidc.example.com" \
    "1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:https://oidc.example.com"

for name in root intermediate leaf leaf-ca leaf-no-eku leaf-odd-critical leaf-no-digital-signature \
    intermediate-2 leaf-too-deep not-a-ca leaf-under-not-a-ca no-cert-sign leaf-under-no-cert-sign \
    leaf-no-key-usage leaf-username; do
    openssl x509 -in "$work/$name.pem" -outform der | base64 -w0 >"$name.b64"
done
