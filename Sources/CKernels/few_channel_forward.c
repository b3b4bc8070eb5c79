#include "few_channel_forward.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32)));
typedef unsigned char v8b __attribute__((vector_size(8), aligned(1)));

typedef struct {
    const pare_few_channel_forward_shape *s;
    const float *src, *packed;
    void *dst;
    float *workspace;
    int pairs;                  // of groups of 8 output channels
    size_t pair_floats;         // packed floats per pair
    size_t plane_floats;        // workspace floats per thread
} few_forward_context;

// The general copy of `interior` (kernel sizes only known at run time) cannot be unrolled
// fully; the pragma is for the specialised copies.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpass-failed"

#define SUFFIX _avx2
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include "few_channel_forward_kernels.h"
#pragma clang attribute pop
#undef SUFFIX

#define SUFFIX _generic
#include "few_channel_forward_kernels.h"
#undef SUFFIX

#pragma clang diagnostic pop

static int pairs_of(const pare_few_channel_forward_shape *s) { return (s->out_channels + 15) / 16; }

static size_t pair_floats(const pare_few_channel_forward_shape *s) {
    return (size_t)16 * (s->in_channels * s->kernel_height * s->kernel_width + 1);
}

// Each thread's plane: both groups of a pair, 16 floats (64 bytes) a pixel, so planes never
// share a cache line.
static size_t plane_floats(const pare_few_channel_forward_shape *s) {
    return (size_t)s->conv_height * s->conv_width * 16;
}

size_t pare_few_channel_forward_packed_floats(const pare_few_channel_forward_shape *s) {
    return (size_t)pairs_of(s) * pair_floats(s);
}

void pare_few_channel_forward_pack(const pare_few_channel_forward_shape *s, const float *weights, const float *bias,
                                   float *packed) {
    const int per_out = s->in_channels * s->kernel_height * s->kernel_width;
    memset(packed, 0, sizeof(float) * pare_few_channel_forward_packed_floats(s));
    for (int o = 0; o < s->out_channels; o++) {
        float *pair = packed + (size_t)(o / 16) * pair_floats(s);
        const int lane = o % 16;
        for (int k = 0; k < per_out; k++) pair[(size_t)k * 16 + lane] = weights[(size_t)o * per_out + k];
        pair[(size_t)per_out * 16 + lane] = bias ? bias[o] : 0;
    }
}

size_t pare_few_channel_forward_workspace_floats(const pare_few_channel_forward_shape *s, int threads) {
    return s->pool ? plane_floats(s) * (size_t)threads : 0;
}

void pare_few_channel_forward(const pare_few_channel_forward_shape *s, const float *src, const float *packed,
                              void *dst, float *workspace) {
    // Channels past out_channels have zero weights and bias, so every lane of dst's last
    // block is written (zero padding lanes, as oneDNN keeps them).
    few_forward_context x = {.s = s, .src = src, .packed = packed, .dst = dst, .workspace = workspace,
                             .pairs = pairs_of(s), .pair_floats = pair_floats(s), .plane_floats = plane_floats(s)};
    const int avx2 = !s->portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    pare_parallel_for(avx2 ? forward_tasks_avx2 : forward_tasks_generic, &x, (long)s->batch * x.pairs);
}
