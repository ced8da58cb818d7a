/* PNG and JPEG decoding / PNG encoding over libpng and libjpeg. Written in C because both libraries
 * report errors by longjmp, which must not cross C++ frames. Each function returns 0 on success, or
 * -1 with a one-line reason in `message`. Pixels are malloc'ed; the caller frees them with free().
 *
 * The decoders read the header first and return SEAN_DECODE_TOO_LARGE, with the header's width and
 * height in `out` and nothing allocated, when width x height exceeds `max_pixels`; a file that ends
 * before its last pixel, or whose compressed data is corrupt, is an error (never a grey fill). */
#ifndef SEAN_CODECS_H
#define SEAN_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sean_raster {
  int width, height;
  int channels; /* 1 (grey) or 3 (RGB) */
  int depth;    /* bits per sample: 8 or 16 (16-bit samples in host byte order) */
  int palette;  /* 1: an indexed-colour PNG, its pixels given as their palette's colours */
  void* pixels; /* height * width * channels samples, row-major */
} sean_raster;

enum sean_decode_mode {
  SEAN_DECODE_LABELS = 0, /* as stored: grey (and grey + alpha) 8 / 16 bits kept (1, 2, 4 bits as the ids
                           * stored, a byte each); colour (palette, RGB) as RGB of 8 or 16 bits (a palette's
                           * are 8); alpha and tRNS dropped */
  SEAN_DECODE_RGB8 = 1    /* any image as 8-bit RGB: grey replicated, alpha dropped, 16 bits -> high byte */
};

enum { SEAN_DECODE_TOO_LARGE = -2 };

int sean_png_decode(const unsigned char* data, size_t size, int mode, uint64_t max_pixels, sean_raster* out,
                    char* message, size_t message_size);
int sean_jpeg_available(void);
int sean_jpeg_decode(const unsigned char* data, size_t size, uint64_t max_pixels, sean_raster* out, char* message,
                     size_t message_size);
/* 8-bit RGB [height, width, 3] -> PNG bytes in *png (malloc'ed, *png_size bytes). */
int sean_png_encode(const uint8_t* rgb, int width, int height, unsigned char** png, size_t* png_size, char* message,
                    size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
