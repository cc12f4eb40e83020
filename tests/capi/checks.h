/* What the C test programs (example.c, config.c) share: the CHECK macro
 * that prints `ok NAME` or `FAIL NAME: why` (tests/capi.rs reads those),
 * and loading a guest the Makefile built, by name ("c/hello"). */
#ifndef WASMHOST_TEST_CHECKS_H
#define WASMHOST_TEST_CHECKS_H

#include <stdio.h>
#include <stdlib.h>

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

/* The directory of the built guests (argv[1] of every program). */
static char guests[4096];

/* Loads guests/NAME.wasm, or ends the program: nothing else can be checked. */
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

#endif
