// Pare's own CPU kernels (see Package.swift): Winograd convolution, blocked max pooling,
// the weights' gradient of few-input-channel convolutions.
#include "winograd.h"
#include "pooling.h"
#include "few_channel_conv.h"
