/* Embedding SEAN through the C API: reconstruct an image from its own styles.
 *   embed_c PACKAGE IMAGE.png LABEL.png OUT.png */
#include <stdio.h>
#include <stdlib.h>

#include "sean/sean.h"

int main(int argc, char** argv) {
  sean_model* model = NULL;
  sean_styles* styles = NULL;
  sean_model_info info;
  int32_t* labels = NULL;
  uint8_t *image = NULL, *out = NULL;
  int status = 1;
  if (argc != 5) {
    fprintf(stderr, "usage: embed_c PACKAGE IMAGE LABEL OUT.png\n");
    return 2;
  }
  if (sean_api_version() < SEAN_API_VERSION) {
    fprintf(stderr, "libsean has API version %u, this program needs %d\n", (unsigned)sean_api_version(), SEAN_API_VERSION);
    return 1;
  }
  info.struct_size = sizeof info;
  if (sean_model_open(argv[1], NULL, &model) != SEAN_OK || sean_model_info_get(model, &info) != SEAN_OK) goto done;
  labels = malloc(sizeof(int32_t) * info.height * info.width);
  image = malloc(3u * info.height * info.width);
  out = malloc(3u * info.height * info.width);
  if (!labels || !image || !out) goto done;
  if (sean_read_labels(model, argv[3], labels) != SEAN_OK || sean_read_image(model, argv[2], image) != SEAN_OK ||
      sean_encode(model, 1, info.height, info.width, image, labels, NULL, &styles) != SEAN_OK ||
      sean_synthesize(model, 1, info.height, info.width, labels, styles, 0, 1, NULL, out) != SEAN_OK ||
      sean_write_png(argv[4], out, info.height, info.width) != SEAN_OK)
    goto done;
  status = 0;
done:
  if (status) fprintf(stderr, "error: %s\n", sean_last_error());
  sean_styles_free(styles);
  sean_model_close(model);
  free(labels);
  free(image);
  free(out);
  return status;
}
