/* The C API as a C gateway uses it: one host, modules loaded once, runs
 * from many threads, each run's records through its callback. Built by
 * tests/capi.rs with gcc against libwasmhost_capi.a and .so and run on the
 * guests the Makefile builds:
 *
 *   example GUESTS_DIR LOG_FILE
 *
 * Prints `ok NAME` or `FAIL NAME: why` per check (exit 1 on any failure),
 * and `record RUN LINE` for every record a callback received, so the test
 * can compare them with the log file's lines. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checks.h"

/* One run's records, as its callback receives them (never concurrently). */
struct records {
    char *text;
    size_t len;
    int count;
};

static void on_record(void *user_data, const uint8_t *line, size_t len) {
    struct records *r = user_data;
    r->text = realloc(r->text, r->len + len + 1);
    memcpy(r->text + r->len, line, len);
    r->len += len;
    r->text[r->len] = '\0';
    r->count++;
}

static void print_records(const char *run, const struct records *r) {
    const char *p = r->text ? r->text : "";
    while (*p) {
        const char *end = strchr(p, '\n');
        printf("record %s %.*s\n", run, (int)(end - p), p);
        p = end + 1;
    }
}

/* Runs `module` with `options`, the callback collecting into `records`. */
static WasmhostResult *run(const WasmhostModule *module, WasmhostRunOptions *options, struct records *records) {
    char *error = NULL;
    if (records) {
        wasmhost_run_options_callback(options, on_record, records, NULL);
    }
    WasmhostResult *result = NULL;
    WasmhostStatus status = wasmhost_run(module, options, &result, &error);
    if (status != WASMHOST_STATUS_OK) {
        printf("FAIL run: %s: %s\n", wasmhost_status_name(status), error);
        wasmhost_string_free(error);
        exit(1);
    }
    return result;
}

static const char *stdout_of(const WasmhostResult *result, size_t *len) {
    const uint8_t *data = NULL;
    wasmhost_result_stdout(result, &data, len, NULL);
    return (const char *)data;
}

