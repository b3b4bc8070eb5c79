// The transforms of winograd.c, compiled twice: for AVX2+FMA and for baseline x86-64.
// Included with SUFFIX defined; every function here is static and gets SUFFIX appended.
// Each processes the work items [begin, end) of a `pass_context` (see winograd.c).

#define PASTE2(a, b) a##b
#define PASTE(a, b) PASTE2(a, b)
#define KERNEL(name) PASTE(name, SUFFIX)

// V[xi][t][c0..c0+8] = (B^T d B)[xi] for the 6x6 input tile of output tile t.
static void KERNEL(input_tiles)(void *p, long begin, long end) {
    const pass_context *x = p;
    const int groups = x->in_c / 8;
    for (long w = begin; w < end; w++) {
        const tile_item item = tile_of(x, w, groups);
        const int t = item.t, c0 = item.c0, n = item.n, ty = item.ty, tx = item.tx;
        const int y0 = ty * 4 - x->pad_top, x0 = tx * 4 - x->pad_left;
        const float *base = x->src + ((size_t)(n * (x->in_c / x->block) + c0 / x->block) * x->in_h * x->in_w) * x->block
                            + c0 % x->block;
        v8 d[6][6];
        for (int i = 0; i < 6; i++) {
            const int y = y0 + i;
            for (int j = 0; j < 6; j++) {
                const int xx = x0 + j;
                d[i][j] = (y >= 0 && y < x->in_h && xx >= 0 && xx < x->in_w)
                    ? *(const v8u *)(base + ((size_t)y * x->in_w + xx) * x->block) : (v8){0};
            }
        }
        v8 m[6][6];
        for (int j = 0; j < 6; j++) {
            const v8 a0 = d[0][j], a1 = d[1][j], a2 = d[2][j], a3 = d[3][j], a4 = d[4][j], a5 = d[5][j];
            m[0][j] = 4 * a0 - 5 * a2 + a4;
            m[1][j] = a3 + a4 - 4 * (a1 + a2);
            m[2][j] = 4 * (a1 - a2) - a3 + a4;
            m[3][j] = 2 * (a3 - a1) - a2 + a4;
            m[4][j] = 2 * (a1 - a3) - a2 + a4;
            m[5][j] = 4 * a1 - 5 * a3 + a5;
        }
        float *out = x->V + (size_t)t * x->in_c + c0;
        const size_t stride = (size_t)x->tiles * x->in_c;
        for (int i = 0; i < 6; i++) {
            const v8 a0 = m[i][0], a1 = m[i][1], a2 = m[i][2], a3 = m[i][3], a4 = m[i][4], a5 = m[i][5];
            float *row = out + (size_t)(i * 6) * stride;
            *(v8u *)(row) = 4 * a0 - 5 * a2 + a4;
            *(v8u *)(row + stride) = a3 + a4 - 4 * (a1 + a2);
            *(v8u *)(row + 2 * stride) = 4 * (a1 - a2) - a3 + a4;
            *(v8u *)(row + 3 * stride) = 2 * (a3 - a1) - a2 + a4;
            *(v8u *)(row + 4 * stride) = 2 * (a1 - a3) - a2 + a4;
            *(v8u *)(row + 5 * stride) = 4 * a1 - 5 * a3 + a5;
        }
    }
}

// dst tile t, channels k0..k0+8 = A^T M[.][t][k0..] A (+ bias).
static void KERNEL(output_tiles)(void *p, long begin, long end) {
    const pass_context *x = p;
    const int groups = x->out_c / 8;
    const size_t stride = (size_t)x->tiles * x->out_c;
    for (long w = begin; w < end; w++) {
        const tile_item item = tile_of(x, w, groups);
        const int t = item.t, k0 = item.c0, n = item.n, ty = item.ty, tx = item.tx;
        const float *in = x->M + (size_t)t * x->out_c + k0;
        v8 q[4][6];
        for (int j = 0; j < 6; j++) {
            const v8 a0 = *(const v8u *)(in + (size_t)j * stride), a1 = *(const v8u *)(in + (size_t)(6 + j) * stride),
                     a2 = *(const v8u *)(in + (size_t)(12 + j) * stride), a3 = *(const v8u *)(in + (size_t)(18 + j) * stride),
                     a4 = *(const v8u *)(in + (size_t)(24 + j) * stride), a5 = *(const v8u *)(in + (size_t)(30 + j) * stride);
            q[0][j] = a0 + a1 + a2 + a3 + a4;
            q[1][j] = a1 - a2 + 2 * (a3 - a4);
            q[2][j] = a1 + a2 + 4 * (a3 + a4);
            q[3][j] = a1 - a2 + 8 * (a3 - a4) + a5;
        }
        v8 bias = {0};
        if (x->bias) {
            float lanes[8] = {0};
            for (int l = 0; l < 8 && k0 + l < x->out_real; l++) lanes[l] = x->bias[k0 + l];
            bias = *(const v8u *)lanes;
        }
        float *base = x->dst + ((size_t)(n * (x->out_c / x->block) + k0 / x->block) * x->out_h * x->out_w) * x->block
                      + k0 % x->block;
        for (int i = 0; i < 4; i++) {
            const int y = ty * 4 + i;
            if (y >= x->out_h) break;
            const v8 a0 = q[i][0], a1 = q[i][1], a2 = q[i][2], a3 = q[i][3], a4 = q[i][4], a5 = q[i][5];
            v8 r[4];
            r[0] = a0 + a1 + a2 + a3 + a4;
            r[1] = a1 - a2 + 2 * (a3 - a4);
            r[2] = a1 + a2 + 4 * (a3 + a4);
            r[3] = a1 - a2 + 8 * (a3 - a4) + a5;
            for (int j = 0; j < 4; j++) {
                const int xx = tx * 4 + j;
                if (xx < x->out_w) *(v8u *)(base + ((size_t)y * x->out_w + xx) * x->block) = r[j] + bias;
            }
        }
    }
}

