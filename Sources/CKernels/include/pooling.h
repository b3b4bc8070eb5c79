#ifndef PARE_POOLING_H
#define PARE_POOLING_H

// Max pooling on oneDNN's blocked layout nChw{block}c (block 8 or 16; channels padded with
// zeros to a multiple of it), with the position of each maximum kept for the backward pass.
// Padding counts as -infinity, as in PyTorch; windows are clipped to the input. The first
// maximum in row-major window order wins, and a NaN wins over any number (PyTorch's CPU
// rule), so a NaN reaches the loss.

typedef struct {
    int batch, channels;             // real channel count (the layout pads it to `block`)
    int in_height, in_width;
    int out_height, out_width;
    int kernel_height, kernel_width; // kernel_height * kernel_width <= 255
    int stride_height, stride_width;
    int pad_top, pad_left;
    int block;                       // 8 or 16
} pare_max_pool_shape;

// Elements of dst (and of argmax): batch * padded channels * out_height * out_width.
long pare_max_pool_output_elements(const pare_max_pool_shape *shape);

// dst = the maximum of each window; argmax (when not NULL) = its index in the window,
// kh * kernel_width + kw, or 255 for a window with no input element (dst is -infinity there).
void pare_max_pool_forward(const pare_max_pool_shape *shape, const float *src, float *dst, unsigned char *argmax);

// diff_src = the gradient of src: each window's diff_dst added at its maximum, 0 elsewhere.
void pare_max_pool_backward(const pare_max_pool_shape *shape, const float *diff_dst, const unsigned char *argmax,
                            float *diff_src);

#endif
