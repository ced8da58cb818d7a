#include "codecs.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SEAN_HAVE_JPEG
#include <jpeglib.h>
#include <jerror.h>
#endif

/* Larger headers are refused before anything is allocated: OpenCV's limit (CV_IO_MAX_IMAGE_WIDTH and
 * _HEIGHT), so that the Python runtime and this one read the same files; the pixel cap bounds the rest. */
enum { MAX_SIDE = 1 << 20 };

typedef struct reason {
  char* text;
  size_t size;
  char warning[160]; /* libpng's last warning: the cause of its terse errors ("Invalid IHDR data") */
} reason;

static void say(reason* r, const char* text) {
  if (r->text && r->size) snprintf(r->text, r->size, "%s", text);
}

/* ---- PNG ------------------------------------------------------------------------------------ */

typedef struct png_source {
  const unsigned char* data;
  size_t size, offset;
} png_source;

typedef struct png_sink {
  unsigned char* data;
  size_t size, capacity;
} png_sink;

static void png_on_error(png_structp png, png_const_charp text) {
  reason* r = (reason*)png_get_error_ptr(png);
  if (r->warning[0] && r->text && r->size)
    snprintf(r->text, r->size, "%s: %s", text, r->warning);
  else
    say(r, text);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp text) {
  reason* r = (reason*)png_get_error_ptr(png);
  snprintf(r->warning, sizeof r->warning, "%s", text);
}

static void png_read_bytes(png_structp png, png_bytep out, png_size_t count) {
  png_source* source = (png_source*)png_get_io_ptr(png);
  if (count > source->size - source->offset) png_error(png, "the file is truncated");
  memcpy(out, source->data + source->offset, count);
  source->offset += count;
}

static int host_is_little_endian(void) {
  const uint16_t probe = 1;
  return *(const uint8_t*)&probe == 1;
}

/* width x height above max_pixels (computed without overflow). */
static int too_many_pixels(uint64_t width, uint64_t height, uint64_t max_pixels) {
  return width > 0 && height > max_pixels / width;
}

int sean_png_decode(const unsigned char* data, size_t size, int mode, uint64_t max_pixels, sean_raster* out,
                    char* message, size_t message_size) {
  reason why = {message, message_size};
  volatile int too_large = 0;
  png_source source = {data, size, 8};
  png_structp png;
  png_infop info;
  unsigned char* volatile pixels = NULL;
  png_bytep* volatile rows = NULL;
  memset(out, 0, sizeof *out);
  if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
    say(&why, "not a PNG file (bad signature)");
    return -1;
  }
  png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &why, png_on_error, png_on_warning);
  info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    say(&why, "out of memory");
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return too_large ? SEAN_DECODE_TOO_LARGE : -1;
  }
  png_set_read_fn(png, &source, png_read_bytes);
  png_set_sig_bytes(png, 8);
  png_set_user_limits(png, MAX_SIDE, MAX_SIDE);
  png_read_info(png, info);
  why.warning[0] = '\0'; /* a warning explains only the header's own error (a side past MAX_SIDE) */
  {
    const int color = png_get_color_type(png, info);
    const int depth = png_get_bit_depth(png, info);
    /* grey + alpha is grey with its alpha dropped: class ids, never a colour mask */
    const int grey = color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA;
    size_t row_bytes, height, y;
    out->width = (int)png_get_image_width(png, info);
    out->height = (int)png_get_image_height(png, info);
    if (too_many_pixels((uint64_t)out->width, (uint64_t)out->height, max_pixels)) {
      too_large = 1;
      png_longjmp(png, 1);
    }
    out->palette = color == PNG_COLOR_TYPE_PALETTE;
    if (out->palette) png_set_palette_to_rgb(png); /* expands tRNS to an alpha channel too */
    /* 1-, 2- and 4-bit grey: a label map's ids are the values stored (a byte each), a picture's grey is
       stretched to 0..255 */
    if (grey && depth < 8) {
      if (mode == SEAN_DECODE_LABELS)
        png_set_packing(png);
      else
        png_set_expand_gray_1_2_4_to_8(png);
    }
    /* Alpha is dropped: an alpha channel, and the transparency (tRNS) of palette and grey images. */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    /* 16 bits kept as stored: ids (grey), or a colour mask the caller refuses with the Python runtime's
       message once the file has decoded, as Python refuses it (sean_core.imageio.ids_from_bytes) */
    if (mode == SEAN_DECODE_LABELS && depth == 16 && host_is_little_endian()) png_set_swap(png);
    if (mode == SEAN_DECODE_RGB8 || !grey) {
      if (depth == 16 && mode == SEAN_DECODE_RGB8) png_set_strip_16(png);
      if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png); /* Adam7 files: png_read_image reads all passes (and warns without it) */
    png_read_update_info(png, info);
    out->width = (int)png_get_image_width(png, info);
    out->height = (int)png_get_image_height(png, info);
    out->channels = png_get_channels(png, info);
    out->depth = png_get_bit_depth(png, info);
    if ((out->channels != 1 && out->channels != 3) || (out->depth != 8 && out->depth != 16))
      png_error(png, "unsupported PNG layout");
    row_bytes = png_get_rowbytes(png, info);
    height = (size_t)out->height;
    pixels = (unsigned char*)malloc(row_bytes * height);
    rows = (png_bytep*)malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory");
    for (y = 0; y < height; ++y) rows[y] = pixels + y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
  }
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  out->pixels = pixels;
  return 0;
}