/* Cancels a run from another thread, 300 ms after it started. */
static void *cancel_later(void *cancel) {
    struct timespec wait = {0, 300 * 1000 * 1000};
    nanosleep(&wait, NULL);
    wasmhost_cancel(cancel);
    return NULL;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Eight threads, each running the logger guest a few times. */
#define THREADS 8
#define RUNS 4
struct worker {
    const WasmhostModule *module;
    const WasmhostRunOptions *options; /* shared by all threads */
    int ok;
    char why[256];
};

static void *work(void *arg) {
    struct worker *w = arg;
    w->ok = 1;
    for (int i = 0; i < RUNS && w->ok; i++) {
        struct records records = {0};
        WasmhostRunOptions *options = wasmhost_run_options_new();
        wasmhost_run_options_arg(options, "25", NULL);
        wasmhost_run_options_label(options, "job", "capi", NULL);
        wasmhost_run_options_callback(options, on_record, &records, NULL);
        WasmhostResult *result = NULL;
        char *error = NULL;
        if (wasmhost_run(w->module, options, &result, &error) != WASMHOST_STATUS_OK) {
            snprintf(w->why, sizeof w->why, "run: %s", error);
            wasmhost_string_free(error);
            w->ok = 0;
        } else {
            /* instance.start, 25 lines, instance.exit: all of this instance. */
            const char *id = wasmhost_result_instance_id(result);
            int mine = 0;
            for (const char *p = records.text; p && (p = strstr(p, id)); p++) mine++;
            if (wasmhost_result_exit_code(result) != 0 || records.count != 27 || mine != 27 ||
                !strstr(records.text, "\"event\":\"instance.exit\"")) {
                snprintf(w->why, sizeof w->why, "exit %d, %d records, %d with id %s",
                         wasmhost_result_exit_code(result), records.count, mine, id);
                w->ok = 0;
            }
            wasmhost_result_free(result);
        }
        wasmhost_run_options_free(options);
        free(records.text);
    }
    /* The shared options (no callback) from every thread at once. */
    WasmhostResult *result = NULL;
    if (w->ok && wasmhost_run(w->module, w->options, &result, NULL) == WASMHOST_STATUS_OK) {
        if (wasmhost_result_exit_code(result) != 0) {
            snprintf(w->why, sizeof w->why, "shared options: exit %d", wasmhost_result_exit_code(result));
            w->ok = 0;
        }
        wasmhost_result_free(result);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s GUESTS_DIR LOG_FILE\n", argv[0]);
        return 2;
    }
    snprintf(guests, sizeof guests, "%s", argv[1]);
    char *error = NULL;

    WasmhostHostOptions *host_options = wasmhost_host_options_new();
    wasmhost_host_options_log_file(host_options, argv[2], NULL);
    WasmhostHost *host = NULL;
    if (wasmhost_host_new(host_options, &host, &error) != WASMHOST_STATUS_OK) {
        printf("FAIL host: %s\n", error);
        return 1;
    }
    wasmhost_host_options_free(host_options);
    WasmhostModule *hello = load(host, "c/hello");
    WasmhostModule *upper = load(host, "c/upper");
    WasmhostModule *trap = load(host, "c/trap");
    WasmhostModule *spin = load(host, "c/spin");
    WasmhostModule *logger = load(host, "c/logger");
    CHECK("module_name", strcmp(wasmhost_module_name(hello), "hello") == 0, "%s", wasmhost_module_name(hello));

    /* hello: stdout captured, records to the callback and the log file. */
    struct records records = {0};
    WasmhostRunOptions *options = wasmhost_run_options_new();
    wasmhost_run_options_label(options, "job", "capi", NULL);
    wasmhost_run_options_label(options, "route", "/hello", NULL);
    wasmhost_run_options_traceparent(options, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL);
    WasmhostResult *result = run(hello, options, &records);
    size_t len = 0;
    const char *out = stdout_of(result, &len);
    CHECK("hello_exit", wasmhost_result_exit_code(result) == 0, "%d", wasmhost_result_exit_code(result));
    CHECK("hello_outcome", strcmp(wasmhost_result_outcome(result), "exit") == 0, "%s", wasmhost_result_outcome(result));
    CHECK("hello_stdout", len == 13 && memcmp(out, "hello from c\n", 13) == 0, "%.*s", (int)len, out);
    CHECK("hello_records", records.count == 3, "%d records", records.count);
    printf("instance hello %s\n", wasmhost_result_instance_id(result));
    print_records("hello", &records);
    wasmhost_result_free(result);
    wasmhost_run_options_free(options);
    free(records.text);

    /* upper: stdin bytes in, stdout out. */
    options = wasmhost_run_options_new();
    wasmhost_run_options_stdin(options, (const uint8_t *)"request body", 12, NULL);
    result = run(upper, options, NULL);
    out = stdout_of(result, &len);
    CHECK("upper_stdout", len == 12 && memcmp(out, "REQUEST BODY", 12) == 0, "%.*s", (int)len, out);
    wasmhost_result_free(result);
    wasmhost_run_options_free(options);

    /* env: arguments and exactly the environment given. */
    WasmhostModule *env = load(host, "c/env");
    options = wasmhost_run_options_new();
    wasmhost_run_options_arg(options, "one", NULL);
    wasmhost_run_options_env(options, "MODE", "loud", NULL);
    result = run(env, options, NULL);
    out = stdout_of(result, &len);
    CHECK("env_args", len > 0 && strstr(out, "arg one\nenv MODE=loud\n") && !strstr(out, "PATH="), "%.*s", (int)len, out);
    wasmhost_result_free(result);
    wasmhost_run_options_free(options);
    wasmhost_module_free(env);

    /* cat: a preopened directory is reachable, nothing else is. */
    WasmhostModule *cat = load(host, "c/cat");
    for (int granted = 0; granted < 2; granted++) {
        options = wasmhost_run_options_new();
        wasmhost_run_options_arg(options, "/g/c/hello.wasm", NULL);
        if (granted) {
            wasmhost_run_options_preopen(options, guests, "/g", NULL);
        }
        result = run(cat, options, NULL);
        out = stdout_of(result, &len);
        int read_it = wasmhost_result_exit_code(result) == 0 && len > 4 && memcmp(out, "\0asm", 4) == 0;
        CHECK(granted ? "preopen_granted" : "preopen_refused", granted ? read_it : wasmhost_result_exit_code(result) == 1,
              "exit %d, %zu bytes", wasmhost_result_exit_code(result), len);
        wasmhost_result_free(result);
        wasmhost_run_options_free(options);
    }
    wasmhost_module_free(cat);

    /* A module from bytes, named by the caller. */
    char path[4200];
    snprintf(path, sizeof path, "%s/c/hello.wasm", guests);
    FILE *f = fopen(path, "rb");
    static uint8_t code[1 << 20];
    size_t code_len = f ? fread(code, 1, sizeof code, f) : 0;
    if (f) fclose(f);
    WasmhostModule *from_bytes = NULL;
    CHECK("load_bytes", wasmhost_module_load_bytes(host, "greeter", code, code_len, &from_bytes, &error) == WASMHOST_STATUS_OK, "%s", error);
    result = run(from_bytes, NULL, NULL);
    out = stdout_of(result, &len);
    CHECK("load_bytes_run", len == 13 && memcmp(out, "hello from c\n", 13) == 0, "%.*s", (int)len, out);
    wasmhost_result_free(result);
    wasmhost_module_free(from_bytes);

    /* trap: a result, not an error; the trap event reaches the callback. */
    records = (struct records){0};
    result = run(trap, NULL, NULL);
    CHECK("trap_exit", wasmhost_result_exit_code(result) == 134, "%d", wasmhost_result_exit_code(result));
    CHECK("trap_outcome", strcmp(wasmhost_result_outcome(result), "trap") == 0, "%s", wasmhost_result_outcome(result));
    wasmhost_result_free(result);
    options = wasmhost_run_options_new();
    result = run(trap, options, &records);
    CHECK("trap_event", records.text && strstr(records.text, "\"event\":\"instance.trap\""), "%s", records.text);
    print_records("trap", &records);
    wasmhost_result_free(result);
    wasmhost_run_options_free(options);
    free(records.text);

    /* spin: stopped by the run's timeout. */
    records = (struct records){0};
    options = wasmhost_run_options_new();
    wasmhost_run_options_limits(options, 200, 0, 0, 0, NULL);
    result = run(spin, options, &records);
    CHECK("spin_timeout", strcmp(wasmhost_result_outcome(result), "timeout") == 0 && wasmhost_result_exit_code(result) == 134,
          "%s %d", wasmhost_result_outcome(result), wasmhost_result_exit_code(result));
    CHECK("spin_event", records.text && strstr(records.text, "\"event\":\"instance.timeout\""), "%s", records.text);
    wasmhost_result_free(result);
    wasmhost_run_options_free(options);
    free(records.text);

    /* spin (in wasm) and sleep (in a host call for 60 s), each stopped by
     * its cancel handle from another thread: outcome stopped, at once. */
    WasmhostModule *sleeper = load(host, "c/sleep");
    const WasmhostModule *cancelled[2] = {spin, sleeper};
    for (int i = 0; i < 2; i++) {
        records = (struct records){0};
        options = wasmhost_run_options_new();
        wasmhost_run_options_arg(options, "60000", NULL);
        WasmhostCancel *cancel = wasmhost_cancel_new();
        wasmhost_run_options_cancel(options, cancel, NULL);
        pthread_t canceller;
        pthread_create(&canceller, NULL, cancel_later, cancel);
        double started = now_ms();
        result = run(cancelled[i], options, &records);
        double took = now_ms() - started;
        pthread_join(canceller, NULL);
        const char *name = i == 0 ? "cancel_spin" : "cancel_sleep";
        CHECK(name, strcmp(wasmhost_result_outcome(result), "stopped") == 0 && wasmhost_result_exit_code(result) == 134 && took < 3000,
              "%s %d after %.0f ms", wasmhost_result_outcome(result), wasmhost_result_exit_code(result), took);
        const char *stopped = records.text ? strstr(records.text, "\"event\":\"instance.stopped\"") : NULL;
        CHECK(i == 0 ? "cancel_spin_events" : "cancel_sleep_events",
              stopped && strstr(records.text, "\"msg\":\"stopped: the run was cancelled\"") && strstr(stopped, "\"event\":\"instance.exit\""),
              "%s", records.text);
        wasmhost_result_free(result);
        wasmhost_run_options_free(options);
        CHECK(i == 0 ? "cancel_free" : "cancel_double_free", wasmhost_cancel_free(cancel) == WASMHOST_STATUS_OK &&
              wasmhost_cancel_free(cancel) == WASMHOST_STATUS_INVALID_HANDLE && wasmhost_cancel(cancel) == WASMHOST_STATUS_INVALID_HANDLE, "status");
        free(records.text);
    }
    wasmhost_module_free(sleeper);
    CHECK("cancel_null", wasmhost_cancel(NULL) == WASMHOST_STATUS_NULL_ARGUMENT &&
          wasmhost_run_options_cancel(NULL, NULL, NULL) == WASMHOST_STATUS_NULL_ARGUMENT, "status");

    /* Misuse: errors, not crashes. */
    CHECK("null_module", wasmhost_run(NULL, NULL, &result, &error) == WASMHOST_STATUS_NULL_ARGUMENT && error, "status");
    wasmhost_string_free(error);
    CHECK("null_result", wasmhost_run(hello, NULL, NULL, NULL) == WASMHOST_STATUS_NULL_ARGUMENT, "status");
    options = wasmhost_run_options_new();
    CHECK("invalid_utf8", wasmhost_run_options_arg(options, "\xff\xfe", &error) == WASMHOST_STATUS_INVALID_UTF8 &&
          strstr(error, "UTF-8"), "%s", error);
    wasmhost_string_free(error);
    wasmhost_run_options_label(options, "lang", "cobol", NULL);
    CHECK("reserved_label", wasmhost_run(hello, options, &result, &error) == WASMHOST_STATUS_RUN && strstr(error, "lang"), "%s", error);
    wasmhost_string_free(error);
    CHECK("options_double_free", wasmhost_run_options_free(options) == WASMHOST_STATUS_OK &&
          wasmhost_run_options_free(options) == WASMHOST_STATUS_INVALID_HANDLE, "status");
    CHECK("options_as_module", wasmhost_run((const WasmhostModule *)host, NULL, &result, NULL) == WASMHOST_STATUS_INVALID_HANDLE, "status");
    CHECK("missing_file", wasmhost_module_load_file(host, "/nonexistent.wasm", &(WasmhostModule *){0}, &error) == WASMHOST_STATUS_LOAD &&
          strstr(error, "/nonexistent.wasm"), "%s", error);
    wasmhost_string_free(error);
    CHECK("garbage_bytes", wasmhost_module_load_bytes(host, "junk", (const uint8_t *)"junk", 4, &(WasmhostModule *){0}, &error) == WASMHOST_STATUS_LOAD,
          "%s", error);
    wasmhost_string_free(error);
    CHECK("null_free", wasmhost_result_free(NULL) == WASMHOST_STATUS_NULL_ARGUMENT && wasmhost_string_free(NULL) == WASMHOST_STATUS_OK, "status");
    CHECK("null_accessors", wasmhost_result_exit_code(NULL) == -1 && wasmhost_result_instance_id(NULL) == NULL, "values");

    /* Eight threads at once, sharing the host, the module and one options handle. */
    WasmhostRunOptions *shared = wasmhost_run_options_new();
    wasmhost_run_options_arg(shared, "3", NULL);
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.module = logger, .options = shared};
        pthread_create(&threads[i], NULL, work, &workers[i]);
    }
    int all = 1;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (!workers[i].ok) {
            printf("FAIL thread %d: %s\n", i, workers[i].why);
            all = 0;
        }
    }
    CHECK("threads", all, "see above");
    wasmhost_run_options_free(shared);

    wasmhost_module_free(hello);
    wasmhost_module_free(upper);
    wasmhost_module_free(trap);
    wasmhost_module_free(spin);
    /* The host goes first; the last module keeps its sinks alive. */
    CHECK("host_free", wasmhost_host_free(host) == WASMHOST_STATUS_OK && wasmhost_host_free(host) == WASMHOST_STATUS_INVALID_HANDLE, "status");
    result = run(logger, NULL, NULL);
    CHECK("module_outlives_host", wasmhost_result_exit_code(result) == 0, "%d", wasmhost_result_exit_code(result));
    wasmhost_result_free(result);
    wasmhost_module_free(logger);
    printf("done %d failures\n", failures);
    return failures ? 1 : 0;
}
