#include "few_channel_conv.h"
#include "parallel.h"

#include <string.h>

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));

typedef struct {
    const pare_few_channel_shape *s;
    const float *src, *diff_dst;
    float *workspace;
    int bias, blocks, padded_width;
    size_t padded_plane_floats, per_share_floats;
} few_channel_context;

#define SUFFIX _avx2
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include "few_channel_kernels.h"
#pragma clang attribute pop
#undef SUFFIX

#define SUFFIX _generic
#include "few_channel_kernels.h"
#undef SUFFIX

static few_channel_context make_context(const pare_few_channel_shape *s) {
    few_channel_context x = {.s = s};
    x.blocks = (s->out_channels + s->block - 1) / s->block;
    // Wide and tall enough for every window, including those past the bottom/right edge.
    x.padded_width = (s->out_width - 1) * s->stride_width + s->kernel_width;
    if (x.padded_width < s->pad_left + s->in_width) x.padded_width = s->pad_left + s->in_width;
    int padded_height = (s->out_height - 1) * s->stride_height + s->kernel_height;
    if (padded_height < s->pad_top + s->in_height) padded_height = s->pad_top + s->in_height;
    x.padded_plane_floats = (size_t)padded_height * x.padded_width;
    const size_t accumulators = (size_t)x.blocks * s->block * (s->in_channels * s->kernel_height * s->kernel_width + 1);
    // Each share's floats rounded up to 16 (64 bytes), so shares never share a cache line.
    x.per_share_floats = (accumulators + x.padded_plane_floats + 15) / 16 * 16;
    return x;
}

size_t pare_few_channel_workspace_floats(const pare_few_channel_shape *s) {
    return make_context(s).per_share_floats * (size_t)s->threads;
}

void pare_few_channel_backward_weights(const pare_few_channel_shape *s, const float *src, const float *diff_dst,
                                       float *diff_weights, float *diff_bias, float *workspace) {
    few_channel_context x = make_context(s);
    x.src = src;
    x.diff_dst = diff_dst;
    x.workspace = workspace;
    x.bias = diff_bias != NULL;
    const int avx2 = !s->portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    pare_parallel_for(avx2 ? accumulate_share_avx2 : accumulate_share_generic, &x, s->threads);

    // Shares added in order; then from [block][in][kh][kw][lane] to plain [out][in][kh][kw].
    const int B = s->block, taps = s->kernel_height * s->kernel_width;
    const size_t accumulators = (size_t)x.blocks * B * (s->in_channels * taps + 1);
    for (int share = 1; share < s->threads; share++) {
        const float *from = workspace + share * x.per_share_floats;
        for (size_t i = 0; i < accumulators; i++) workspace[i] += from[i];
    }
    for (int co = 0; co < s->out_channels; co++) {
        const int cb = co / B, lane = co % B;
        for (int ci = 0; ci < s->in_channels; ci++) {
            for (int k = 0; k < taps; k++) {
                diff_weights[((size_t)co * s->in_channels + ci) * taps + k] =
                    workspace[(((size_t)cb * s->in_channels + ci) * taps + k) * B + lane];
            }
        }
        if (diff_bias) diff_bias[co] = workspace[(size_t)x.blocks * s->in_channels * taps * B + (size_t)cb * B + lane];
    }
}
