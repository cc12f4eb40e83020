"""Writes N realistic wasmhost log lines (~420 bytes each, one hour of
timestamps, six languages, 10% of them another job) to stdout, for
benches/logql.sh. Deterministic: the same N gives the same file."""
import json, random, sys, uuid
random.seed(7)
n = int(sys.argv[1])
langs = ["rust", "go", "c", "zig", "python", "js"]
mods = ["api", "auth", "billing", "search", "cron", "mailer"]
levels = ["info"] * 7 + ["debug", "warn", "error"]
ids = [str(uuid.UUID(int=random.getrandbits(128))) for _ in range(64)]
words = "request handled upstream latency cache miss retry user session token db query rows returned".split()
out = sys.stdout
for i in range(n):
    secs = i * 3600 / n
    ts = "2026-11-25T%02d:%02d:%02d.%09dZ" % (18 + int(secs // 3600), int(secs % 3600 // 60), int(secs % 60), int(secs * 1e9) % 1000000000)
    lang = random.choice(langs)
    d = {"ts": ts, "level": random.choice(levels), "msg": " ".join(random.choice(words) for _ in range(random.randint(12, 22))),
         "lang": lang, "module": random.choice(mods), "wasm_instance_id": random.choice(ids), "task_id": random.randint(1, 5000),
         "stream": random.choice(["stderr", "stderr", "host"]), "seq": i, "v": 1, "job": "gateway" if i % 10 else "batch",
         "traceparent": "00-%032x-%016x-01" % (random.getrandbits(128), random.getrandbits(64)), "duration_ms": round(random.random() * 200, 3)}
    out.write(json.dumps(d, separators=(",", ":")) + "\n")
