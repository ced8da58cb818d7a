"""The interpreter Triton's Python models run in: a virtual environment made once, checked each start.

Triton's Python backend runs each model in `triton_python_backend_stub`, which embeds the Python
first on PATH. The stub that nvidia-pytriton ships is built for numpy 1.x (with numpy 2 every output
fails: "output tensor shape does not match size of output"), so the models get an environment of
their own: numpy < 2, an opencv-python-headless built for it (< 4.12), ONNX Runtime, OpenVINO, nvidia-pytriton
(the tritonserver binary, its Python backend and one stub per Python version), this project's other
dependencies, and this project installed without dependencies from where the running one came from
(editable checkouts stay editable, so the models run the code of the checkout).

It lives in the user's cache folder (SEAN_TRITON_ENV overrides), one per project version, Python
version, project source and requirement list, and is built in a work folder that is renamed into place when complete,
under a lock, so concurrent starts build it once. Building it downloads about 210 MB from PyPI
(bounded by BUILD_TIMEOUT_S); later starts only check it (one interpreter start).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sean_core.errors import BackendError
from sean_core.files import atomic_write_json, file_lock, make_dirs
from sean_core.install import DISTRIBUTION, _source

ENV_VARIABLE = "SEAN_TRITON_ENV"
BUILD_TIMEOUT_S = 900
CHECK_TIMEOUT_S = 120
MARKER = "sean-triton-env.json"
# Pinned for the backend stub (module docstring); the rest of the project's dependencies come from its metadata.
PINNED = {"numpy": "numpy>=1.24,<2", "opencv-python-headless": "opencv-python-headless>=4.8,<4.12"}
# What the Python graph models run the package with: ONNX Runtime, or OpenVINO for a reduced precision.
RUNTIME_REQUIREMENTS = ("onnxruntime>=1.18", "openvino>=2024.0")
SERVER_REQUIREMENT = "nvidia-pytriton>=0.7"  # tritonserver, its Python backend and stubs (not in NVIDIA's container)
STUB = "triton_python_backend_stub"
# Run by the environment's interpreter: what it has, as JSON.
PROBE = (
    "import json, os, sys, numpy, cv2, onnxruntime, pytriton, sean_runtime.triton.interface;"
    "print(json.dumps({'numpy': numpy.__version__, 'python': '%d.%d' % sys.version_info[:2],"
    "'tritonserver': os.path.join(os.path.dirname(pytriton.__file__), 'tritonserver')}))"
)


@dataclass(frozen=True)
class ServerEnvironment:
    root: Path  # the virtual environment
    tritonserver: Path  # nvidia-pytriton's tritonserver folder (bin/, backends/)

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def binary(self) -> Path:
        return self.tritonserver / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.tritonserver / "backends"

    def process_env(self) -> dict[str, str]:
        """The server's environment: this interpreter first on PATH (the stub embeds it), no outside PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.root)
        return env


def project_source() -> tuple[str, str]:
    """(how, where) this project is installed from: ("editable", checkout), ("folder" | "wheel", path)."""
    source = _source()
    if source is not None:
        return source[0], str(source[1])
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return "editable", str(checkout)
    raise BackendError(
        f"cannot tell where {DISTRIBUTION} was installed from, so Triton's Python models cannot get it; "
        f"install it with pip (a wheel, a folder or `pip install -e` of a checkout) or set {ENV_VARIABLE} to a "
        f"prepared environment"
    )


def model_requirements() -> list[str]:
    """What the Python models import: the project's own requirements (numpy and OpenCV pinned below 2 /
    4.12), ONNX Runtime and OpenVINO. NVIDIA's container needs these too (the repository's README)."""
    found = []
    for requirement in metadata.requires(DISTRIBUTION) or []:
        if "extra ==" in requirement:
            continue
        name = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower()
        found.append(PINNED.get(name, requirement))
    return [*found, *RUNTIME_REQUIREMENTS]


def requirements() -> list[str]:
    """The environment's requirements: the models' and the server's."""
    return [*model_requirements(), SERVER_REQUIREMENT]


def default_location() -> Path:
    if os.environ.get(ENV_VARIABLE):
        return Path(os.environ[ENV_VARIABLE])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    kind, where = project_source()
    # A new source, interpreter or requirement list is a new environment (a stale one would miss a module).
    key = hashlib.sha256(f"{kind}:{where}:{sys.executable}:{requirements()}".encode()).hexdigest()[:10]
    version = metadata.version(DISTRIBUTION)
    return cache / DISTRIBUTION / f"triton-env-{version}-py{sys.version_info[0]}.{sys.version_info[1]}-{key}"