static void png_write_bytes(png_structp png, png_bytep in, png_size_t count) {
  png_sink* sink = (png_sink*)png_get_io_ptr(png);
  if (sink->size + count > sink->capacity) {
    size_t capacity = sink->capacity ? sink->capacity : 1 << 16;
    unsigned char* grown;
    while (capacity < sink->size + count) capacity *= 2;
    grown = (unsigned char*)realloc(sink->data, capacity);
    if (!grown) png_error(png, "out of memory");
    sink->data = grown;
    sink->capacity = capacity;
  }
  memcpy(sink->data + sink->size, in, count);
  sink->size += count;
}

static void png_flush_nothing(png_structp png) { (void)png; }

int sean_png_encode(const uint8_t* rgb, int width, int height, unsigned char** png_out, size_t* png_size,
                    char* message, size_t message_size) {
  reason why = {message, message_size};
  png_sink sink = {NULL, 0, 0};
  png_structp png;
  png_infop info;
  png_bytep* volatile rows = NULL;
  *png_out = NULL;
  *png_size = 0;
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    say(&why, "image size out of range");
    return -1;
  }
  png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &why, png_on_error, png_on_warning);
  info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    say(&why, "out of memory");
    return -1;
  }
  if (setjmp(png_jmpbuf(png))) {
    free(rows);
    free(sink.data);
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  png_set_write_fn(png, &sink, png_write_bytes, png_flush_nothing);
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  rows = (png_bytep*)malloc(sizeof(png_bytep) * (size_t)height);
  if (!rows) png_error(png, "out of memory");
  {
    int y;
    for (y = 0; y < height; ++y) rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)width * 3);
  }
  png_write_image(png, rows);
  png_write_end(png, NULL);
  free(rows);
  png_destroy_write_struct(&png, &info);
  *png_out = sink.data;
  *png_size = sink.size;
  return 0;
}

/* ---- JPEG ----------------------------------------------------------------------------------- */

#ifdef SEAN_HAVE_JPEG

typedef struct jpeg_failure {
  struct jpeg_error_mgr base;
  jmp_buf jump;
  char text[JMSG_LENGTH_MAX];
} jpeg_failure;

static void jpeg_on_error(j_common_ptr info) {
  jpeg_failure* failure = (jpeg_failure*)info->err;
  (*info->err->format_message)(info, failure->text);
  longjmp(failure->jump, 1);
}

/* libjpeg reports a file that ends early ("Premature end of JPEG file") or corrupt compressed data as a
 * warning and fills the rest grey; here every warning about the data is an error. Trace messages
 * (level >= 0) and warnings about metadata only (an unknown JFIF revision or Adobe transform) pass. */
static void jpeg_on_message(j_common_ptr info, int level) {
  const int code = info->err->msg_code;
  if (level >= 0) return;
  if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM) return;
  jpeg_on_error(info);
}

int sean_jpeg_available(void) { return 1; }

int sean_jpeg_decode(const unsigned char* data, size_t size, uint64_t max_pixels, sean_raster* out, char* message,
                     size_t message_size) {
  reason why = {message, message_size};
  struct jpeg_decompress_struct info;
  jpeg_failure failure;
  unsigned char* volatile pixels = NULL;
  volatile int too_large = 0;
  memset(out, 0, sizeof *out);
  info.err = jpeg_std_error(&failure.base);
  failure.base.error_exit = jpeg_on_error;
  failure.base.emit_message = jpeg_on_message;
  failure.text[0] = '\0';
  if (setjmp(failure.jump)) {
    say(&why, failure.text);
    jpeg_destroy_decompress(&info);
    free(pixels);
    return too_large ? SEAN_DECODE_TOO_LARGE : -1;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, (unsigned char*)data, (unsigned long)size);
  jpeg_read_header(&info, TRUE);
  if (info.num_components != 1 && info.num_components != 3) {
    snprintf(failure.text, sizeof failure.text, "a %d-channel (CMYK?) JPEG; convert it to RGB", info.num_components);
    longjmp(failure.jump, 1);
  }
  out->width = (int)info.image_width;
  out->height = (int)info.image_height;
  if (too_many_pixels(info.image_width, info.image_height, max_pixels)) {
    too_large = 1;
    longjmp(failure.jump, 1);
  }
  if (info.image_width > MAX_SIDE || info.image_height > MAX_SIDE) {
    snprintf(failure.text, sizeof failure.text, "the JPEG is too large (%ux%u)", info.image_width, info.image_height);
    longjmp(failure.jump, 1);
  }
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  pixels = (unsigned char*)malloc((size_t)info.output_width * info.output_height * 3);
  if (!pixels) {
    snprintf(failure.text, sizeof failure.text, "out of memory");
    longjmp(failure.jump, 1);
  }
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels + (size_t)info.output_scanline * info.output_width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  out->width = (int)info.output_width;
  out->height = (int)info.output_height;
  out->channels = 3;
  out->depth = 8;
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  out->pixels = pixels;
  return 0;
}

#else

int sean_jpeg_available(void) { return 0; }

int sean_jpeg_decode(const unsigned char* data, size_t size, uint64_t max_pixels, sean_raster* out, char* message,
                     size_t message_size) {
  reason why = {message, message_size};
  (void)data;
  (void)size;
  (void)max_pixels;
  memset(out, 0, sizeof *out);
  say(&why, "this build has no JPEG support (libjpeg was not found by CMake); convert the image to PNG");
  return -1;
}

#endif
