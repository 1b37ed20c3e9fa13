# Sourced by `scripts/bench-check fleet` (see its header), after it has built
# $WHARF and $BUILD_EXAMPLES and made $TMP: many component references against
# one world, wharf's batch against pulling each and running
# `wasm-tools component targets` on it.

FLEET="${BENCH_FLEET:-200}"
KIB="${BENCH_FLEET_KIB:-1024}"
case "$FLEET" in '' | *[!0-9]* | 0) die "BENCH_FLEET must be a positive integer, not '$FLEET'" ;; esac
case "$KIB" in '' | *[!0-9]* | 0) die "BENCH_FLEET_KIB must be a positive integer, not '$KIB'" ;; esac
command -v docker-registry >/dev/null 2>&1 || die "no docker-registry on PATH"
command -v wkg >/dev/null 2>&1 || die "no wkg; install it with: cargo install wkg --locked"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on 127.0.0.1:$1"
}

PIDS=()
fleet_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    cleanup
}
trap fleet_cleanup EXIT

# The registry.
REG_PORT="$(free_port)"
cat >"$TMP/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TMP/storage
http:
  addr: 127.0.0.1:$REG_PORT
  secret: wharf-bench-check
EOF
docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
PIDS+=("$!")
wait_port "$REG_PORT"

# A TCP proxy in front of it that counts the bytes it forwards, both ways,
# and writes the running total to $TMP/bytes whenever a connection closes.
PROXY_PORT="$(free_port)"
cat >"$TMP/proxy.py" <<'EOF'
import socket, sys, threading
listen, upstream, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock, total = threading.Lock(), [0]
def pipe(src, dst, counted):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            counted[0] += len(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve(client):
    server = socket.create_connection(("127.0.0.1", upstream))
    counted = [0]
    a = threading.Thread(target=pipe, args=(client, server, counted))
    b = threading.Thread(target=pipe, args=(server, client, counted))
    a.start(); b.start(); a.join(); b.join()
    client.close(); server.close()
    with lock:
        total[0] += counted[0]
        with open(out, "w") as f:
            f.write(str(total[0]))
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", listen))
listener.listen(256)
open(out, "w").write("0")
while True:
    client, _ = listener.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
EOF
python3 "$TMP/proxy.py" "$PROXY_PORT" "$REG_PORT" "$TMP/bytes" &
PIDS+=("$!")
wait_port "$PROXY_PORT"

# The fleet: distinct components (sizes differ by their index), pushed straight to the registry.
note "pushing $FLEET components of about $KIB KiB"
: >"$TMP/fleet.txt"
for i in $(seq "$FLEET"); do
    "$BUILD_EXAMPLES" --sized $((KIB * 1024 + i)) "$TMP/c.wasm" >/dev/null || die "build-examples --sized failed"
    "$WHARF" push "$TMP/c.wasm" "127.0.0.1:$REG_PORT/fleet/plugin-$i:1.0.0" >/dev/null 2>&1 \
        || die "wharf push of component $i failed"
    echo "127.0.0.1:$PROXY_PORT/fleet/plugin-$i:1.0.0" >>"$TMP/fleet.txt"
done

WIT="$ROOT/examples/hello/wit"
# The same package whose world exports `hail` instead of `greet`: no component
# fits it, and the names alone say so.
RENAMED_WIT="$TMP/renamed-wit"
mkdir -p "$RENAMED_WIT"
sed 's/export greet:/export hail:/' "$WIT/"*.wit >"$RENAMED_WIT/hello.wit"
grep -q 'export hail:' "$RENAMED_WIT/hello.wit" || die "could not derive the renamed WIT from $WIT"

bytes_now() {
    sleep 0.5 # the last connections closing
    cat "$TMP/bytes"
}

# "ms bytes" of "$@", which must exit $EXPECT.
measure_fleet() {
    local before start end status=0
    before="$(bytes_now)"
    start=$(date +%s%N)
    "$@" >"$TMP/out" 2>&1 || status=$?
    end=$(date +%s%N)
    [ "$status" = "$EXPECT" ] || die "$* exited $status, expected $EXPECT: $(tail -5 "$TMP/out")"
    echo "$(((end - start) / 1000000)) $(($(bytes_now) - before))"
}

# The peer way: pull each reference with wkg, then check it with wasm-tools.
peer() { # wit
    local status=0 ref
    while read -r ref; do
        rm -f "$TMP/pulled.wasm"
        WKG_OCI_INSECURE="127.0.0.1:$PROXY_PORT" wkg oci pull "$ref" -o "$TMP/pulled.wasm" >/dev/null 2>&1 \
            || { echo "wkg oci pull $ref failed" >&2; return 2; }
        "$WASM_TOOLS" component targets "$1" "$TMP/pulled.wasm" --world hello >/dev/null 2>&1 || status=1
    done <"$TMP/fleet.txt"
    return "$status"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

ROWS=()
for case in fits renamed; do
    if [ "$case" = fits ]; then wit="$WIT" EXPECT=0; else wit="$RENAMED_WIT" EXPECT=1; fi
    note "$case: wharf check --from (one run)"
    read -r w_ms w_bytes <<<"$(measure_fleet "$WHARF" check --wit "$wit" --world hello --from "$TMP/fleet.txt")"
    note "$case: wkg oci pull + wasm-tools component targets, per reference"
    read -r p_ms p_bytes <<<"$(measure_fleet peer "$wit")"
    ROWS+=("| $case | $w_ms ms, $(mib "$w_bytes") | $p_ms ms, $(mib "$p_bytes") | $(awk -v a="$w_ms" -v b="$p_ms" 'BEGIN { printf "%.2f", a / b }') |")
done

echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores (load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "$FLEET references to distinct components of $KIB KiB in a docker-registry on loopback, one run each."
echo "\`$("$WHARF" --version 2>/dev/null || echo wharf)\` ($PROFILE build, \`check --from\`, default --jobs) against"
echo "\`$(wkg --version)\` \`oci pull\` then \`$("$WASM_TOOLS" --version)\` \`component targets\`, one reference after another."
echo "Bytes: all traffic through a counting proxy, both directions. fits: against \`examples/hello/wit\`;"
echo "renamed: the world exports \`hail\` instead of \`greet\` (exit 1 from both)."
echo
echo "| world | \`wharf check\` (one run) | pull + \`wasm-tools component targets\` | wharf / peer (time) |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
