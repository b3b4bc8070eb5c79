#ifndef PARE_CJPEG_SHIM_H
#define PARE_CJPEG_SHIM_H
// libjpeg(-turbo) reports fatal errors by calling error_exit, which must not return: the
// only way back is longjmp, which Swift cannot do. The two helpers below keep the setjmp
// and every libjpeg call in C and hand Swift a plain status code and message.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

struct pare_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    int truncated;
    char message[JMSG_LENGTH_MAX];
};

static inline void pare_jpeg_error_exit(j_common_ptr info) {
    struct pare_jpeg_error *error = (struct pare_jpeg_error *)info->err;
    error->base.format_message(info, error->message);
    longjmp(error->jump, 1);
}

// Warnings are not printed. Premature end of data is remembered: libjpeg pads the missing
// data with grey and calls it a warning; Pare calls it a truncated file.
static inline void pare_jpeg_emit_message(j_common_ptr info, int level) {
    struct pare_jpeg_error *error = (struct pare_jpeg_error *)info->err;
    if (level < 0) {
        error->base.num_warnings++;
        if (error->base.msg_code == JWRN_JPEG_EOF) error->truncated = 1;
    }
}

// Called by libjpeg between chunks of input; stops a file with more than max_scans scans
// (as djpeg -maxscans does): each scan of a progressive JPEG is a pass over the whole image,
// and an "EOB run" codes thousands of blocks in a few bits, so a small file of many scans
// would otherwise cost minutes.
struct pare_jpeg_progress {
    struct jpeg_progress_mgr base;
    int max_scans;
};

static inline void pare_jpeg_progress_monitor(j_common_ptr info) {
    struct pare_jpeg_progress *progress = (struct pare_jpeg_progress *)info->progress;
    int scan = ((j_decompress_ptr)info)->input_scan_number;
    if (info->is_decompressor && scan > progress->max_scans) {
        struct pare_jpeg_error *error = (struct pare_jpeg_error *)info->err;
        snprintf(error->message, sizeof error->message, "more than %d scans (scan %d): refused, as a progressive file of "
                 "many scans costs a pass over the whole image each", progress->max_scans, scan);
        longjmp(error->jump, 1);
    }
}

