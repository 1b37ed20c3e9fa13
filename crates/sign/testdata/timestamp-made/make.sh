#!/usr/bin/env bash
# Makes the RFC 3161 tokens and certificates in this directory with OpenSSL's `ts` command: a small
# TSA (P-256 root, P-256 TSA leaf with the critical timeStamping key usage, an RSA-1024 TSA) and
# certificates that differ from the real TSA leaf in one respect each, for the checks the
# sigstore-conformance tokens cannot reach. Run from anywhere; it rewrites every file here except
# itself. The keys are thrown away; nothing here protects anything.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key" 2>/dev/null; }
ext() { printf '%s\n' "$@" >"$work/ext.cnf"; }

# The root, and an impostor root: same name, another key.
ec_key root
ec_key impostor
for r in root impostor; do
    openssl req -new -x509 -key "$work/$r.key" -subj "/O=wharf test/CN=Test TSA Root" -days 3650 \
        -set_serial 1 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        -out "$work/$r.pem" 2>/dev/null
done

# issue NAME KEY ISSUER SERIAL EXTENSION...: a certificate for KEY signed by ISSUER.
issue() {
    local name=$1 key=$2 issuer=$3 serial=$4
    shift 4
    ext "$@"
    openssl req -new -key "$work/$key.key" -subj "/O=wharf test/CN=$name" -out "$work/$name.csr" 2>/dev/null
    openssl x509 -req -in "$work/$name.csr" -CA "$work/$issuer.pem" -CAkey "$work/$issuer.key" \
        -set_serial "$serial" -days 3650 -extfile "$work/ext.cnf" -out "$work/$name.pem" 2>/dev/null
}
LEAF=(keyUsage=critical,digitalSignature extendedKeyUsage=critical,timeStamping)
ec_key tsa
issue tsa tsa root 16 "${LEAF[@]}"
# The same key and serial: no extended key usage; an unknown critical extension.
issue tsa-no-eku tsa root 16 keyUsage=critical,digitalSignature
issue tsa-odd-critical tsa root 16 "${LEAF[@]}" "1.3.6.1.4.1.99999.1=critical,DER:05:00"
# A TSA under an intermediate that is not a CA.
ec_key not-a-ca
issue not-a-ca not-a-ca root 17 basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature,keyCertSign
issue tsa-under-not-a-ca tsa not-a-ca 18 "${LEAF[@]}"
# An RSA-1024 TSA.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$work/rsa1024.key" 2>/dev/null
issue tsa-rsa1024 rsa1024 root 19 "${LEAF[@]}"

cat >"$work/ts.cnf" <<CNF
[ tsa ]
default_tsa = tsa1
[ tsa1 ]
serial = $work/serial
crypto_device = builtin
default_policy = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 3
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
echo 01 >"$work/serial"
head -c 71 /dev/urandom >signature.bin

# token NAME SIGNER_CERT SIGNER_KEY DIGEST SIGNER_DIGEST CERTS(yes|no)
token() {
    local name=$1 cert=$2 key=$3 digest=$4 signer_digest=$5 certs=$6
    local request=(-data signature.bin "-$digest" -no_nonce)
    [ "$certs" = yes ] && request+=(-cert)
    # Until genTime has a fraction (one in a thousand has none).
    while :; do
        openssl ts -query "${request[@]}" -out "$work/q.tsq" 2>/dev/null
        openssl ts -reply -config "$work/ts.cnf" -queryfile "$work/q.tsq" -signer "$work/$cert.pem" \
            -inkey "$work/$key.key" -"$signer_digest" -chain "$work/root.pem" -out "$name.tsr" 2>/dev/null
        local when
        when=$(openssl ts -reply -in "$name.tsr" -text | sed -n 's/^Time stamp: //p')
        case "$when" in *.*) break ;; esac
    done
    date -u -d "$when" +%s >"$name.time"
}
token p256-sha384-certs tsa tsa sha384 sha256 yes
token p256-sha512-no-certs tsa tsa sha512 sha512 no
token rsa1024 tsa-rsa1024 rsa1024 sha256 sha256 no
token under-not-a-ca tsa-under-not-a-ca tsa sha256 sha256 no

for c in root impostor tsa tsa-no-eku tsa-odd-critical not-a-ca tsa-under-not-a-ca tsa-rsa1024; do
    openssl x509 -in "$work/$c.pem" -outform der | base64 -w0 >"$c.b64"
done
