#ifndef PARE_CDNNL_SHIM_H
#define PARE_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <oneapi/dnnl/dnnl_version.h>

#if DNNL_VERSION_MAJOR != 2
#error "Pare needs the oneDNN 2.x C API (Debian's libdnnl-dev 2.6); found another major version"
#endif

// oneDNN's OpenMP runtime (libgomp) owns the cores; Pare sets its thread count per executor.
extern void omp_set_num_threads(int num_threads);
extern int omp_get_max_threads(void);
#endif
