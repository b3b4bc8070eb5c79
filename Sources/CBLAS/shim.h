#ifndef PARE_CBLAS_SHIM_H
#define PARE_CBLAS_SHIM_H
#include <cblas.h>
#include "lapack.h"
#endif
