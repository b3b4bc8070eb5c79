// The tasks of few_channel_forward.c, compiled twice: for AVX2+FMA and for baseline x86-64.
// Included with SUFFIX defined; the functions get SUFFIX appended.
//
// A task is one image and one pair of groups of 8 output channels. Each broadcast source
// value feeds both groups' accumulators, so a tap costs P broadcasts and 2 weight loads for
// 2P fused multiply-adds (P pixels at once, at most 5: 10 accumulators, 2 weights and the
// broadcast value fit AVX2's 16 registers).

#define FF_PASTE2(a, b) a##b
#define FF_PASTE(a, b) FF_PASTE2(a, b)
#define FF(name) FF_PASTE(name, SUFFIX)

// Where a task writes: group 2p's pixel q at out0 + q * stride, group 2p + 1's at
// out1 + q * stride (out1 NULL: that group is not stored).
typedef struct {
    float *out0, *out1;
    int stride;
} FF(target);

// ReLU when the shape asks for it, NaN kept (as oneDNN's and PyTorch's); a macro, since a
// vector argument would change the baseline copy's calling convention.
#define FF_ACTIVATE(s, v) ((s)->relu ? (v8)((v8i)(v) & ((v8i)((v) > 0) | (v8i)((v) != (v)))) : (v))

// `count` adjacent output pixels of one row whose taps lie inside the source's columns,
// from source column `col` (the first pixel's first tap). count, KH, KW and SW are constants
// at every call, so the compiler unrolls the loops and keeps the accumulators in registers.
static inline __attribute__((always_inline)) void FF(interior)(const few_forward_context *x, const float *image,
                                                             const float *weights, int ih0, int kh_lo, int kh_hi,
                                                             int col, FF(target) t, int first, const int count,
                                                             const int KH, const int KW, const int SW) {
    const pare_few_channel_forward_shape *s = x->s;
    const float *bias = weights + x->pair_floats - 16;
    v8 a0[5], a1[5];
    for (int j = 0; j < count; j++) {
        a0[j] = *(const v8u *)bias;
        a1[j] = *(const v8u *)(bias + 8);
    }
    for (int c = 0; c < s->in_channels; c++) {
        for (int kh = kh_lo; kh < kh_hi; kh++) {
            const float *row = image + ((size_t)c * s->in_height + ih0 + kh) * s->in_width + col;
            const float *w = weights + ((size_t)c * KH + kh) * KW * 16;
#pragma clang loop unroll(full)
            for (int kw = 0; kw < KW; kw++) {
                const v8 w0 = *(const v8u *)(w + kw * 16), w1 = *(const v8u *)(w + kw * 16 + 8);
#pragma clang loop unroll(full)
                for (int j = 0; j < count; j++) {
                    const float v = row[j * SW + kw];
                    a0[j] += w0 * v;
                    a1[j] += w1 * v;
                }
            }
        }
    }
    for (int j = 0; j < count; j++) {
        *(v8u *)(t.out0 + (size_t)(first + j) * t.stride) = FF_ACTIVATE(s, a0[j]);
        if (t.out1) *(v8u *)(t.out1 + (size_t)(first + j) * t.stride) = FF_ACTIVATE(s, a1[j]);
    }
}

// One output pixel whose taps may fall in the padding (checked column by column).
static void FF(edge)(const few_forward_context *x, const float *image, const float *weights, int ih0, int kh_lo,
                     int kh_hi, int ow, FF(target) t, int first) {
    const pare_few_channel_forward_shape *s = x->s;
    const int KH = s->kernel_height, KW = s->kernel_width;
    const int iw0 = ow * s->stride_width - s->pad_left;
    const float *bias = weights + x->pair_floats - 16;
    v8 a0 = *(const v8u *)bias, a1 = *(const v8u *)(bias + 8);
    for (int c = 0; c < s->in_channels; c++) {
        for (int kh = kh_lo; kh < kh_hi; kh++) {
            const float *row = image + ((size_t)c * s->in_height + ih0 + kh) * s->in_width;
            const float *w = weights + ((size_t)c * KH + kh) * KW * 16;
            for (int kw = 0; kw < KW; kw++) {
                const int iw = iw0 + kw;
                if (iw < 0 || iw >= s->in_width) continue;
                a0 += *(const v8u *)(w + kw * 16) * row[iw];
                a1 += *(const v8u *)(w + kw * 16 + 8) * row[iw];
            }
        }
    }
    *(v8u *)(t.out0 + (size_t)first * t.stride) = FF_ACTIVATE(s, a0);
    if (t.out1) *(v8u *)(t.out1 + (size_t)first * t.stride) = FF_ACTIVATE(s, a1);
}

