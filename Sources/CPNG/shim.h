#ifndef PARE_CPNG_SHIM_H
#define PARE_CPNG_SHIM_H
// libpng 1.6's simplified API (png_image_*): it reports errors in the png_image struct
// instead of longjmp-ing, so Swift can call it directly.
#include <png.h>
#endif
