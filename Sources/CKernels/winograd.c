#include "winograd.h"
#include "parallel.h"

#include <oneapi/dnnl/dnnl.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));

// One transform pass over a chunk of images, seen as a forward convolution from `in_*`
// (`src`) to `out_*` (`dst`); channel counts are padded to the block.
typedef struct {
    int batch, first, images;
    int in_c, in_h, in_w, out_c, out_h, out_w, out_real;
    int pad_top, pad_left, block;
    int tiles_h, tiles_w, tiles;
    const float *src, *bias, *diff_dst;
    float *dst, *V, *M, *diff_bias;
} pass_context;

// The 3x3 filters g(r, c) at weights + r * row_stride + c * col_stride, transformed into
// U[36][rows][cols] (or, for the weights' gradient, back from U into diff_weights).
typedef struct {
    int rows, cols, rows_real, cols_real;
    size_t row_stride, col_stride;
    int flip;
    const float *weights;
    float *U, *diff_weights;
} weight_context;

// Work item w of a tile pass over `groups` 8-channel groups: tile t, first channel c0 of
// its group, and the tile's image n and grid position (ty, tx).
typedef struct {
    int t, c0, n, ty, tx;
} tile_item;

static inline tile_item tile_of(const pass_context *x, long w, int groups) {
    const int t = (int)(w / groups), per_image = x->tiles_h * x->tiles_w;
    tile_item item = {t, (int)(w % groups) * 8, x->first + t / per_image, (t / x->tiles_w) % x->tiles_h, t % x->tiles_w};
    return item;
}

#define SUFFIX _avx2
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include "kernels.h"
#pragma clang attribute pop
#undef SUFFIX

#define SUFFIX _generic
#include "kernels.h"
#undef SUFFIX

// The 36 matrix products C[i] = op(A[i]) B[i] (+ beta C[i]) of one chunk, i in [begin, end).
// Each runs on one thread: at these sizes (often 64x64 outputs) a product per thread beats
// splitting every product over all threads.
typedef struct {
    char transa;
    int m, n, k;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
    size_t stride_a, stride_b, stride_c;
    float beta;
    int status;
} product_batch;

static void products(void *p, long begin, long end) {
    product_batch *batch = p;
    for (long i = begin; i < end; i++) {
        dnnl_status_t status = dnnl_sgemm(batch->transa, 'N', batch->m, batch->n, batch->k, 1.0f,
                                          batch->a + i * batch->stride_a, batch->lda, batch->b + i * batch->stride_b,
                                          batch->ldb, batch->beta, batch->c + i * batch->stride_c, batch->ldc);
        if (status != dnnl_success) batch->status = (int)status;
    }
}

