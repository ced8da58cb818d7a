"""The dependency picture of docs/architecture.md, checked on the source: every first-party import points
down the layers, no module names a layer above it in a string either (a "module:attribute" target, a
package name looked up at run time), torch and onnx never reach the base or the runtime, the module
graph has no cycle, and the runtime reaches the concrete domain plugins only through their entry points."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Package -> (folder, layer). A module may import its own layer and the layers below it.
PACKAGES = {
    "sean_core": (ROOT / "sean_core", 0),
    "sean_runtime": (ROOT / "sean_runtime", 1),
    "sean_domains": (ROOT / "plugins" / "sean_domains", 2),
    "sean_train": (ROOT / "sean_train", 3),
    "sean_export": (ROOT / "sean_export", 4),
    "sean_tools": (ROOT / "sean_tools", 5),
}
NEVER_IN_RUNTIME = {"torch", "onnx", "onnxscript", "safetensors", "sean_train", "sean_export", "sean_tools"}
TORCH_FREE = ("sean_core", "sean_runtime")
# A string that names a first-party module: "sean_train", "sean_train.commands.train:train", ...
NAMED_MODULE = re.compile(r"^(sean_[a-z]+)(\.[a-z_][a-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?$")


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement of a file. The imports of a module-level
    `if TYPE_CHECKING:` count as module level: a cycle through a type is still two modules that need each other."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            top |= {id(child) for child in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import name` may import a submodule pkg.name; count both.
            found.append((node.module, id(node) in top))
            found += [(f"{node.module}.{alias.name}", id(node) in top) for alias in node.names]
    return found


def named_modules(path: Path) -> list[str]:
    """Every string constant of a file that is a first-party module name or "module:attribute" target."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = NAMED_MODULE.match(node.value)
            if match and match.group(1) in PACKAGES:
                found.append(node.value)
    return found


def source_modules() -> dict[str, tuple[str, Path]]:
    """module name -> (package, file) for every first-party module."""
    modules = {}
    for package, (folder, _) in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            modules[module_name(package, folder, path)] = (package, path)
    return modules


def test_every_import_points_down_the_layers():
    wrong = []
    for name, (package, path) in source_modules().items():
        for target, _ in imports(path):
            root = target.split(".")[0]
            if root in PACKAGES and PACKAGES[root][1] > PACKAGES[package][1]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "imports that point up the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_no_module_names_a_layer_above_it_in_a_string():
    wrong = []
    for name, (package, path) in source_modules().items():
        for target in named_modules(path):
            root = target.split(".")[0].split(":")[0]
            if PACKAGES[root][1] > PACKAGES[package][1]:
                wrong.append(f"{name} names {target!r}")
    assert not wrong, "strings that name a layer above their module:\n" + "\n".join(wrong)


def test_the_string_check_sees_a_command_target():
    """The check above reads the strings it must: a "module:attribute" target and a bare package name."""
    assert NAMED_MODULE.match("sean_train.commands.train:train")
    assert NAMED_MODULE.match("sean_train")
    assert not NAMED_MODULE.match("sean_train is a package")
    assert "sean_train.commands.train:train" in named_modules(ROOT / "sean_train" / "subcommands.py")


def test_torch_and_the_training_layers_never_reach_the_base_or_the_runtime():
    wrong = []
    for name, (package, path) in source_modules().items():
        if package in TORCH_FREE:
            wrong += [f"{name} imports {t}" for t, _ in imports(path) if t.split(".")[0] in NEVER_IN_RUNTIME]
    assert not wrong, "\n".join(wrong)


def cycles(graph: dict[str, list[str]]) -> list[str]:
    """Every cycle a depth-first walk of the module graph finds, as "a -> b -> a"."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                found.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    return found


def test_the_module_import_graph_has_no_cycle():
    modules = source_modules()
    graph = {
        name: sorted({t for t, at_top in imports(path) if at_top and t in modules and t != name})
        for name, (_, path) in modules.items()
    }
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(found)


def test_no_import_inside_a_function_closes_a_cycle():
    """An import inside a function is a dependency too: two modules that import each other, one of them in a
    function, need each other all the same. The one exception is a package reaching its own submodules (a
    backend's package loading a backend on demand), which import the package's names back."""
    modules = source_modules()
    graph = {
        name: sorted({t for t, _ in imports(path) if t in modules and t != name and not t.startswith(name + ".")})
        for name, (_, path) in modules.items()
    }
    found = cycles(graph)
    assert not found, "import cycles through an import inside a function:\n" + "\n".join(found)


def passes_in_a_fresh_interpreter(code: str) -> None:
    """Run `code` in a new Python (nothing imported yet, as a user's program starts) and fail with its stderr."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_the_runtime_loads_no_domain_plugin_until_one_is_asked_for():
    """The whole runtime imports without sean_domains; get_domain reaches it through its entry point."""
    code = (
        "import sys\n"
        "import sean_runtime, sean_runtime.synthesizer, sean_runtime.inputs, sean_runtime.package\n"
        "import sean_core.domains, sean_core.cli, sean_runtime.commands.synth, sean_runtime.commands.demo\n"
        "from sean_runtime import Synthesizer, Styles, load_package, SeanError\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'sean_domains', 'torch', 'sean_train'})\n"
        "assert not loaded, loaded\n"
        "from sean_core.domains import get_domain\n"
        "assert get_domain('shapes').num_classes == 8\n"
        "assert 'sean_domains.shapes' in sys.modules and 'torch' not in sys.modules\n"
    )
    passes_in_a_fresh_interpreter(code)


def test_the_package_roots_list_their_lazy_public_names_for_dir_and_help():
    """dir(), tab completion and help() see the public API of a lazy root; listing it imports no torch."""
    code = (
        "import pydoc, sys\n"
        "import sean_export, sean_runtime, sean_train\n"
        "for root in (sean_export, sean_runtime, sean_train):\n"
        "    assert set(root.__all__) <= set(dir(root)), (root.__name__, dir(root))\n"
        "assert 'class Synthesizer' in pydoc.render_doc(sean_runtime, renderer=pydoc.plaintext)\n"
        "assert 'torch' not in sys.modules\n"
    )
    passes_in_a_fresh_interpreter(code)
