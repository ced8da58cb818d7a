// Linked into every executable of a sanitizer build (SEAN_SANITIZE), never into the library. TBB,
// inside OpenVINO, dlopens libtbbbind with RTLD_DEEPBIND, which AddressSanitizer refuses and dies on
// (https://github.com/google/sanitizers/issues/611). The executable's own dlopen comes first in symbol
// lookup, so this one drops the flag and passes the call on; tbbbind then binds to the process's
// libraries, which are the same ones.
#include <dlfcn.h>

extern "C" __attribute__((visibility("default"))) void* dlopen(const char* file, int mode) {
  using Open = void* (*)(const char*, int);
  static const Open next = reinterpret_cast<Open>(dlsym(RTLD_NEXT, "dlopen"));
  return next(file, mode & ~RTLD_DEEPBIND);
}
