/* wasmhost_log.h: the wasmhost logging import for C guests (one header, no
 * library). A guest calls wasmhost_log(...) instead of fprintf(stderr, ...):
 * the host gets the level, the message and the fields as they are, with no
 * parsing. ABI: docs/guest-api.md. Build: clang --target=wasm32-wasi.
 *
 *   #include "wasmhost_log.h"
 *   wasmhost_log(WASMHOST_LOG_WARN, "slow query");
 *   wasmhost_log_field_t f[] = {{"table", "users"}, {"ms", "120"}};
 *   wasmhost_log_fields(WASMHOST_LOG_WARN, "slow query", f, 2);
 */
#ifndef WASMHOST_LOG_H
#define WASMHOST_LOG_H

#include <stdint.h>
#include <string.h>

enum {
    WASMHOST_LOG_TRACE = 0,
    WASMHOST_LOG_DEBUG = 1,
    WASMHOST_LOG_INFO = 2,
    WASMHOST_LOG_WARN = 3,
    WASMHOST_LOG_ERROR = 4,
};

/* One key/value pair as the ABI lays it out: four little-endian u32s
 * (key pointer, key length, value pointer, value length). */
typedef struct {
    const char *key;
    uint32_t key_len;
    const char *value;
    uint32_t value_len;
} wasmhost_log_kv_t;

/* The raw imports. Lengths are bytes; text is UTF-8. */
__attribute__((import_module("wasmhost_log"), import_name("log")))
void wasmhost_log_raw(int32_t level, const char *msg, uint32_t msg_len);

__attribute__((import_module("wasmhost_log"), import_name("log_kv")))
void wasmhost_log_kv_raw(int32_t level, const char *msg, uint32_t msg_len,
                         const wasmhost_log_kv_t *kv, uint32_t kv_count);

/* A field as C code writes it: two NUL-terminated strings. */
typedef struct {
    const char *key;
    const char *value;
} wasmhost_log_field_t;

static inline void wasmhost_log(int32_t level, const char *msg) {
    wasmhost_log_raw(level, msg, (uint32_t)strlen(msg));
}

/* Up to 32 fields per call (the host accepts 256 through the raw import). */
static inline void wasmhost_log_fields(int32_t level, const char *msg,
                                       const wasmhost_log_field_t *fields, uint32_t count) {
    wasmhost_log_kv_t kv[32];
    if (count > 32) count = 32;
    for (uint32_t i = 0; i < count; i++) {
        kv[i].key = fields[i].key;
        kv[i].key_len = (uint32_t)strlen(fields[i].key);
        kv[i].value = fields[i].value;
        kv[i].value_len = (uint32_t)strlen(fields[i].value);
    }
    wasmhost_log_kv_raw(level, msg, (uint32_t)strlen(msg), kv, count);
}

#endif
