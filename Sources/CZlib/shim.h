#ifndef PARE_CZLIB_SHIM_H
#define PARE_CZLIB_SHIM_H
// zlib's gz* functions read gzip files and, transparently, uncompressed ones.
#include <zlib.h>
#endif
