#ifndef PARE_FEW_CHANNEL_FORWARD_H
#define PARE_FEW_CHANNEL_FORWARD_H
#include <stddef.h>

// Inference forward pass of a convolution with few input channels (an image's first layer),
// with its bias (batch norm folded in), an optional ReLU and an optional max pooling after
// it, in one pass: oneDNN 2.6's AVX2 kernel runs a 1-channel 3x3 convolution at about a
// third of the FMA peak, and a separate max pooling reads the whole convolution output back
// from memory. Here each (image, pair of groups of 8 output channels) is computed row by row
// into a per-thread plane that stays in cache, and pooled from there.
//
// The source is plain NCHW f32; the destination is oneDNN's blocked nChw{block}c (block 8
// or 16; padding lanes written as zeros). One group, no dilation; any kernel, stride and
// padding for the convolution (zero padding) and the pooling (padding never wins, windows
// clipped as in PyTorch). A NaN wins the pooling over any number.

typedef struct {
    int batch, in_channels, out_channels;
    int in_height, in_width;
    int conv_height, conv_width;           // the convolution's output
    int kernel_height, kernel_width, stride_height, stride_width, pad_top, pad_left;
    int relu;                              // 1: max(x, 0) after the bias
    int pool;                              // 1: max pooling after; 0: dst is the convolution's output
    int pool_kernel_height, pool_kernel_width, pool_stride_height, pool_stride_width, pool_pad_top, pool_pad_left;
    int out_height, out_width;             // dst's (pooled, or the convolution's)
    int block;                             // dst's channel block: 8 or 16
    // 1 (with pooling only): dst is 8-bit channels-last NHWC instead, each value
    // saturate(round_half_even(v * inverse_scale) + zero_point), as oneDNN's reorder
    // quantises (the int8 layer after it reads it directly).
    int quantized;
    int is_signed;                         // 8-bit type: s8 (1) or u8 (0)
    float inverse_scale;
    int zero_point;
    int portable;                          // 1: the baseline x86-64 code even where AVX2 is available
} pare_few_channel_forward_shape;

// Floats of the packed weights: per pair of groups of 8 output channels, [in][kh][kw][16]
// then the bias [16] (channels past out_channels zero).
size_t pare_few_channel_forward_packed_floats(const pare_few_channel_forward_shape *shape);

// weights: plain [out][in][kh][kw]; bias: [out] or NULL (zero).
void pare_few_channel_forward_pack(const pare_few_channel_forward_shape *shape, const float *weights, const float *bias,
                                   float *packed);

// Floats of workspace pare_few_channel_forward needs for `threads` OpenMP threads (0 without pooling).
size_t pare_few_channel_forward_workspace_floats(const pare_few_channel_forward_shape *shape, int threads);

// Overwrites dst (floats, or bytes when quantized). workspace: pare_few_channel_forward_workspace_floats(shape, pare_parallel_threads()) floats.
void pare_few_channel_forward(const pare_few_channel_forward_shape *shape, const float *src, const float *packed,
                              void *dst, float *workspace);

#endif
