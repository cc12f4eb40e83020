// Runs an ONNX model through WASI-NN (the preview1 `wasi_ephemeral_nn`
// imports, declared by hand) and prints its outputs on stdout.
//
//   nn file:PATH|name:NAME [DIMS=V,V,...]... [--outputs N] [--repeat N]
//      [--bad-pointer] [--bad-context] [--encoding E] [--out-max BYTES]
//
// DIMS is like 1x4; the values are f32, or `ramp`: value i is
// (i % 17) / 17 - 0.5 (big inputs without a long command line). Every failing call prints
// "nn: CALL failed: errno E" on stderr and exits 3. --repeat N runs
// set_input+compute+get_output N times and prints the mean per iteration as
// "iter_ns=..." on stderr (the benchmark's guest side). --bad-pointer gives
// set_input a tensor whose data lies outside linear memory; --bad-context
// computes on a context handle it never got; --encoding loads with another
// graph encoding (0 openvino, 1 onnx, ...); --out-max gives get_output a
// smaller buffer.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NN(name) __attribute__((import_module("wasi_ephemeral_nn"), import_name(#name)))

typedef struct { const uint8_t *buf; uint32_t len; } graph_builder;
typedef struct {
    const uint32_t *dims; uint32_t rank;
    uint8_t type;
    const uint8_t *data; uint32_t data_len;
} tensor;

NN(load) int32_t nn_load(const graph_builder *builders, uint32_t n, uint32_t encoding, uint32_t target, uint32_t *graph);
NN(load_by_name) int32_t nn_load_by_name(const char *name, uint32_t len, uint32_t *graph);
NN(init_execution_context) int32_t nn_init_execution_context(uint32_t graph, uint32_t *ctx);
NN(set_input) int32_t nn_set_input(uint32_t ctx, uint32_t index, const tensor *t);
NN(compute) int32_t nn_compute(uint32_t ctx);
NN(get_output) int32_t nn_get_output(uint32_t ctx, uint32_t index, uint8_t *out, uint32_t max, uint32_t *written);

enum { ENCODING_ONNX = 1, TARGET_CPU = 0, TYPE_F32 = 1, MAX_INPUTS = 8, MAX_RANK = 8 };

static void check(int32_t err, const char *call) {
    if (err != 0) {
        fprintf(stderr, "nn: %s failed: errno %d\n", call, (int)err);
        exit(3);
    }
}

static uint8_t *read_file(const char *path, uint32_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) { fputs("nn: out of memory\n", stderr); exit(2); }
    *len = (uint32_t)n;
    return buf;
}

// "1x4=0.5,-1,2" -> dims and f32 data.
static void parse_input(char *spec, tensor *t, uint32_t *dims) {
    char *eq = strchr(spec, '=');
    if (!eq) { fprintf(stderr, "nn: input '%s' is not DIMS=VALUES\n", spec); exit(2); }
    *eq = 0;
    uint32_t rank = 0;
    for (char *d = strtok(spec, "x"); d && rank < MAX_RANK; d = strtok(NULL, "x")) dims[rank++] = (uint32_t)strtoul(d, NULL, 10);
    size_t count = 1, n = 0;
    float *data;
    if (!strcmp(eq + 1, "ramp")) {
        for (uint32_t d = 0; d < rank; d++) count *= dims[d];
        data = malloc(count * sizeof(float));
        for (; data && n < count; n++) data[n] = (float)(n % 17) / 17.0f - 0.5f;
    } else {
        for (char *c = eq + 1; *c; c++) count += *c == ',';
        data = malloc(count * sizeof(float));
        for (char *v = strtok(eq + 1, ","); data && v && n < count; v = strtok(NULL, ",")) data[n++] = strtof(v, NULL);
    }
    if (!data) { fputs("nn: out of memory\n", stderr); exit(2); }
    *t = (tensor){dims, rank, TYPE_F32, (const uint8_t *)data, (uint32_t)(n * sizeof(float))};
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) { fputs("usage: nn file:PATH|name:NAME [DIMS=V,...]... [--outputs N] [--repeat N] [--bad-pointer]\n", stderr); return 2; }
    tensor inputs[MAX_INPUTS];
    uint32_t dims[MAX_INPUTS][MAX_RANK];
    int n_inputs = 0, outputs = 1, repeat = 0, bad_pointer = 0, bad_context = 0;
    uint32_t encoding = ENCODING_ONNX, out_max = 4096;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--outputs") && i + 1 < argc) outputs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--bad-pointer")) bad_pointer = 1;
        else if (!strcmp(argv[i], "--bad-context")) bad_context = 1;
        else if (!strcmp(argv[i], "--encoding") && i + 1 < argc) encoding = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out-max") && i + 1 < argc) out_max = (uint32_t)atoi(argv[++i]);
        else if (n_inputs < MAX_INPUTS) { parse_input(argv[i], &inputs[n_inputs], dims[n_inputs]); n_inputs++; }
    }
    if (bad_pointer && n_inputs > 0) inputs[0].data = (const uint8_t *)(uintptr_t)0xfffffff0u;

    uint32_t graph, ctx;
    if (!strncmp(argv[1], "file:", 5)) {
        graph_builder model;
        model.buf = read_file(argv[1] + 5, &model.len);
        check(nn_load(&model, 1, encoding, TARGET_CPU, &graph), "load");
    } else if (!strncmp(argv[1], "name:", 5)) {
        check(nn_load_by_name(argv[1] + 5, (uint32_t)strlen(argv[1] + 5), &graph), "load_by_name");
    } else {
        fprintf(stderr, "nn: model '%s' is neither file:PATH nor name:NAME\n", argv[1]);
        return 2;
    }
    check(nn_init_execution_context(graph, &ctx), "init_execution_context");

    static uint8_t out[1 << 16];
    uint32_t written[MAX_INPUTS];
    int iterations = repeat > 0 ? repeat : 1;
    uint64_t started = now_ns();
    for (int it = 0; it < iterations; it++) {
        for (int i = 0; i < n_inputs; i++) check(nn_set_input(ctx, (uint32_t)i, &inputs[i]), "set_input");
        check(nn_compute(bad_context ? ctx + 100 : ctx), "compute");
        for (int o = 0; o < outputs && o < MAX_INPUTS; o++)
            check(nn_get_output(ctx, (uint32_t)o, out + o * 4096, out_max < 4096 ? out_max : 4096, &written[o]), "get_output");
    }
    if (repeat > 0) fprintf(stderr, "iter_ns=%llu\n", (unsigned long long)((now_ns() - started) / (uint64_t)iterations));

    for (int o = 0; o < outputs && o < MAX_INPUTS; o++) {
        printf("output %d:", o);
        for (uint32_t k = 0; k + 4 <= written[o]; k += 4) {
            float v;
            memcpy(&v, out + o * 4096 + k, 4);
            printf(" %.9g", v);
        }
        printf("\n");
    }
    return 0;
}
