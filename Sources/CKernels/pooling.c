#include "pooling.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

// Eight channels of one pixel; the unaligned type loads and stores at any float address.
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32)));
typedef unsigned char v8b __attribute__((vector_size(8), aligned(1)));

static int channel_blocks(const pare_max_pool_shape *s) { return (s->channels + s->block - 1) / s->block; }

long pare_max_pool_output_elements(const pare_max_pool_shape *s) {
    return (long)s->batch * channel_blocks(s) * s->block * s->out_height * s->out_width;
}

// The input rows (or columns) [begin, end) that window `out` covers along one axis, and
// `tap`, the position of `begin` within the window.
typedef struct {
    int begin, end, tap;
} span;

static span window_span(int out, int stride, int pad, int kernel, int extent) {
    const int start = out * stride - pad;
    span r = {start < 0 ? 0 : start, start + kernel > extent ? extent : start + kernel, 0};
    r.tap = r.begin - start;
    return r;
}

typedef struct {
    const pare_max_pool_shape *s;
    const float *src, *diff_dst;
    float *dst, *diff_src;
    unsigned char *argmax;
    const unsigned char *argmax_in;
} pool_context;

// Planes [begin, end) of (image, channel block), forward.
static void forward_planes(void *p, long begin, long end) {
    const pool_context *x = p;
    const pare_max_pool_shape *s = x->s;
    const int B = s->block;
    const long in_plane = (long)s->in_height * s->in_width * B, out_plane = (long)s->out_height * s->out_width * B;
    for (long plane = begin; plane < end; plane++) {
        const float *src = x->src + plane * in_plane;
        float *dst = x->dst + plane * out_plane;
        unsigned char *argmax = x->argmax ? x->argmax + plane * out_plane : NULL;
        for (int oh = 0; oh < s->out_height; oh++) {
            const span rows = window_span(oh, s->stride_height, s->pad_top, s->kernel_height, s->in_height);
            for (int ow = 0; ow < s->out_width; ow++) {
                const span cols = window_span(ow, s->stride_width, s->pad_left, s->kernel_width, s->in_width);
                const long o = ((long)oh * s->out_width + ow) * B;
                for (int lane = 0; lane < B; lane += 8) {
                    v8 best = (v8){0} - INFINITY;
                    v8i index = (v8i){0} + 255;
                    for (int h = rows.begin; h < rows.end; h++) {
                        for (int w = cols.begin; w < cols.end; w++) {
                            const v8 v = *(const v8u *)(src + ((long)h * s->in_width + w) * B + lane);
                            const v8i take = (v > best) | (v != v);
                            const int k = (rows.tap + h - rows.begin) * s->kernel_width + cols.tap + w - cols.begin;
                            best = (v8)(((v8i)v & take) | ((v8i)best & ~take));
                            index = (((v8i){0} + k) & take) | (index & ~take);
                        }
                    }
                    *(v8u *)(dst + o + lane) = best;
                    if (argmax) *(v8b *)(argmax + o + lane) = __builtin_convertvector(index, v8b);
                }
            }
        }
    }
}

// Planes [begin, end), backward: each plane's gradient is zeroed, then every window adds
// its diff_dst where its index matches (windows may overlap).
static void backward_planes(void *p, long begin, long end) {
    const pool_context *x = p;
    const pare_max_pool_shape *s = x->s;
    const int B = s->block;
    const long in_plane = (long)s->in_height * s->in_width * B, out_plane = (long)s->out_height * s->out_width * B;
    for (long plane = begin; plane < end; plane++) {
        float *diff_src = x->diff_src + plane * in_plane;
        const float *diff_dst = x->diff_dst + plane * out_plane;
        const unsigned char *argmax = x->argmax_in + plane * out_plane;
        memset(diff_src, 0, sizeof(float) * in_plane);
        for (int oh = 0; oh < s->out_height; oh++) {
            const span rows = window_span(oh, s->stride_height, s->pad_top, s->kernel_height, s->in_height);
            for (int ow = 0; ow < s->out_width; ow++) {
                const span cols = window_span(ow, s->stride_width, s->pad_left, s->kernel_width, s->in_width);
                const long o = ((long)oh * s->out_width + ow) * B;
                for (int lane = 0; lane < B; lane += 8) {
                    const v8i dy = (v8i) * (const v8u *)(diff_dst + o + lane);
                    const v8i index = __builtin_convertvector(*(const v8b *)(argmax + o + lane), v8i);
                    for (int h = rows.begin; h < rows.end; h++) {
                        for (int w = cols.begin; w < cols.end; w++) {
                            const int k = (rows.tap + h - rows.begin) * s->kernel_width + cols.tap + w - cols.begin;
                            v8u *target = (v8u *)(diff_src + ((long)h * s->in_width + w) * B + lane);
                            *target += (v8)(dy & (index == k));
                        }
                    }
                }
            }
        }
    }
}

void pare_max_pool_forward(const pare_max_pool_shape *s, const float *src, float *dst, unsigned char *argmax) {
    pool_context context = {.s = s, .src = src, .dst = dst, .argmax = argmax};
    pare_parallel_for(forward_planes, &context, (long)s->batch * channel_blocks(s));
}

void pare_max_pool_backward(const pare_max_pool_shape *s, const float *diff_dst, const unsigned char *argmax,
                            float *diff_src) {
    pool_context context = {.s = s, .diff_dst = diff_dst, .diff_src = diff_src, .argmax_in = argmax};
    pare_parallel_for(backward_planes, &context, (long)s->batch * channel_blocks(s));
}
