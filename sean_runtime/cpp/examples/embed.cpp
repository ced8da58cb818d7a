// Embedding SEAN in a C++ application: reconstruct an image, then give one of its classes another image's style.
//   embed PACKAGE IMAGE.png LABEL.png OTHER.png OTHER_LABEL.png CLASS OUT.png
#include <iostream>

#include "sean/sean.hpp"

int main(int argc, char** argv) {
  if (argc != 8) return std::cerr << "usage: embed PACKAGE IMAGE LABEL OTHER OTHER_LABEL CLASS OUT.png\n", 2;
  try {
    const sean::Model model = sean::Model::open(argv[1]);
    const sean::Styles own = model.encode_files(argv[2], argv[3]);
    const sean::Styles edited = own.swap({argv[6]}, model.encode_files(argv[4], argv[5]));
    const std::vector<uint8_t> rgb = model.synthesize(model.read_labels(argv[3]), edited, /*seed=*/0);
    sean::write_png(argv[7], rgb, model.info().height, model.info().width);
  } catch (const sean::Error& error) {
    return std::cerr << "error: " << error.what() << "\n", 1;
  }
}