// `count` interior pixels from column ow, on a copy of `interior` specialised for the
// kernels of ResNet's and small CNNs' first layers (others take the general copy).
static inline __attribute__((always_inline)) void FF(run)(const few_forward_context *x, const float *image,
                                                        const float *weights, int ih0, int kh_lo, int kh_hi, int ow,
                                                        FF(target) t, int first, const int count) {
    const pare_few_channel_forward_shape *s = x->s;
    const int KH = s->kernel_height, KW = s->kernel_width, SW = s->stride_width;
    const int col = ow * SW - s->pad_left;
#define FF_CASE(kh, kw, sw)                                                                              \
    if (KH == kh && KW == kw && SW == sw) {                                                             \
        FF(interior)(x, image, weights, ih0, kh_lo, kh_hi, col, t, first, count, kh, kw, sw);           \
        return;                                                                                          \
    }
    FF_CASE(3, 3, 1)
    FF_CASE(3, 3, 2)
    FF_CASE(5, 5, 1)
    FF_CASE(7, 7, 2)
#undef FF_CASE
    FF(interior)(x, image, weights, ih0, kh_lo, kh_hi, col, t, first, count, KH, KW, SW);
}

// The convolution output of image n, channel groups 2p and 2p + 1, pixel (oh, ow) written
// at index oh * conv_width + ow of t.
static void FF(convolve)(const few_forward_context *x, int n, int p, FF(target) t) {
    const pare_few_channel_forward_shape *s = x->s;
    const int KH = s->kernel_height, KW = s->kernel_width, SH = s->stride_height, SW = s->stride_width;
    const int CW = s->conv_width;
    const float *image = x->src + (size_t)n * s->in_channels * s->in_height * s->in_width;
    const float *weights = x->packed + (size_t)p * x->pair_floats;
    // Output columns [lo, hi) read no padding.
    int lo = (s->pad_left + SW - 1) / SW;
    int hi = s->in_width + s->pad_left >= KW ? (s->in_width + s->pad_left - KW) / SW + 1 : 0;
    if (hi > CW) hi = CW;
    if (lo > hi) lo = hi;
    for (int oh = 0; oh < s->conv_height; oh++) {
        const int ih0 = oh * SH - s->pad_top;
        const int kh_lo = ih0 < 0 ? -ih0 : 0, kh_hi = ih0 + KH > s->in_height ? s->in_height - ih0 : KH;
        const int first = oh * CW;
        int ow = 0;
        for (; ow < lo; ow++) FF(edge)(x, image, weights, ih0, kh_lo, kh_hi, ow, t, first + ow);
        // Runs of 5 pixels, the rest in runs of 4, 3 or 2 rather than a lone pixel, whose
        // single accumulator chain per group would wait on each FMA's latency (26 = 5·4 + 3·2).
        while (ow < hi) {
            const int left = hi - ow;
            if (left >= 5 && left != 6) {
                FF(run)(x, image, weights, ih0, kh_lo, kh_hi, ow, t, first + ow, 5);
                ow += 5;
            } else if (left == 4) {
                FF(run)(x, image, weights, ih0, kh_lo, kh_hi, ow, t, first + ow, 4);
                ow += 4;
            } else if (left == 3 || left == 6) {
                FF(run)(x, image, weights, ih0, kh_lo, kh_hi, ow, t, first + ow, 3);
                ow += 3;
            } else if (left == 2) {
                FF(run)(x, image, weights, ih0, kh_lo, kh_hi, ow, t, first + ow, 2);
                ow += 2;
            } else {
                FF(run)(x, image, weights, ih0, kh_lo, kh_hi, ow, t, first + ow, 1);
                ow += 1;
            }
        }
        for (; ow < CW; ow++) FF(edge)(x, image, weights, ih0, kh_lo, kh_hi, ow, t, first + ow);
    }
}

