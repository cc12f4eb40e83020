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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmhost.h"

static int failures = 0;

#define CHECK(name, cond, ...)                                   \
    do {                                                         \
        if (cond) {                                              \
            printf("ok %s\n", name);                             \
        } else {                                                 \
            printf("FAIL %s: ", name);                           \
            printf(__VA_ARGS__);                                 \
            printf("\n");                                        \
            failures++;                                          \
        }                                                        \
    } while (0)

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

static char guests[4096];

static WasmhostModule *load(WasmhostHost *host, const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.wasm", guests, name);
    WasmhostModule *module = NULL;
    char *error = NULL;
    if (wasmhost_module_load_file(host, path, &module, &error) != WASMHOST_STATUS_OK) {
        printf("FAIL load %s: %s\n", name, error);
        wasmhost_string_free(error);
        exit(1);
    }
    return module;
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
