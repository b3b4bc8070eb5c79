#ifndef PARE_FEW_CHANNEL_CONV_H
#define PARE_FEW_CHANNEL_CONV_H
#include <stddef.h>

// The weights' gradient of a convolution with few input channels (an image's first layer:
// 1 to 4 channels), where oneDNN 2.6's AVX2 kernel reaches about 10 GFLOP/s. The source is
// plain NCHW; the output's gradient is in oneDNN's blocked layout nChw{block}c (block 8 or
// 16; channels padded with zeros to a multiple of it); the gradient written is plain
// [out, in, kernel_height, kernel_width]. Any kernel size, stride and padding; one group,
// no dilation. Images are split into one share per OpenMP thread, each summed into its own
// accumulators, which are then added in thread order: the result depends on the thread
// count, not on timing.

typedef struct {
    int batch, in_channels, out_channels;  // real channel counts
    int in_height, in_width, out_height, out_width;
    int kernel_height, kernel_width;
    int stride_height, stride_width;
    int pad_top, pad_left;
    int block;                             // 8 or 16
    int threads;                           // shares of the batch (usually the OpenMP thread count)
    int portable;                          // 1: the baseline x86-64 code even where AVX2 is available
} pare_few_channel_shape;

size_t pare_few_channel_workspace_floats(const pare_few_channel_shape *shape);

// Overwrites diff_weights (plain) and diff_bias (when not NULL).
void pare_few_channel_backward_weights(const pare_few_channel_shape *shape, const float *src, const float *diff_dst,
                                       float *diff_weights, float *diff_bias, float *workspace);

#endif