static int use_avx2(const pare_winograd_shape *s) {
    return !s->portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define DISPATCH(name, context, count) \
    pare_parallel_for(use_avx2(s) ? name##_avx2 : name##_generic, (context), (count))

static int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }
static int tiles(int extent) { return (extent + 3) / 4; }
static int max_int(int a, int b) { return a > b ? a : b; }

// Images per chunk: the transformed tiles of a chunk (36 x tiles x channels floats, for
// input and output each) stay near 8 MB, so they are still in the last-level cache when
// the matrix products read them.
static int chunk_images(const pare_winograd_shape *s, int tiles_per_image, int channels) {
    const long budget = 2L << 20;
    long images = budget / (36L * tiles_per_image * channels);
    if (s->max_chunk_images > 0 && images > s->max_chunk_images) images = s->max_chunk_images;
    if (images < 1) images = 1;
    return images < s->batch ? (int)images : s->batch;
}

// The pass from (in_c, in_h, in_w) to (out_c, out_h, out_w): forward, or backward data
// as the forward convolution of the output gradient with the flipped, transposed filters.
typedef struct {
    int in_c, in_h, in_w, out_c, out_h, out_w, pad_top, pad_left;
    int in_real, out_real;
} pass_geometry;

static pass_geometry forward_geometry(const pare_winograd_shape *s) {
    pass_geometry g = {round_up(s->in_channels, s->block), s->in_height, s->in_width,
                       round_up(s->out_channels, s->block), s->out_height, s->out_width,
                       s->pad_top, s->pad_left, s->in_channels, s->out_channels};
    return g;
}

static pass_geometry backward_data_geometry(const pare_winograd_shape *s) {
    pass_geometry g = {round_up(s->out_channels, s->block), s->out_height, s->out_width,
                       round_up(s->in_channels, s->block), s->in_height, s->in_width,
                       2 - s->pad_top, 2 - s->pad_left, s->out_channels, s->in_channels};
    return g;
}

// Images per chunk of a pass.
static int pass_chunk(const pare_winograd_shape *s, pass_geometry g) {
    return chunk_images(s, tiles(g.out_h) * tiles(g.out_w), max_int(g.in_c, g.out_c));
}

// The workspace of a pass: transformed weights U[36][in][out], then the chunk's
// transformed inputs V[36][tiles][in], then its products M[36][tiles][out].
static void split_workspace(const pare_winograd_shape *s, pass_geometry g, float *workspace,
                            float **U, float **V, float **M) {
    const size_t tiles_per_chunk = (size_t)pass_chunk(s, g) * tiles(g.out_h) * tiles(g.out_w);
    *U = workspace;
    *V = *U + 36 * (size_t)g.in_c * g.out_c;
    *M = *V + 36 * tiles_per_chunk * g.in_c;
}

static size_t pass_floats(const pare_winograd_shape *s, pass_geometry g) {
    const size_t tiles_per_chunk = (size_t)pass_chunk(s, g) * tiles(g.out_h) * tiles(g.out_w);
    return 36 * ((size_t)g.in_c * g.out_c + tiles_per_chunk * (g.in_c + g.out_c));
}

size_t pare_winograd_workspace_floats(const pare_winograd_shape *s, int pass) {
    return pass_floats(s, pass == 1 ? backward_data_geometry(s) : forward_geometry(s));
}

static pass_context make_context(const pare_winograd_shape *s, pass_geometry g) {
    pass_context x;
    memset(&x, 0, sizeof x);
    x.batch = s->batch;
    x.in_c = g.in_c, x.in_h = g.in_h, x.in_w = g.in_w;
    x.out_c = g.out_c, x.out_h = g.out_h, x.out_w = g.out_w, x.out_real = g.out_real;
    x.pad_top = g.pad_top, x.pad_left = g.pad_left, x.block = s->block;
    x.tiles_h = tiles(g.out_h), x.tiles_w = tiles(g.out_w);
    return x;
}

// dst = conv(src, U) + bias over all images, a chunk at a time.
static int run_pass(const pare_winograd_shape *s, pass_geometry g, const float *src, const float *U,
                    const float *bias, float *dst, float *V, float *M) {
    pass_context x = make_context(s, g);
    x.src = src, x.bias = bias, x.dst = dst, x.V = V, x.M = M;
    const int per_image = x.tiles_h * x.tiles_w, chunk = pass_chunk(s, g);
    for (int first = 0; first < s->batch; first += chunk) {
        x.first = first;
        x.images = chunk < s->batch - first ? chunk : s->batch - first;
        x.tiles = x.images * per_image;
        DISPATCH(input_tiles, &x, (long)x.tiles * (g.in_c / 8));
        // M[xi] (tiles x out) = V[xi] (tiles x in) U[xi] (in x out)
        product_batch batch = {'N', x.tiles, g.out_c, g.in_c, V, U, M, g.in_c, g.out_c, g.out_c,
                               (size_t)x.tiles * g.in_c, (size_t)g.in_c * g.out_c, (size_t)x.tiles * g.out_c, 0.0f, 0};
        pare_parallel_for(products, &batch, 36);
        if (batch.status) return batch.status;
        DISPATCH(output_tiles, &x, (long)x.tiles * (g.out_c / 8));
    }
    return 0;
}

int pare_winograd_forward(const pare_winograd_shape *s, const float *src, const float *weights,
                          const float *bias, float *dst, float *workspace) {
    const pass_geometry g = forward_geometry(s);
    float *U, *V, *M;
    split_workspace(s, g, workspace, &U, &V, &M);
    weight_context w = {g.in_c, g.out_c, s->in_channels, s->out_channels, 9, (size_t)s->in_channels * 9, 0,
                        weights, U, NULL};
    DISPATCH(weight_tiles, &w, (long)g.in_c * (g.out_c / 8));
    return run_pass(s, g, src, U, bias, dst, V, M);
}

int pare_winograd_backward_data(const pare_winograd_shape *s, const float *diff_dst, const float *weights,
                                float *diff_src, float *workspace) {
    const pass_geometry g = backward_data_geometry(s);
    float *U, *V, *M;
    split_workspace(s, g, workspace, &U, &V, &M);
    // Row r = output channel k, column c = input channel: w[k][c] flipped by 180 degrees.
    weight_context w = {g.in_c, g.out_c, s->out_channels, s->in_channels, (size_t)s->in_channels * 9, 9, 1,
                        weights, U, NULL};
    DISPATCH(weight_tiles, &w, (long)g.in_c * (g.out_c / 8));
    return run_pass(s, g, diff_dst, U, NULL, diff_src, V, M);
}

int pare_winograd_backward_weights(const pare_winograd_shape *s, const float *src, const float *diff_dst,
                                   float *diff_weights, float *diff_bias, float *workspace) {
    const pass_geometry g = forward_geometry(s);
    pass_context x = make_context(s, g);
    x.src = src, x.diff_dst = diff_dst, x.diff_bias = diff_bias;
    const int per_image = x.tiles_h * x.tiles_w, chunk = pass_chunk(s, g);
    float *dU;  // [36][out_c][in_c], in the place of U
    split_workspace(s, g, workspace, &dU, &x.V, &x.M);
    for (int first = 0; first < s->batch; first += chunk) {
        x.first = first;
        x.images = chunk < s->batch - first ? chunk : s->batch - first;
        x.tiles = x.images * per_image;
        DISPATCH(input_tiles, &x, (long)x.tiles * (g.in_c / 8));
        DISPATCH(gradient_tiles, &x, (long)x.tiles * (g.out_c / 8));
        // dU[xi] (out x in) (+)= Z[xi]^T (out x tiles) V[xi] (tiles x in)
        product_batch batch = {'T', g.out_c, g.in_c, x.tiles, x.M, x.V, dU, g.out_c, g.in_c, g.in_c,
                               (size_t)x.tiles * g.out_c, (size_t)x.tiles * g.in_c, (size_t)g.out_c * g.in_c,
                               first == 0 ? 0.0f : 1.0f, 0};
        pare_parallel_for(products, &batch, 36);
        if (batch.status) return batch.status;
    }
    weight_context w = {g.out_c, g.in_c, s->out_channels, s->in_channels, 0, 0, 0, NULL, dU, diff_weights};
    DISPATCH(weight_gradient_tiles, &w, (long)g.out_c * (g.in_c / 8));
    if (diff_bias) DISPATCH(bias_gradient, &x, g.out_c / 8);
    return 0;
}
