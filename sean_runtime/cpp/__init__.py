"""The C++ runtime: CMake sources beside this file, and `binding`, a ctypes view of its C API for the
tests and benchmarks that compare it with the Python runtime (numpy only; no build happens on import)."""
