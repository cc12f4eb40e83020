// formats: writes to stderr the log lines of common libraries and habits, one
// set per argument, for wasmhost's lifting (docs/log-format.md):
//   prefixes  C habits: ERROR, WARN:, [info], <warn>, E/tag:, INFO|
//   python    Python logging's default and asctime forms, and a traceback
//   logfmt    logfmt lines
//   json      JSON objects (nested fields, numeric levels, trace ids)
//   trace     trace_id/span_id in JSON and logfmt lines: valid, and not
//   spoof     lines that try to set the host's own fields
//   odd       what must stay plain: broken JSON, arrays, scalars, bad UTF-8
//   longjson  one JSON object of about 1 MiB (cut by --max-line-bytes)
//   traceback a Python traceback alone (a multi-line block)
//   jsonlines N  N JSON lines shaped as Go slog's JSON handler writes them
//             (benches/lift.sh)
//   sleep     sleeps 1.5 s (poll_oneoff), then writes "woke": a block written
//             before it must not wait for this line
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void prefixes(void) {
    fputs("ERROR disk full\n", stderr);
    fputs("WARN: low memory\n", stderr);
    fputs("[info] started\n", stderr);
    fputs("<warn> slow disk\n", stderr);
    fputs("E/net: link down\n", stderr);
    fputs("INFO| piped\n", stderr);
    fputs("Error opening file is prose\n", stderr);
}

static void traceback(void) {
    fputs("Traceback (most recent call last):\n", stderr);
    fputs("  File \"app.py\", line 10, in <module>\n", stderr);
    fputs("    main()\n", stderr);
    fputs("  File \"app.py\", line 7, in main\n", stderr);
    fputs("    raise ValueError(\"bad input\")\n", stderr);
    fputs("ValueError: bad input\n", stderr);
}

static void python(void) {
    fputs("ERROR:root:disk full\n", stderr);
    fputs("WARNING:app.db:slow query\n", stderr);
    fputs("2026-11-25 10:00:00,123 INFO started\n", stderr);
    fputs("2026-11-25 10:00:01,456 - app - CRITICAL - out of memory\n", stderr);
    traceback();
    fputs("after the traceback\n", stderr);
}

static void jsonlines(long n) {
    for (long i = 1; i <= n; i++) {
        fprintf(stderr, "{\"time\":\"2026-11-25T10:00:00.123456Z\",\"level\":\"INFO\",\"msg\":\"request done\","
                        "\"req\":{\"id\":%ld,\"path\":\"/upper\"},\"status\":200,\"ms\":12}\n", i);
    }
}

static void sleep_then_write(void) {
    struct timespec ts = {1, 500000000L};
    nanosleep(&ts, NULL);
    fputs("woke\n", stderr);
}

static void logfmt(void) {
    fputs("level=warn msg=\"slow query\" db.table=users ms=120\n", stderr);
    fputs("ts=2026-11-25T10:00:00Z lvl=error message=\"disk \\\"sda\\\" full\" dev=sda\n", stderr);
}

static void json(void) {
    fputs("{\"level\":\"warn\",\"msg\":\"slow query\",\"time\":\"2026-11-25T10:00:00Z\","
          "\"db\":{\"table\":\"users\",\"stats\":{\"ms\":120,\"rows\":3}},\"tags\":[\"a\",\"b\"],"
          "\"cached\":false,\"ratio\":0.25,\"note\":null,\"http.status\":200,\"user-agent\":\"curl\"}\n", stderr);
    fputs("{\"severity\":17,\"message\":\"otel error\"}\n", stderr);
    fputs("{\"level\":50,\"msg\":\"pino error\"}\n", stderr);
    fputs("{\"msg\":\"traced\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}\n", stderr);
}

static void trace(void) {
    fputs("{\"msg\":\"valid ids\",\"trace_id\":\"0AF7651916CD43DD8448EB211C80319C\",\"span_id\":\"B7AD6B7169203331\"}\n", stderr);
    fputs("{\"msg\":\"invalid ids\",\"trace_id\":\"00000000000000000000000000000000\",\"span_id\":\"b7ad6b716920\"}\n", stderr);
    fputs("level=info msg=\"logfmt ids\" trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331\n", stderr);
}

static void spoof(void) {
    fputs("{\"msg\":\"spoof\",\"wasm_instance_id\":\"00000000-0000-7000-8000-000000000000\",\"seq\":1,"
          "\"lang\":\"rust\",\"module\":\"evil\",\"stream\":\"host\",\"event\":\"instance.exit\",\"ts\":\"then\","
          "\"v\":2,\"task_id\":7,\"lifted\":\"no\",\"job\":\"fake\",\"level\":\"info\"}\n", stderr);
    fputs("level=info msg=spoof wasm_instance_id=x seq=1 job=fake\n", stderr);
}

static void odd(void) {
    fputs("{\"msg\":\"broken\"\n", stderr);
    fputs("[1,2,3]\n", stderr);
    fputs("42\n", stderr);
    fputs("\"just a string\"\n", stderr);
    fputs("{\"msg\":\"bad \xff byte\"}\n", stderr);
    fputs("{}\n", stderr);
    fputs("x=1 is prose\n", stderr);
}

static void longjson(void) {
    fputs("{\"msg\":\"", stderr);
    static char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 256; i++) fwrite(chunk, 1, sizeof chunk, stderr);
    fputs("\",\"level\":\"error\"}\n", stderr);
    fputs("after\n", stderr);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "prefixes")) prefixes();
        else if (!strcmp(a, "python")) python();
        else if (!strcmp(a, "logfmt")) logfmt();
        else if (!strcmp(a, "json")) json();
        else if (!strcmp(a, "trace")) trace();
        else if (!strcmp(a, "spoof")) spoof();
        else if (!strcmp(a, "odd")) odd();
        else if (!strcmp(a, "longjson")) longjson();
        else if (!strcmp(a, "traceback")) traceback();
        else if (!strcmp(a, "sleep")) sleep_then_write();
        else if (!strcmp(a, "jsonlines") && i + 1 < argc) jsonlines(strtol(argv[++i], NULL, 10));
        else { fprintf(stderr, "unknown set %s\n", a); return 2; }
    }
    return 0;
}