/// Decodes a JPEG held in memory to 8-bit RGB, rows top to bottom, 3 bytes per pixel.
/// Greyscale is replicated to three channels; CMYK (Adobe, inverted) is converted with
/// R = C*K/255 and so on. On success returns 0 and sets *pixels to a malloc'ed buffer of
/// width*height*3 bytes (the caller frees it) and *width, *height. On failure returns -1,
/// sets *pixels to NULL and writes a message of at most message_capacity bytes. A header
/// announcing more than max_pixels pixels, or more than pixels_per_byte times the file's
/// size, fails before anything is allocated for them; a file of more than max_scans scans
/// fails when its scan max_scans + 1 begins.
static inline int pare_jpeg_decode_rgb(const unsigned char *data, unsigned long size,
                                       unsigned long long max_pixels, unsigned long long pixels_per_byte,
                                       int max_scans,
                                       unsigned char **pixels, int *width, int *height,
                                       char *message, size_t message_capacity) {
    struct jpeg_decompress_struct info;
    struct pare_jpeg_error error;
    struct pare_jpeg_progress progress;
    unsigned char *volatile buffer = NULL;
    JSAMPLE *volatile row = NULL;
    *pixels = NULL;
    memset(&error, 0, sizeof error);
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = pare_jpeg_error_exit;
    error.base.emit_message = pare_jpeg_emit_message;
    if (setjmp(error.jump)) {
        snprintf(message, message_capacity, "%s", error.message);
        jpeg_destroy_decompress(&info);
        free(buffer);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&info);
    memset(&progress, 0, sizeof progress);
    progress.base.progress_monitor = pare_jpeg_progress_monitor;
    progress.max_scans = max_scans;
    info.progress = &progress.base;
    jpeg_mem_src(&info, data, size);
    jpeg_read_header(&info, TRUE);
    unsigned long long announced = (unsigned long long)info.image_width * info.image_height;
    if (announced > max_pixels) {
        snprintf(error.message, sizeof error.message,
                 "header width %u x height %u is %llu pixels, more than the %llu Pare decodes",
                 (unsigned)info.image_width, (unsigned)info.image_height, announced, max_pixels);
        longjmp(error.jump, 1);
    }
    if (announced > pixels_per_byte * (unsigned long long)size) {
        snprintf(error.message, sizeof error.message,
                 "header width %u x height %u is %llu pixels, more than a file of %lu bytes can hold "
                 "(Huffman coding spends at least one bit per 8x8 block: %llu pixels per byte)",
                 (unsigned)info.image_width, (unsigned)info.image_height, announced, size, pixels_per_byte);
        longjmp(error.jump, 1);
    }
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&info);
    size_t w = info.output_width, h = info.output_height;
    size_t components = (size_t)info.output_components;
    buffer = (unsigned char *)malloc(w * h * 3 > 0 ? w * h * 3 : 1);
    row = (JSAMPLE *)malloc(w * components > 0 ? w * components : 1);
    if (buffer == NULL || row == NULL) {
        snprintf(error.message, sizeof error.message, "out of memory for %zux%zu pixels", w, h);
        longjmp(error.jump, 1);
    }
    while (info.output_scanline < info.output_height) {
        size_t y = info.output_scanline;
        JSAMPROW rows[1] = { row };
        jpeg_read_scanlines(&info, rows, 1);
        unsigned char *out = buffer + y * w * 3;
        if (cmyk) {
            for (size_t x = 0; x < w; x++) {
                unsigned k = row[4 * x + 3];
                out[3 * x + 0] = (unsigned char)((row[4 * x + 0] * k + 127) / 255);
                out[3 * x + 1] = (unsigned char)((row[4 * x + 1] * k + 127) / 255);
                out[3 * x + 2] = (unsigned char)((row[4 * x + 2] * k + 127) / 255);
            }
        } else {
            memcpy(out, row, w * 3);
        }
    }
    if (error.truncated) {
        snprintf(error.message, sizeof error.message, "premature end of JPEG data (truncated file)");
        longjmp(error.jump, 1);
    }
    jpeg_finish_decompress(&info);
    if (error.truncated) {
        snprintf(error.message, sizeof error.message, "premature end of JPEG data (truncated file)");
        longjmp(error.jump, 1);
    }
    jpeg_destroy_decompress(&info);
    free(row);
    *pixels = buffer;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

/// Encodes 8-bit pixels (components 1: grey, 3: RGB; rows top to bottom) as a baseline JPEG
/// (progressive: libjpeg's simple progression script, 6 scans for grey, 10 for colour) of
/// the given quality (1-100). On success returns 0 and sets *output to a malloc'ed buffer
/// (the caller frees it) of *output_size bytes. On failure returns -1 with a message. Used
/// by tests to make fixtures.
static inline int pare_jpeg_encode(const unsigned char *pixels, int width, int height,
                                   int components, int quality, int progressive,
                                   unsigned char **output, unsigned long *output_size,
                                   char *message, size_t message_capacity) {
    struct jpeg_compress_struct info;
    struct pare_jpeg_error error;
    unsigned char *volatile destination = NULL;
    unsigned long destination_size = 0;
    *output = NULL;
    *output_size = 0;
    memset(&error, 0, sizeof error);
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = pare_jpeg_error_exit;
    error.base.emit_message = pare_jpeg_emit_message;
    if (setjmp(error.jump)) {
        snprintf(message, message_capacity, "%s", error.message);
        jpeg_destroy_compress(&info);
        free(destination);
        return -1;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, (unsigned char **)&destination, &destination_size);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = components;
    info.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    if (progressive) jpeg_simple_progression(&info);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW rows[1] = { (JSAMPROW)(pixels + (size_t)info.next_scanline * (size_t)width * (size_t)components) };
        jpeg_write_scanlines(&info, rows, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    *output = destination;
    *output_size = destination_size;
    return 0;
}
#endif
