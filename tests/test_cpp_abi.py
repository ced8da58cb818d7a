"""The C++ runtime's stable C ABI (issue 30 item 5): installed as a CMake package, found with
find_package(sean), exporting C functions only (the C++ API is header-only over them), with status
returns the compiler will not let a caller ignore."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from sean_core.domains import get_domain
from sean_core.imageio import write_png
from sean_runtime.cpp.binding import SOURCE
from tests.test_cpp_runtime import cmake_build


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The Release build installed into a fresh prefix with `cmake --install`."""
    build = cmake_build("pytest-release", "-DCMAKE_BUILD_TYPE=Release")
    prefix = tmp_path_factory.mktemp("prefix")
    run = subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return prefix


@pytest.fixture(scope="module")
def package(shapes_package) -> Path:
    """The session's shipped shapes model (tests/conftest.py), shared with the other modules: never written
    into, only read by the examples."""
    return shapes_package


@pytest.mark.slow
def test_the_installed_package_builds_the_examples_through_find_package(installed, package, tmp_path):
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "CMakeLists.txt").write_text(textwrap.dedent(f"""\
        cmake_minimum_required(VERSION 3.18)
        project(consumer LANGUAGES C CXX)
        find_package(sean 0.1 REQUIRED)
        add_executable(embed_c {SOURCE / "examples" / "embed.c"})
        target_link_libraries(embed_c PRIVATE sean::sean)
        add_executable(embed {SOURCE / "examples" / "embed.cpp"})
        target_link_libraries(embed PRIVATE sean::sean)
        set_target_properties(embed PROPERTIES CXX_STANDARD 17)
        """))
    build = tmp_path / "build"
    for command in (["cmake", "-S", str(consumer), "-B", str(build), f"-DCMAKE_PREFIX_PATH={installed}"],
                    ["cmake", "--build", str(build), "-j", "2"]):
        run = subprocess.run(command, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # The consumer links the installed library, not the build tree's.
    linked = subprocess.run(["ldd", str(build / "embed_c")], capture_output=True, text=True).stdout
    assert str(installed) in linked, linked

    shapes = get_domain("shapes")
    image, labels = shapes.sample(0, "test")
    other_image, other_labels = shapes.sample(3, "test")
    for name, array in (("a.png", image), ("a_label.png", labels.astype(np.uint8)), ("b.png", other_image),
                        ("b_label.png", other_labels.astype(np.uint8))):
        write_png(tmp_path / name, array)
    run = subprocess.run([str(build / "embed_c"), str(package), str(tmp_path / "a.png"), str(tmp_path / "a_label.png"),
                          str(tmp_path / "c.png")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    run = subprocess.run([str(build / "embed"), str(package), *(str(tmp_path / n) for n in (
        "a.png", "a_label.png", "b.png", "b_label.png")), "blob", str(tmp_path / "cpp.png")],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    reconstruction, edited = cv2.imread(str(tmp_path / "c.png")), cv2.imread(str(tmp_path / "cpp.png"))
    assert reconstruction.shape == edited.shape == (64, 64, 3)
    assert not np.array_equal(reconstruction, edited)  # the C++ example swapped the blob's style


@pytest.mark.slow
def test_the_library_exports_only_the_c_api(installed):
    library = next((installed / "lib").glob("libsean.so.*.*"))
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
                             check=True).stdout.split()
    exported = sorted({s for s in symbols if s.startswith(("sean_", "_Z"))})
    assert exported and all(s.startswith("sean_") for s in exported), [s for s in exported if s.startswith("_Z")]
    header = (installed / "include" / "sean" / "sean.h").read_text()
    for name in exported:  # every export is declared in the C header
        assert f" {name}(" in header, name


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (apt-get install gcc)")
def test_ignoring_a_status_is_a_compiler_warning(tmp_path):
    """sean.h alone (no build): a status ignored is a warn_unused_result warning, a status checked is not."""
    source = tmp_path / "ignore.c"

    def compiles(body: str) -> subprocess.CompletedProcess:
        source.write_text('#include "sean/sean.h"\nint main(void) {\n  sean_model* m = 0;\n' + body + "\n}\n")
        return subprocess.run(["cc", "-c", "-o", os.devnull, "-Werror=unused-result", f"-I{SOURCE / 'include'}",
                               str(source)], capture_output=True, text=True)

    ignored = compiles('  sean_model_open("pkg", 0, &m);\n  return 0;')
    assert ignored.returncode != 0 and "unused" in ignored.stderr, ignored.stderr
    checked = compiles('  if (sean_model_open("pkg", 0, &m) != SEAN_OK) return 1;\n  return SEAN_API_VERSION - 1;')
    assert checked.returncode == 0, checked.stderr


def test_the_readme_names_every_build_option():
    """Every option and cache setting of CMakeLists.txt is named in the C++ README (three of five were not)."""
    cmake = (SOURCE / "CMakeLists.txt").read_text()
    options = [a or b for a, b in re.findall(r"^\s*option\((SEAN_\w+)|^\s*set\((SEAN_\w+)[^\n]*\bCACHE\b", cmake,
                                               re.MULTILINE)]
    assert len(options) >= 5, options  # the five of this release at least
    readme = (SOURCE / "README.md").read_text()
    assert [name for name in options if f"`{name}`" not in readme] == []
