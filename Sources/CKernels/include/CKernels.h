// Pare's own CPU kernels (see Package.swift): Winograd convolution, blocked max pooling,
// the weights' gradient of few-input-channel convolutions and their fused inference forward pass.
#include "winograd.h"
#include "pooling.h"
#include "few_channel_conv.h"
#include "few_channel_forward.h"
