// logapi: logs through the wasmhost_log import (guests/include/wasmhost_log.h)
// instead of stderr. argv[1] picks what: "ok" (default) a plain record and one
// with fields (one of them trying to pass for a host field); "bench N" N
// records; "badptr", "badlen", "badlevel", "badkv" a broken call, which must
// end this instance with a clear event.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../include/wasmhost_log.h"

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "ok";
    if (!strcmp(mode, "ok")) {
        wasmhost_log(WASMHOST_LOG_INFO, "hello from c through wasmhost_log");
        wasmhost_log_field_t f[] = {{"table", "users"}, {"ms", "120"}, {"wasm_instance_id", "spoofed"}, {"user.name", "alice"}};
        wasmhost_log_fields(WASMHOST_LOG_WARN, "slow query", f, 4);
        fprintf(stderr, "and one line on stderr\n");
    } else if (!strcmp(mode, "bench")) {
        long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
        char msg[96];
        for (long i = 1; i <= n; i++) {
            int len = snprintf(msg, sizeof msg, "line %08ld: the quick brown fox jumps over the lazy dog 0123456789", i);
            wasmhost_log_raw(WASMHOST_LOG_INFO, msg, (uint32_t)len);
        }
    } else if (!strcmp(mode, "bench-stderr")) {
        long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
        for (long i = 1; i <= n; i++) {
            fprintf(stderr, "line %08ld: the quick brown fox jumps over the lazy dog 0123456789\n", i);
        }
    } else if (!strcmp(mode, "badptr")) {
        fprintf(stderr, "about to pass a bad pointer\n");
        wasmhost_log_raw(WASMHOST_LOG_INFO, (const char *)0x7ffffff0, 64);
        fprintf(stderr, "not reached\n");
    } else if (!strcmp(mode, "badlen")) {
        wasmhost_log_raw(WASMHOST_LOG_INFO, "short", 0xfffffff0u);
    } else if (!strcmp(mode, "badlevel")) {
        wasmhost_log_raw(9, "what level", 10);
    } else if (!strcmp(mode, "badkv")) {
        wasmhost_log_kv_t kv[1] = {{"key", 3, (const char *)0x7ffffff0, 8}};
        wasmhost_log_kv_raw(WASMHOST_LOG_INFO, "bad value", 9, kv, 1);
    }
    return 0;
}