// The maximum of both groups over pooling window (ph, pw) of a plane (pixel (h, w) of both
// groups at plane + (h * conv_width + w) * 16), windows clipped to the plane.
static inline __attribute__((always_inline)) void FF(window_max)(const pare_few_channel_forward_shape *s,
                                                               const float *plane, int ph, int pw, v8 *m0, v8 *m1) {
    int h0 = ph * s->pool_stride_height - s->pool_pad_top, h1 = h0 + s->pool_kernel_height;
    int w0 = pw * s->pool_stride_width - s->pool_pad_left, w1 = w0 + s->pool_kernel_width;
    if (h0 < 0) h0 = 0;
    if (h1 > s->conv_height) h1 = s->conv_height;
    if (w0 < 0) w0 = 0;
    if (w1 > s->conv_width) w1 = s->conv_width;
    v8 b0 = (v8){0} - INFINITY, b1 = b0;
    for (int h = h0; h < h1; h++) {
        const float *r = plane + (size_t)h * s->conv_width * 16;
        for (int w = w0; w < w1; w++) {
            const v8 v0 = *(const v8u *)(r + (size_t)w * 16), v1 = *(const v8u *)(r + (size_t)w * 16 + 8);
            const v8i take0 = (v0 > b0) | (v0 != v0), take1 = (v1 > b1) | (v1 != v1);
            b0 = (v8)(((v8i)v0 & take0) | ((v8i)b0 & ~take0));
            b1 = (v8)(((v8i)v1 & take1) | ((v8i)b1 & ~take1));
        }
    }
    *m0 = b0;
    *m1 = b1;
}

// The same for a 2×2 window of stride 2 without padding that lies inside the plane.
static inline __attribute__((always_inline)) void FF(window_max_2x2)(const pare_few_channel_forward_shape *s,
                                                                   const float *plane, int ph, int pw, v8 *m0, v8 *m1) {
    const float *r = plane + ((size_t)2 * ph * s->conv_width + 2 * pw) * 16, *q = r + (size_t)s->conv_width * 16;
    v8 b[2];
    for (int g = 0; g < 2; g++) {
        v8 best = *(const v8u *)(r + 8 * g);
        const v8 others[3] = {*(const v8u *)(r + 16 + 8 * g), *(const v8u *)(q + 8 * g), *(const v8u *)(q + 16 + 8 * g)};
        for (int k = 0; k < 3; k++) {
            const v8i take = (others[k] > best) | (others[k] != others[k]);
            best = (v8)(((v8i)others[k] & take) | ((v8i)best & ~take));
        }
        b[g] = best;
    }
    *m0 = b[0];
    *m1 = b[1];
}

// Whether every pooling window is 2×2 at stride 2 inside the plane.
static inline int FF(plain_2x2)(const pare_few_channel_forward_shape *s) {
    return s->pool_kernel_height == 2 && s->pool_kernel_width == 2 && s->pool_stride_height == 2 && s->pool_stride_width == 2
        && s->pool_pad_top == 0 && s->pool_pad_left == 0 && 2 * s->out_height <= s->conv_height
        && 2 * s->out_width <= s->conv_width;
}

