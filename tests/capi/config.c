/* A host built from the routing TOML of `wasmhost run --config`, the
 * compile cache, and the run limits (fuel, memory, timeout), through the C
 * API. Built by tests/capi.rs with gcc against libwasmhost_capi.a and run
 * on the guests the Makefile builds:
 *
 *   config GUESTS_DIR CONFIG BROKEN_CONFIG
 *
 * Prints `ok NAME` or `FAIL NAME: why` per check, and `record RUN LINE` for
 * every record a run's callback received: the test reads the events and
 * their fields from those, and compares them with the files the config's
 * routes wrote. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

/* Prints each record as `record RUN LINE` (the line has its own '\n'). */
static void on_record(void *user_data, const uint8_t *line, size_t len) {
    printf("record %s %.*s", (const char *)user_data, (int)len, (const char *)line);
}

/* Runs `module` with one argument (or none) and these limits, its records
 * printed as `record RUN ...`. Returns the result, or NULL with the status
 * in *status and the message printed as `error RUN ...`. */
static WasmhostResult *run(const WasmhostModule *module, const char *name, const char *arg, uint64_t timeout_ms, uint64_t fuel,
                           uint64_t max_memory, WasmhostStatus *status) {
    WasmhostRunOptions *options = wasmhost_run_options_new();
    if (arg) {
        wasmhost_run_options_arg(options, arg, NULL);
    }
    wasmhost_run_options_limits(options, timeout_ms, fuel, max_memory, 0, NULL);
    wasmhost_run_options_callback(options, on_record, (void *)name, NULL);
    WasmhostResult *result = NULL;
    char *error = NULL;
    *status = wasmhost_run(module, options, &result, &error);
    if (*status != WASMHOST_STATUS_OK) {
        printf("error %s %s\n", name, error);
        wasmhost_string_free(error);
    }
    wasmhost_run_options_free(options);
    fflush(stdout);
    return result;
}

/* Builds a host from `options` and frees them, or ends the program. */
static WasmhostHost *new_host(WasmhostHostOptions *options, const char *what) {
    WasmhostHost *host = NULL;
    char *error = NULL;
    WasmhostStatus status = wasmhost_host_new(options, &host, &error);
    wasmhost_host_options_free(options);
    if (status != WASMHOST_STATUS_OK) {
        printf("FAIL %s: %s\n", what, error);
        exit(1);
    }
    return host;
}

static int ended(const WasmhostResult *result, const char *outcome, int exit_code) {
    return result && strcmp(wasmhost_result_outcome(result), outcome) == 0 && wasmhost_result_exit_code(result) == exit_code;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s GUESTS_DIR CONFIG BROKEN_CONFIG\n", argv[0]);
        return 2;
    }
    snprintf(guests, sizeof guests, "%s", argv[1]);
    /* Callbacks print from the library's threads: no interleaved buffers. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *error = NULL;
    WasmhostStatus status;

    /* A config the CLI would refuse is refused here too, with its reason. */
    WasmhostHostOptions *options = wasmhost_host_options_new();
    wasmhost_host_options_config(options, argv[3], NULL);
    WasmhostHost *host = NULL;
    status = wasmhost_host_new(options, &host, &error);
    CHECK("broken_config", status == WASMHOST_STATUS_CONFIG && host == NULL && error && strstr(error, "carrier-pigeon"), "%s: %s",
          wasmhost_status_name(status), error ? error : "(no message)");
    wasmhost_string_free(error);
    wasmhost_host_options_free(options);

    /* The host of the config: its sinks and routes, its [lift]; fuel metered. */
    options = wasmhost_host_options_new();
    wasmhost_host_options_config(options, argv[2], NULL);
    wasmhost_host_options_discard_default(options, NULL);
    wasmhost_host_options_fuel(options, true, NULL);
    host = new_host(options, "host");

    /* The compile cache: the first load compiles, the second loads the code. */
    WasmhostModule *first = load(host, "c/exit");
    WasmhostResult *result = run(first, "compile_first", NULL, 0, 0, 0, &status);
    CHECK("compile_first", ended(result, "exit", 0), "%s", wasmhost_status_name(status));
    wasmhost_result_free(result);
    WasmhostModule *second = load(host, "c/exit");
    result = run(second, "compile_second", NULL, 0, 0, 0, &status);
    CHECK("compile_second", ended(result, "exit", 0), "%s", wasmhost_status_name(status));
    wasmhost_result_free(result);
    wasmhost_module_free(first);
    wasmhost_module_free(second);

    /* Limits: fuel, wall time, memory. */
    WasmhostModule *spin = load(host, "c/spin");
    result = run(spin, "fuel", NULL, 0, 2000000, 0, &status);
    CHECK("fuel", ended(result, "out_of_fuel", 134), "%s %d", result ? wasmhost_result_outcome(result) : "-", result ? wasmhost_result_exit_code(result) : -1);
    wasmhost_result_free(result);
    result = run(spin, "timeout", NULL, 200, 0, 0, &status);
    CHECK("timeout", ended(result, "timeout", 134), "%s %d", result ? wasmhost_result_outcome(result) : "-", result ? wasmhost_result_exit_code(result) : -1);
    wasmhost_result_free(result);
    WasmhostModule *grow = load(host, "c/grow");
    /* 64 MiB asked for, 8 MiB allowed: malloc fails, the guest exits 3. */
    result = run(grow, "memory", "64", 0, 0, 8 << 20, &status);
    CHECK("memory", ended(result, "exit", 3), "%s %d", result ? wasmhost_result_outcome(result) : "-", result ? wasmhost_result_exit_code(result) : -1);
    wasmhost_result_free(result);
    wasmhost_module_free(grow);

    /* The routes: a trap goes to the traps file as well; [lift] renames. */
    WasmhostModule *trap = load(host, "c/trap");
    result = run(trap, "trap", NULL, 0, 0, 0, &status);
    CHECK("trap", ended(result, "trap", 134), "%s", wasmhost_status_name(status));
    wasmhost_result_free(result);
    wasmhost_module_free(trap);
    WasmhostModule *formats = load(host, "c/formats");
    result = run(formats, "lift", "json", 0, 0, 0, &status);
    CHECK("lift", ended(result, "exit", 0), "%s", wasmhost_status_name(status));
    wasmhost_result_free(result);
    wasmhost_module_free(formats);
    CHECK("host_free", wasmhost_host_free(host) == WASMHOST_STATUS_OK, "status");

    /* A host without the cache compiles every time; fuel needs metering. */
    options = wasmhost_host_options_new();
    wasmhost_host_options_cache(options, false, NULL);
    wasmhost_host_options_discard_default(options, NULL);
    host = new_host(options, "host without cache");
    WasmhostModule *uncached = load(host, "c/exit");
    result = run(uncached, "uncached", NULL, 0, 0, 0, &status);
    CHECK("uncached", ended(result, "exit", 0), "%s", wasmhost_status_name(status));
    wasmhost_result_free(result);
    result = run(uncached, "unmetered", NULL, 0, 1000, 0, &status);
    CHECK("fuel_unmetered", result == NULL && status == WASMHOST_STATUS_RUN, "%s", wasmhost_status_name(status));
    wasmhost_module_free(uncached);
    wasmhost_module_free(spin); /* the last module of the first host: its sinks drain here */
    wasmhost_host_free(host);
    printf("done %d failures\n", failures);
    return failures ? 1 : 0;
}
