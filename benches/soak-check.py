#!/usr/bin/env python3
"""Checks the logs of benches/soak.sh and prints its figures.

Usage: soak-check.py OUT_DIR LONG_EXIT_STATUS. Exits 1 when any check fails.
"""
import collections
import json
import os
import sys

out, long_status = sys.argv[1], int(sys.argv[2])
failures = []


class Instance:
    """What the check needs of one instance's records, kept as they stream
    by (a long soak writes far more lines than fit in memory as objects)."""

    def __init__(self):
        self.n = 0
        self.gap = None
        self.role = "?"
        self.events = set()
        self.stderr = 0
        self.last = None

    def add(self, record):
        self.n += 1
        if record["seq"] != self.n and self.gap is None:
            self.gap = (self.n, record["seq"])
        if record["stream"] == "stderr":
            self.stderr += 1
            if self.role == "?" and record["msg"].startswith("role "):
                self.role = record["msg"][5:]
        if "event" in record:
            self.events.add(record["event"])
        self.last = record


# A wave's loggers need about 0.6 CPU-seconds for their 160k lines (80
# loggers alone, measured), and its spinners take their round-robin share
# beside them: a wave that got less than this many cores on average could
# not finish them within 3 s, whatever the scheduler. Their timeouts are
# counted as starved, not failed (their lines are still checked for gaps),
# and so are the sleepers' there.
STARVED_CORES = 0.5
starved = 0


def check_log(path, stopped_ok, cpu_starved=False):
    """Per instance: seq 1..n without a gap, instance.exit last, the role's
    ending. Returns (instances, lines, roles Counter, endings Counter)."""
    global starved
    by_instance = collections.defaultdict(Instance)
    with open(path) as f:
        for n, text in enumerate(f, 1):
            try:
                line = json.loads(text)
            except ValueError:
                failures.append(f"{path}:{n}: not a whole JSON line")
                continue
            by_instance[line["wasm_instance_id"]].add(line)
    roles, endings, lines = collections.Counter(), collections.Counter(), 0
    for iid, inst in by_instance.items():
        lines += inst.n
        if inst.gap:
            failures.append(f"{path}: {iid}: seq has gaps (line {inst.gap[0]} has seq {inst.gap[1]})")
        last = inst.last
        if last.get("event") != "instance.exit":
            failures.append(f"{path}: {iid}: last line is not instance.exit: {last.get('event')}")
            continue
        role, events = inst.role, inst.events
        ending = ("stopped" if "instance.stopped" in events else "timeout" if "instance.timeout" in events
                  else "trap" if "instance.trap" in events else f"exit {last['exit_code']}")
        roles[role] += 1
        endings[(role, ending)] += 1
        guest_lines = inst.stderr - 1
        if ending == "stopped":
            if not stopped_ok:
                failures.append(f"{path}: {iid}: stopped outside a SIGTERM")
        elif role in ("logger", "sleeper") and ending == "timeout" and cpu_starved:
            starved += 1
        elif role == "logger" and (ending != "exit 0" or guest_lines != 2000):
            failures.append(f"{path}: {iid}: logger ended {ending} with {guest_lines} lines")
        elif role == "sleeper" and ending != "exit 0":
            failures.append(f"{path}: {iid}: sleeper ended {ending}")
        elif role == "trapper" and ending != "trap":
            failures.append(f"{path}: {iid}: trapper ended {ending}")
        elif role in ("hang", "spin") and ending != "timeout":
            failures.append(f"{path}: {iid}: {role} ended {ending}")
    return len(by_instance), lines, roles, endings


waves = [line.split() for line in open(os.path.join(out, "waves.txt"))]
total_instances = total_lines = 0
all_endings = collections.Counter()
tick = os.sysconf("SC_CLK_TCK")
for wave, peak, status, how, cpu, wall_ms in waves:
    cores = int(cpu) / tick / (int(wall_ms) / 1000)
    n, lines, _, endings = check_log(os.path.join(out, f"wave-{wave}.log"), stopped_ok=how == "sigterm",
                                     cpu_starved=cores < STARVED_CORES)
    total_instances += n
    total_lines += lines
    all_endings.update(endings)
    expected = 143 if how == "sigterm" else 134  # trappers and timeouts end in 134
    if int(status) != expected:
        failures.append(f"wave {wave}: exit status {status}, expected {expected}")
peaks = [int(p) for _, p, _, _, _, _ in waves]
# CPU the waves got against their wall time: below ~1 core the loggers'
# 2,000 lines compete with the spinners for too little (BENCHMARKS.md).
cpu_s = sum(int(w[4]) for w in waves) / tick
wall_s = sum(int(w[5]) for w in waves) / 1000

n_long, long_lines, long_roles, long_endings = check_log(os.path.join(out, "long.log"), stopped_ok=True)
if long_status != 143:
    failures.append(f"long-lived host: exit status {long_status}, expected 143")
if any(ending != "stopped" for (_, ending) in long_endings):
    failures.append(f"long-lived host: endings {dict(long_endings)}")
rss = [int(line.split()[1]) for line in open(os.path.join(out, "long-rss.txt")) if not line.startswith("#")]
rss = [r for r in rss if r > 0]

print(f"waves: {len(waves)} hosts, {total_instances} instances, {total_lines} lines; "
      f"endings {dict(sorted(all_endings.items()))}")
print(f"waves' CPU: {cpu_s:.1f} s in {wall_s:.1f} s of wall time ({cpu_s / wall_s:.2f} cores of {os.cpu_count()}); "
      f"loggers/sleepers timed out in waves under {STARVED_CORES} cores (starved, not failed): {starved}")
print(f"wave peak RSS (MiB): first {peaks[0] / 1024:.1f}, last {peaks[-1] / 1024:.1f}, "
      f"min {min(peaks) / 1024:.1f}, max {max(peaks) / 1024:.1f}")
if len(rss) >= 3:
    settled = rss[len(rss) // 4:]
    print(f"long-lived host: {n_long} instances ({dict(long_roles)}), {long_lines} lines; RSS (MiB) "
          f"after start-up {settled[0] / 1024:.1f} -> end {settled[-1] / 1024:.1f} (max {max(settled) / 1024:.1f}, {len(rss)} samples)")
    if settled[-1] > settled[0] * 1.2 + 8 * 1024:
        failures.append(f"long-lived host RSS grew: {settled[0]} -> {settled[-1]} KiB")
if max(peaks) > min(peaks) * 1.3 + 16 * 1024:
    failures.append(f"wave peak RSS not flat: {peaks}")
print("lines lost: 0" if not any("seq has gaps" in f for f in failures) else "lines lost: SOME")
for failure in failures[:20]:
    print("FAIL", failure)
sys.exit(1 if failures else 0)
