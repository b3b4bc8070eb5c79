#ifndef PARE_WINOGRAD_H
#define PARE_WINOGRAD_H
#include <stddef.h>

// Winograd F(4x4, 3x3) convolution for 3x3 kernels, stride 1, no dilation, one group:
// forward, backward data and backward weights. Activations use oneDNN's blocked layout
// nChw{block}c (block 8 or 16; channels padded with zeros to a multiple of the block);
// weights and their gradient are plain [out, in, 3, 3]. Each 4x4 output tile is computed
// from a 6x6 input tile as A^T [(G g G^T) . (B^T d B)] A (Lavin & Gray, 2016): the
// elementwise products over channels become 36 matrix products, run by oneDNN's sgemm.
// The transforms run on oneDNN's OpenMP threads (libgomp), so no second thread pool
// competes for the cores.

typedef struct {
    int batch;
    int in_channels, out_channels;   // real channel counts (the layout pads them to `block`)
    int in_height, in_width;
    int out_height, out_width;       // in + pad_top + pad_bottom - 2, etc.
    int pad_top, pad_left;           // 0...2
    int block;                       // 8 or 16
    int max_chunk_images;            // images transformed at a time; 0: chosen to fit the cache
    int portable;                    // 1: the baseline x86-64 code even where AVX2 is available
} pare_winograd_shape;

// Floats of scratch memory `pass` needs (0 forward, 1 backward data, 2 backward weights).
size_t pare_winograd_workspace_floats(const pare_winograd_shape *shape, int pass);

// dst = conv(src, weights) (+ bias, when not NULL). Returns 0, or a oneDNN status.
int pare_winograd_forward(const pare_winograd_shape *shape, const float *src, const float *weights,
                          const float *bias, float *dst, float *workspace);

// diff_src = the gradient of the input (overwritten).
int pare_winograd_backward_data(const pare_winograd_shape *shape, const float *diff_dst,
                                const float *weights, float *diff_src, float *workspace);

// diff_weights (plain [out, in, 3, 3]) and diff_bias (when not NULL) are overwritten.
int pare_winograd_backward_weights(const pare_winograd_shape *shape, const float *src,
                                   const float *diff_dst, float *diff_weights, float *diff_bias,
                                   float *workspace);
#endif