PREPARED = f"or pass `sean triton --env DIR` (or set {ENV_VARIABLE}) of an environment prepared elsewhere"


def _run(args: list[str], what: str, timeout: float, fix: str = "") -> str:
    """The command's output; BackendError with the end of its messages (and `fix`) when it fails."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"{what} took over {timeout:.0f} s{'; ' + fix if fix else ''}") from exc
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).split()[-40:])
        raise BackendError(f"{what} failed: {tail}{'; ' + fix if fix else ''}")
    return done.stdout


def _build(target: Path, log: callable) -> None:
    """A fresh virtual environment at `target` with the requirements and this project (no dependencies)."""
    shutil.rmtree(target, ignore_errors=True)
    _run([sys.executable, "-m", "venv", "--without-pip", str(target)], "creating the Triton model environment", 120)
    pip = [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install", "--quiet",
           "--disable-pip-version-check"]
    log(f"installing {', '.join(requirements())} into {target} (once) ...")
    network = f"PyPI must be reachable for the first `sean triton`, {PREPARED}"
    _run([*pip, *requirements()], "installing the Triton model environment's packages", BUILD_TIMEOUT_S, network)
    kind, where = project_source()
    log(f"installing {DISTRIBUTION} ({kind} {where}) without dependencies ...")
    _run([*pip, "--no-deps", *(["-e"] if kind == "editable" else []), where],
         f"installing {DISTRIBUTION} into the Triton model environment", BUILD_TIMEOUT_S, network)


def _check(root: Path) -> ServerEnvironment:
    """What the environment has, with the stub of its Python in place; BackendError says what is wrong."""
    python = root / "bin" / "python"
    if not python.exists():
        raise BackendError(f"{root} is not a virtual environment (no bin/python)")
    facts = json.loads(_run([str(python), "-c", PROBE], f"checking the Triton model environment {root}",
                            CHECK_TIMEOUT_S).strip().splitlines()[-1])
    if int(facts["numpy"].split(".")[0]) >= 2:
        raise BackendError(
            f"{root} has numpy {facts['numpy']}; Triton's Python backend stub needs numpy < 2 "
            f"(remove the folder and let `sean triton` build it again)"
        )
    env = ServerEnvironment(root, Path(facts["tritonserver"]))
    stub = env.backends / "python" / STUB
    if not stub.is_file():
        shipped = env.tritonserver / "python_backend_stubs" / facts["python"] / STUB
        if not shipped.is_file():
            raise BackendError(f"nvidia-pytriton ships no Python backend stub for Python {facts['python']}")
        shutil.copy2(shipped, stub)  # the same folder depth, so its RUNPATH still finds nvidia_pytriton.libs
    if not env.binary.is_file():
        raise BackendError(f"{env.binary} is missing; nvidia-pytriton in {root} is incomplete")
    missing = [line.split()[0] for line in _run(["ldd", str(stub)], "checking the stub", 30).splitlines()
               if "not found" in line]
    if missing:
        raise BackendError(
            f"Triton's Python backend stub needs {', '.join(missing)}, which this machine lacks "
            f"(Debian/Ubuntu: apt-get install libpython{facts['python']})"
        )
    return env


def server_environment(location: Path | None = None, log: callable = print) -> ServerEnvironment:
    """The checked environment, built first when it does not exist (see the module docstring)."""
    root = Path(location) if location is not None else default_location()
    if (root / MARKER).is_file():
        return _check(root)
    if location is not None or os.environ.get(ENV_VARIABLE):
        if (root / "bin" / "python").exists():
            return _check(root)  # a prepared environment that `sean triton` did not build
    make_dirs(root.parent)
    with file_lock(root.parent / f".{root.name}.lock", f"another `sean triton` is building {root}", wait=True):
        if (root / MARKER).is_file():
            return _check(root)
        work = root.parent / f".{root.name}.build-{os.getpid()}"
        try:
            _build(work, log)
            _check(work)
            atomic_write_json(work / MARKER, {"requirements": requirements(), "source": list(project_source())})
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        shutil.rmtree(root, ignore_errors=True)
        work.rename(root)
    return _check(root)