// Group g's 8 values of one pixel, quantised, to `to` (its first min(8, channels − 8g)
// bytes: channels-last rows hold only the real channels).
static inline __attribute__((always_inline)) void FF(store_quantized)(const pare_few_channel_forward_shape *s,
                                                                    const v8 *value, unsigned char *to, int count) {
    const float lower = (float)((s->is_signed ? -128 : 0) - s->zero_point);
    const float upper = (float)((s->is_signed ? 127 : 255) - s->zero_point);
    v8 v = *value * s->inverse_scale;
    v = (v8)((v8i)v & (v8i)(v == v));  // NaN → the zero point
    v = (v8)(((v8i)v & (v8i)(v > lower)) | ((v8i)((v8){0} + lower) & ~(v8i)(v > lower)));
    v = (v8)(((v8i)v & (v8i)(v < upper)) | ((v8i)((v8){0} + upper) & ~(v8i)(v < upper)));
    // Round half to even: adding and subtracting 1.5 · 2^23 leaves the nearest integer
    // (|v| ≤ 383 here, in the default rounding mode).
    v = (v + 12582912.0f) - 12582912.0f;
    const v8i q = __builtin_convertvector(v, v8i) + s->zero_point;
    const v8b bytes = __builtin_convertvector(q, v8b);
    if (count == 8) *(v8b *)to = bytes;
    else memcpy(to, &bytes, (size_t)count);
}

// Max pooling of a plane into t (pixel (ph, pw) at index ph * out_width + pw) or, when
// `image` is given, quantised into 8-bit NHWC (pixel (ph, pw) of groups 2p and 2p + 1 at
// image + (ph · out_width + pw) · out_channels + 16p).
static void FF(pool)(const pare_few_channel_forward_shape *s, const float *plane, FF(target) t, unsigned char *image,
                     int p) {
    const int C = s->out_channels, c0 = 16 * p, n0 = C - c0 < 8 ? C - c0 : 8, n1 = C - c0 - 8 < 8 ? C - c0 - 8 : 8;
    const int fast = FF(plain_2x2)(s);
    for (int ph = 0; ph < s->out_height; ph++) {
        for (int pw = 0; pw < s->out_width; pw++) {
            v8 b0, b1;
            if (fast) FF(window_max_2x2)(s, plane, ph, pw, &b0, &b1);
            else FF(window_max)(s, plane, ph, pw, &b0, &b1);
            const size_t q = (size_t)ph * s->out_width + pw;
            if (image) {
                FF(store_quantized)(s, &b0, image + q * C + c0, n0);
                if (n1 > 0) FF(store_quantized)(s, &b1, image + q * C + c0 + 8, n1);
            } else {
                *(v8u *)(t.out0 + q * t.stride) = b0;
                if (t.out1) *(v8u *)(t.out1 + q * t.stride) = b1;
            }
        }
    }
}

// Tasks [begin, end) of (image, pair of channel groups).
static void FF(forward_tasks)(void *context, long begin, long end) {
    const few_forward_context *x = context;
    const pare_few_channel_forward_shape *s = x->s;
    const int B = s->block, blocks = (s->out_channels + B - 1) / B, stored_groups = blocks * B / 8;
    const size_t pixels = (size_t)s->out_height * s->out_width;
    float *plane = s->pool ? x->workspace + (size_t)pare_parallel_thread() * x->plane_floats : NULL;
    for (long task = begin; task < end; task++) {
        const int n = (int)(task / x->pairs), p = (int)(task % x->pairs);
        FF(target) in_plane = {plane, plane + 8, 16};
        if (s->quantized) {
            FF(convolve)(x, n, p, in_plane);
            FF(pool)(s, plane, in_plane, (unsigned char *)x->dst + (size_t)n * pixels * s->out_channels, p);
            continue;
        }
        // Group g's 8 lanes within dst's blocks of B channels.
        float *image = (float *)x->dst + (size_t)n * blocks * pixels * B;
        const int g0 = 2 * p, g1 = 2 * p + 1;
        FF(target) out = {image + (size_t)(g0 * 8 / B) * pixels * B + (g0 * 8) % B,
                          g1 < stored_groups ? image + (size_t)(g1 * 8 / B) * pixels * B + (g1 * 8) % B : NULL, B};
        if (s->pool) {
            FF(convolve)(x, n, p, in_plane);
            FF(pool)(s, plane, out, NULL, p);
        } else {
            FF(convolve)(x, n, p, out);
        }
    }
}

#undef FF_ACTIVATE
#undef FF
#undef FF_PASTE
#undef FF_PASTE2
