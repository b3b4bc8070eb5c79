// The accumulation of few_channel_conv.c, compiled twice: for AVX2+FMA and for baseline
// x86-64. Included with SUFFIX defined; the function gets SUFFIX appended.

#define FC_PASTE2(a, b) a##b
#define FC_PASTE(a, b) FC_PASTE2(a, b)

// Share `share` of the batch: its accumulators at workspace + share * per_share_floats.
static void FC_PASTE(accumulate_share, SUFFIX)(void *p, long begin, long end) {
    const few_channel_context *x = p;
    const pare_few_channel_shape *s = x->s;
    const int B = s->block, KH = s->kernel_height, KW = s->kernel_width, OH = s->out_height, OW = s->out_width;
    const int SH = s->stride_height, SW = s->stride_width, blocks = x->blocks;
    const int padded_width = x->padded_width;
    for (long share = begin; share < end; share++) {
        float *acc = x->workspace + share * x->per_share_floats;
        float *bias_acc = acc + (size_t)blocks * s->in_channels * KH * KW * B;
        float *plane = bias_acc + (size_t)blocks * B;
        memset(acc, 0, sizeof(float) * (plane - acc));
        memset(plane, 0, sizeof(float) * x->padded_plane_floats);
        const int n0 = (int)((long)s->batch * share / s->threads), n1 = (int)((long)s->batch * (share + 1) / s->threads);
        for (int n = n0; n < n1; n++) {
            for (int ci = 0; ci < s->in_channels; ci++) {
                // The source plane inside a zero border: no bounds checks below.
                const float *src = x->src + ((size_t)n * s->in_channels + ci) * s->in_height * s->in_width;
                for (int h = 0; h < s->in_height; h++) {
                    memcpy(plane + (size_t)(h + s->pad_top) * padded_width + s->pad_left, src + (size_t)h * s->in_width,
                           sizeof(float) * s->in_width);
                }
                for (int cb = 0; cb < blocks; cb++) {
                    const float *dy = x->diff_dst + ((size_t)n * blocks + cb) * OH * OW * B;
                    for (int lane = 0; lane < B; lane += 8) {
                        for (int kh = 0; kh < KH; kh++) {
                            for (int kw = 0; kw < KW; kw++) {
                                v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                                for (int oh = 0; oh < OH; oh++) {
                                    const float *xr = plane + (size_t)(oh * SH + kh) * padded_width + kw;
                                    const float *dr = dy + (size_t)oh * OW * B + lane;
                                    int ow = 0;
                                    for (; ow + 4 <= OW; ow += 4) {
                                        a0 += *(const v8u *)(dr + (size_t)ow * B) * xr[ow * SW];
                                        a1 += *(const v8u *)(dr + (size_t)(ow + 1) * B) * xr[(ow + 1) * SW];
                                        a2 += *(const v8u *)(dr + (size_t)(ow + 2) * B) * xr[(ow + 2) * SW];
                                        a3 += *(const v8u *)(dr + (size_t)(ow + 3) * B) * xr[(ow + 3) * SW];
                                    }
                                    for (; ow < OW; ow++) a0 += *(const v8u *)(dr + (size_t)ow * B) * xr[ow * SW];
                                }
                                v8u *target = (v8u *)(acc + (((size_t)cb * s->in_channels + ci) * KH * KW + kh * KW + kw) * B + lane);
                                *target += (a0 + a1) + (a2 + a3);
                            }
                        }
                        if (ci == 0 && x->bias) {
                            v8 b0 = {0}, b1 = {0};
                            const int pixels = OH * OW;
                            int q = 0;
                            for (; q + 2 <= pixels; q += 2) {
                                b0 += *(const v8u *)(dy + (size_t)q * B + lane);
                                b1 += *(const v8u *)(dy + (size_t)(q + 1) * B + lane);
                            }
                            for (; q < pixels; q++) b0 += *(const v8u *)(dy + (size_t)q * B + lane);
                            *(v8u *)(bias_acc + (size_t)cb * B + lane) += b0 + b1;
                        }
                    }
                }
            }
        }
    }
}

#undef FC_PASTE
#undef FC_PASTE2
