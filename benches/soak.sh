#!/usr/bin/env bash
# Soak: a mixed fleet under `wasmhost run --instances` for SOAK_MINUTES
# (default 2), then SIGTERM. Two kinds of process run side by side:
#
#  - one long-lived host with SOAK_LONG instances (loggers that never stop,
#    sleepers that never wake) for the whole soak, its RSS sampled every
#    5 s: it must stay flat;
#  - waves, one after the other, each a host with SOAK_WAVE instances of the
#    `mixed` fleet (loggers, sleepers, trappers, guests that hang in a sleep
#    or spin until their --timeout) — every wave's peak RSS must stay flat
#    from the first wave to the last; the last wave is stopped by SIGTERM.
#
# Every log is then checked (benches/soak-check.py): every instance's seq
# has no gap (0 lines lost), its last line is instance.exit, and each role
# ended as it must (loggers with all 2000 lines and exit 0, trappers with
# instance.trap, hangers and spinners with instance.timeout, stopped ones
# with instance.stopped). Prints the figures BENCHMARKS.md records.
#
#   make build guests && benches/soak.sh            # SOAK_MINUTES=2
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${SOAK_MINUTES:-2}
LONG=${SOAK_LONG:-200}
WAVE=${SOAK_WAVE:-200}
# Every wave instance's --timeout: what hangers and spinners run, and the
# wall-clock budget a logger's 2,000 lines must fit in at the machine's load.
TIMEOUT=${SOAK_TIMEOUT:-3s}
WASMHOST=${WASMHOST:-${CARGO_TARGET_DIR:-$HOME/.cache/wasmhost-target}/release/wasmhost}
GUEST=guests/build/c/soak.wasm
OUT=$(mktemp -d /tmp/wasmhost-soak.XXXXXX)
[ -x "$WASMHOST" ] && [ -f "$GUEST" ] || { echo "run 'make build guests' first" >&2; exit 1; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# CPU time used so far (utime + stime, in clock ticks): what the wave got.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }

end=$((SECONDS + MINUTES * 60))
"$WASMHOST" run --instances "$LONG" --log-file "$OUT/long.log" "$GUEST" long &
long_pid=$!
echo "# long-lived host: pid $long_pid, $LONG instances; RSS (KiB) every 5 s" > "$OUT/long-rss.txt"
(
    while kill -0 "$long_pid" 2>/dev/null; do
        echo "$((SECONDS)) $(rss_kib "$long_pid")" >> "$OUT/long-rss.txt"
        sleep 5
    done
) &
sampler=$!

wave=0
: > "$OUT/waves.txt"
while true; do
    wave=$((wave + 1))
    last=$(( SECONDS + 12 >= end ? 1 : 0 ))
    "$WASMHOST" run --instances "$WAVE" --timeout "$TIMEOUT" --log-file "$OUT/wave-$wave.log" "$GUEST" mixed &
    pid=$!
    peak=0
    cpu=0
    started=$SECONDS
    started_ns=$(date +%s%N)
    while kill -0 "$pid" 2>/dev/null; do
        hwm=$(hwm_kib "$pid"); hwm=${hwm:-0} # empty once the process is a zombie
        [ "$hwm" -gt "$peak" ] && peak=$hwm
        ticks=$(cpu_ticks "$pid"); [ "${ticks:-0}" -gt "$cpu" ] && cpu=$ticks
        # The last wave is stopped by SIGTERM while its guests still run.
        if [ "$last" = 1 ] && [ $((SECONDS - started)) -ge 1 ]; then kill -TERM "$pid"; last=2; fi
        sleep 0.1
    done
    status=0; wait "$pid" || status=$?
    wall_ms=$(( ($(date +%s%N) - started_ns) / 1000000 ))
    echo "$wave $peak $status $([ "$last" = 2 ] && echo sigterm || echo done) $cpu $wall_ms" >> "$OUT/waves.txt"
    [ "$last" = 2 ] && break
done

kill -TERM "$long_pid"
long_status=0; wait "$long_pid" || long_status=$?
wait "$sampler" 2>/dev/null || true

echo "soak: $MINUTES min, waves of $WAVE with --timeout $TIMEOUT, load average $(cut -d' ' -f1-3 /proc/loadavg), logs in $OUT"
python3 benches/soak-check.py "$OUT" "$long_status"
