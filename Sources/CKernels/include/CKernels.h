// Pare's own CPU kernels (see Package.swift): Winograd convolution, blocked max pooling.
#include "winograd.h"
#include "pooling.h"