// Z[xi][t][k0..k0+8] = (A dY A^T)[xi] for the 4x4 tile t of the output gradient (zero
// beyond the output's edges): the factor that multiplies V in the weights' gradient.
static void KERNEL(gradient_tiles)(void *p, long begin, long end) {
    const pass_context *x = p;
    const int groups = x->out_c / 8;
    const size_t stride = (size_t)x->tiles * x->out_c;
    for (long w = begin; w < end; w++) {
        const tile_item item = tile_of(x, w, groups);
        const int t = item.t, k0 = item.c0, n = item.n, ty = item.ty, tx = item.tx;
        const float *base = x->diff_dst + ((size_t)(n * (x->out_c / x->block) + k0 / x->block) * x->out_h * x->out_w) * x->block
                            + k0 % x->block;
        v8 d[4][4];
        for (int i = 0; i < 4; i++) {
            const int y = ty * 4 + i;
            for (int j = 0; j < 4; j++) {
                const int xx = tx * 4 + j;
                d[i][j] = (y < x->out_h && xx < x->out_w) ? *(const v8u *)(base + ((size_t)y * x->out_w + xx) * x->block) : (v8){0};
            }
        }
        v8 m[6][4];
        for (int j = 0; j < 4; j++) {
            const v8 a0 = d[0][j], a1 = d[1][j], a2 = d[2][j], a3 = d[3][j];
            m[0][j] = a0;
            m[1][j] = a0 + a1 + a2 + a3;
            m[2][j] = a0 - a1 + a2 - a3;
            m[3][j] = a0 + 2 * a1 + 4 * a2 + 8 * a3;
            m[4][j] = a0 - 2 * a1 + 4 * a2 - 8 * a3;
            m[5][j] = a3;
        }
        float *out = x->M + (size_t)t * x->out_c + k0;
        for (int i = 0; i < 6; i++) {
            const v8 a0 = m[i][0], a1 = m[i][1], a2 = m[i][2], a3 = m[i][3];
            float *row = out + (size_t)(i * 6) * stride;
            *(v8u *)(row) = a0;
            *(v8u *)(row + stride) = a0 + a1 + a2 + a3;
            *(v8u *)(row + 2 * stride) = a0 - a1 + a2 - a3;
            *(v8u *)(row + 3 * stride) = a0 + 2 * a1 + 4 * a2 + 8 * a3;
            *(v8u *)(row + 4 * stride) = a0 - 2 * a1 + 4 * a2 - 8 * a3;
            *(v8u *)(row + 5 * stride) = a3;
        }
    }
}

// U[xi][r][c0..c0+8] = (G g G^T)[xi] for the 3x3 filters g(r, c) of weight_context.
static void KERNEL(weight_tiles)(void *p, long begin, long end) {
    const weight_context *x = p;
    const int groups = x->cols / 8;
    for (long w = begin; w < end; w++) {
        const int r = (int)(w / groups), c0 = (int)(w % groups) * 8;
        float lanes[9][8] = {{0}};
        if (r < x->rows_real) {
            for (int l = 0; l < 8 && c0 + l < x->cols_real; l++) {
                const float *g = x->weights + (size_t)r * x->row_stride + (size_t)(c0 + l) * x->col_stride;
                for (int e = 0; e < 9; e++) lanes[x->flip ? 8 - e : e][l] = g[e];
            }
        }
        v8 g[3][3];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) g[a][b] = *(const v8u *)lanes[a * 3 + b];
        v8 m[6][3];
        for (int b = 0; b < 3; b++) {
            const v8 a0 = g[0][b], a1 = g[1][b], a2 = g[2][b];
            m[0][b] = a0 * 0.25f;
            m[1][b] = (a0 + a1 + a2) * (-1.0f / 6);
            m[2][b] = (a0 - a1 + a2) * (-1.0f / 6);
            m[3][b] = a0 * (1.0f / 24) + a1 * (1.0f / 12) + a2 * (1.0f / 6);
            m[4][b] = a0 * (1.0f / 24) - a1 * (1.0f / 12) + a2 * (1.0f / 6);
            m[5][b] = a2;
        }
        const size_t stride = (size_t)x->rows * x->cols;
        float *out = x->U + (size_t)r * x->cols + c0;
        for (int i = 0; i < 6; i++) {
            const v8 a0 = m[i][0], a1 = m[i][1], a2 = m[i][2];
            float *row = out + (size_t)(i * 6) * stride;
            *(v8u *)(row) = a0 * 0.25f;
            *(v8u *)(row + stride) = (a0 + a1 + a2) * (-1.0f / 6);
            *(v8u *)(row + 2 * stride) = (a0 - a1 + a2) * (-1.0f / 6);
            *(v8u *)(row + 3 * stride) = a0 * (1.0f / 24) + a1 * (1.0f / 12) + a2 * (1.0f / 6);
            *(v8u *)(row + 4 * stride) = a0 * (1.0f / 24) - a1 * (1.0f / 12) + a2 * (1.0f / 6);
            *(v8u *)(row + 5 * stride) = a2;
        }
    }
}

// diff_weights[k][c] = G^T dU[.][k][c] G, for 8 input channels c0..c0+8 at a time.
static void KERNEL(weight_gradient_tiles)(void *p, long begin, long end) {
    const weight_context *x = p;
    const int groups = x->cols / 8;
    const size_t stride = (size_t)x->rows * x->cols;
    for (long w = begin; w < end; w++) {
        const int k = (int)(w / groups), c0 = (int)(w % groups) * 8;
        if (k >= x->rows_real) continue;
        const float *in = x->U + (size_t)k * x->cols + c0;
        v8 m[3][6];
        for (int j = 0; j < 6; j++) {
            v8 a[6];
            for (int i = 0; i < 6; i++) a[i] = *(const v8u *)(in + (size_t)(i * 6 + j) * stride);
            m[0][j] = a[0] * 0.25f - (a[1] + a[2]) * (1.0f / 6) + (a[3] + a[4]) * (1.0f / 24);
            m[1][j] = (a[2] - a[1]) * (1.0f / 6) + (a[3] - a[4]) * (1.0f / 12);
            m[2][j] = (a[3] + a[4]) * (1.0f / 6) - (a[1] + a[2]) * (1.0f / 6) + a[5];
        }
        for (int i = 0; i < 3; i++) {
            const v8 a0 = m[i][0], a1 = m[i][1], a2 = m[i][2], a3 = m[i][3], a4 = m[i][4], a5 = m[i][5];
            v8 r[3];
            r[0] = a0 * 0.25f - (a1 + a2) * (1.0f / 6) + (a3 + a4) * (1.0f / 24);
            r[1] = (a2 - a1) * (1.0f / 6) + (a3 - a4) * (1.0f / 12);
            r[2] = (a3 + a4) * (1.0f / 6) - (a1 + a2) * (1.0f / 6) + a5;
            for (int j = 0; j < 3; j++) {
                float lanes[8];
                *(v8u *)lanes = r[j];
                for (int l = 0; l < 8 && c0 + l < x->cols_real; l++)
                    x->diff_weights[((size_t)k * x->cols_real + c0 + l) * 9 + i * 3 + j] = lanes[l];
            }
        }
    }
}

// diff_bias[k0..k0+8] = the sum of the output gradient over images and pixels.
static void KERNEL(bias_gradient)(void *p, long begin, long end) {
    const pass_context *x = p;
    const int pixels = x->out_h * x->out_w, blocks = x->out_c / x->block;
    for (long g = begin; g < end; g++) {
        const int k0 = (int)g * 8;
        v8 sum = {0};
        for (int n = 0; n < x->batch; n++) {
            const float *base = x->diff_dst + (size_t)(n * blocks + k0 / x->block) * pixels * x->block + k0 % x->block;
            for (int q = 0; q < pixels; q++) sum += *(const v8u *)(base + (size_t)q * x->block);
        }
        float lanes[8];
        *(v8u *)lanes = sum;
        for (int l = 0; l < 8 && k0 + l < x->out_real; l++) x->diff_bias[k0 + l] = lanes[l];
    }
}

#undef KERNEL
#undef PASTE
#undef PASTE2
