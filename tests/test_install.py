"""Installs as a newcomer makes them: a wheel built from a clean copy of the checkout, installed into fresh
virtual environments, used from a directory that is not the checkout.

- the wheel builds without setuptools warnings and ships the configs and the pretrained models;
- with every extra, the README's first-hour commands work as written from any directory (`sean demo` writes
  every picture of the shipped landscapes model in under two minutes);
- serving only (`[runtime]`, no torch), every command either works or fails with one line that names the
  extra and a pip command that works for this installation; `sean bench PKG` times the runtime rows;
- `scripts/demo.sh` prints progress and errors only.

Each step has a time limit; the whole module takes a few minutes (most of it installing torch from pip's
cache). The environments live in pytest's temporary folders, never in the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from sean_core.cli import all_commands
from sean_core.domains import get_domain
from sean_core.imageio import read_rgb, write_png
from tests.helpers import DEMO_OUTPUTS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
INSTALL_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 600
# Copied from the checkout besides what git tracks: nothing (a fresh clone has only tracked files).
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "runs", "packages",
                                 "demo-out", ".pytest_cache", ".ruff_cache")

# The README's first hour, as written (train runs a tiny variant of the shipped shapes config).
DEMO = "sean demo -o demo-out"
DEMO_SYNTH = ("sean synth demo-out/package --label demo-out/inputs/test/labels/00.png "
              "--style demo-out/inputs/test/images/00.png --swap sky=demo-out/inputs/test/images/02.png "
              "-o demo-out/synth_sky.png --force")
DEMO_SERVE = "sean serve demo-out/package --samples demo-out/inputs"
TRAIN = "sean train --config shapes --out runs/shapes --threads 1"
EVAL = "sean eval runs/shapes"
OWN_DEMO = "sean demo --checkpoint runs/shapes -o demo-shapes"
EXPORT = "sean export runs/shapes -o packages/my-shapes"
SYNTH = ("sean synth packages/my-shapes --label demo-shapes/inputs/test/labels/00.png "
         "--style demo-shapes/inputs/test/images/00.png -o out.png")


def run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = COMMAND_TIMEOUT_S
) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH into the checkout, the venv's bin first on PATH, and
    Python writing the bytecode of what it imports (make_venv leaves that to the first import)."""
    unset = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def fresh_clone(dest: Path) -> Path:
    """The files a fresh clone has: git's tracked files when this is a git checkout, else the tree without
    build outputs and environments."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True)
    if listed.returncode != 0:
        return Path(shutil.copytree(ROOT, dest, symlinks=True, ignore=IGNORED))
    for name in filter(None, listed.stdout.split("\0")):
        source, target = ROOT / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return dest


def make_venv(path: Path, requirement: str, constraints: Path) -> Path:
    """A new virtual environment with `requirement` installed (CPU torch through the constraints file).

    --no-compile: pip would byte-compile every file of torch and the rest (a minute on 2 cores); the commands
    compile what they import, once (clean_env)."""
    done = run([sys.executable, "-m", "venv", str(path)], path.parent, clean_env(), INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-qq", "--no-compile", "-c", str(constraints),
           requirement]
    done = run(pip, path.parent, clean_env(), INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return path


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return fresh_clone(tmp_path_factory.mktemp("clone") / "sean-deploy")


@pytest.fixture(scope="module")
def built(clone, tmp_path_factory) -> tuple[Path, str]:
    """(the wheel, pip's verbose build output): built offline with the setuptools of this environment."""
    dist = tmp_path_factory.mktemp("dist")
    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w", str(dist),
            str(clone)]
    done = run(args, dist, clean_env(), INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = dist.glob("sean_deploy-*.whl")
    return wheel, done.stdout + done.stderr


@pytest.fixture(scope="module")
def full_venv(built, clone) -> Path:
    """The wheel with every extra, in the clone's .venv (where scripts/demo.sh looks; the wheel install is
    used from elsewhere until the last test turns it into the script's editable install)."""
    # The README's CPU install (its extras).
    return make_venv(clone / ".venv", f"{built[0]}[train,export,runtime,serve]", clone / "constraints" / "cpu.txt")


@pytest.fixture(scope="module")
def runtime_venv(built, clone, tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("serving") / "venv", f"{built[0]}[runtime]",
                     clone / "constraints" / "cpu.txt")


def test_the_wheel_builds_without_setuptools_warnings_and_ships_configs_and_the_model(built):
    import zipfile

    wheel, output = built
    for warning in ("BuildBackendWarning", "SetuptoolsDeprecationWarning", "SetuptoolsWarning"):
        assert warning not in output, output
    names = set(zipfile.ZipFile(wheel).namelist())
    for config in (ROOT / "configs").glob("*.yaml"):
        assert f"sean_core/configs/{config.name}" in names
    for part in ("config.json", "model.safetensors"):
        for model in ("landscapes", "shapes"):
            assert f"sean_core/pretrained/{model}/{part}" in names


def test_readme_first_hour_works_from_any_directory_after_a_wheel_install(full_venv, tmp_path):
    env = clean_env(full_venv)
    home = tmp_path / "somewhere"
    home.mkdir()
    for command in (DEMO, DEMO_SYNTH, DEMO_SERVE, TRAIN, EVAL, OWN_DEMO, EXPORT, SYNTH):
        assert command in README, f"the README no longer says: {command}"

    start = time.perf_counter()
    demo = run(shlex.split(DEMO), home, env)
    seconds = time.perf_counter() - start
    assert demo.returncode == 0, demo.stdout + demo.stderr
    printed = [line.strip() for line in demo.stdout.strip().splitlines()]
    assert printed[-1] == DEMO_SERVE and DEMO_SYNTH in printed  # the commands the demo ends with
    for name in (*DEMO_OUTPUTS, "swaps/sky.png", "swaps/grass.png", "swaps/sky+grass.png"):  # the landscapes model
        assert (home / "demo-out" / name).is_file(), name
    assert json.loads((home / "demo-out" / "package" / "manifest.json").read_text())["domain"] == "landscapes"
    assert read_rgb(home / "demo-out" / "reconstructions" / "00.png").shape[0] > 2 * 128  # 128² images, zoomed
    assert seconds < 120, f"sean demo took {seconds:.0f} s"

    # The editor the demo points to: the README's install has `sean serve` (its command, on a free port).
    server = subprocess.Popen([*shlex.split(DEMO_SERVE), "--port", "0"], cwd=home, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = server.stdout.readline()
        url = re.search(r"http://\S+", ready)
        assert url, ready + server.stderr.read()
        with urllib.request.urlopen(url.group(0).rstrip("/") + "/v1/info", timeout=60) as answer:
            assert json.loads(answer.read())["domain"] == "landscapes"
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0

    # Train a few steps of the shipped config: found by name in the installed package, made tiny.
    find = [str(full_venv / "bin" / "python"), "-c",
            "from sean_core.shipped import find_config; print(find_config('shapes'))"]
    shipped = Path(run(find, home, env).stdout.strip())
    assert shipped.is_relative_to(full_venv), shipped
    tiny = yaml.safe_load(shipped.read_text())
    tiny["train"].update(epochs=1, epochs_decay=0, synthetic_train_size=16, checkpoint_every=1, sample_every=1,
                         val_samples=4)
    (home / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    steps = {
        "train": TRAIN.replace("--config shapes", "--config tiny.yaml"),
        "eval": f"{EVAL} --limit 16",  # the whole generated test split (200 images) takes 20 s here
        "own demo": OWN_DEMO,  # the tiny run's latest checkpoint, whatever step it stopped at
        "export": EXPORT,
        "demo synth": DEMO_SYNTH,
        "synth": SYNTH,
    }
    for name, command in steps.items():
        done = run(shlex.split(command), home, env)
        assert done.returncode == 0, f"{name}: {command}\n{done.stdout}\n{done.stderr}"
    assert (home / "runs" / "shapes" / "eval_test.json").is_file()
    assert (home / "packages" / "my-shapes" / "manifest.json").is_file()
    assert (home / "demo-out" / "synth_sky.png").is_file() and (home / "out.png").is_file()
    assert json.loads((home / "demo-shapes" / "package" / "manifest.json").read_text())["domain"] == "shapes"


def serving_inputs(folder: Path) -> tuple[Path, Path]:
    image, labels = get_domain("shapes").sample(0, "test")
    return (write_png(folder / "images" / "00.png", image),
            write_png(folder / "labels" / "00.png", labels.astype(np.uint8)))


def test_serving_only_install_every_command_works_or_says_in_one_line_what_to_install(
    runtime_venv, built, tiny_package, tmp_path
):
    env = clean_env(runtime_venv)
    sean = str(runtime_venv / "bin" / "sean")
    style, label = serving_inputs(tmp_path)
    (tmp_path / "raw").mkdir()
    package = str(tiny_package)
    needs = {  # command -> (arguments, the extra its one-line error names)
        "demo": (["-o", "demo-out"], "export"),
        "train": (["--config", "shapes", "--out", "runs/x"], "train"),
        "eval": (["shapes"], "train"),
        "publish": (["shapes", "-o", "models/x"], "train"),
        "convert-official": (["latest_net_G.pth", "-o", "models/x"], "train"),
        "export": (["shapes", "-o", "packages/x"], "export"),
        "build-engine": ([package], "tensorrt"),
        "bf16-check": (["shapes"], "train"),
        "serve": ([package, "--port", "0"], "serve"),
        "export-triton": ([package, "-o", "repo"], "triton"),
        "triton": (["repo"], "triton"),
        "gpu-check": (["--device", "cpu", "--tiny", "--out", "gpu-out"], "train"),
    }
    works = {
        "synth": [package, "--label", str(label), "--style", str(style), "-o", "out.png"],
        "bench": [package, "--batch-sizes", "1", "--repeats", "1", "--classes", "", "--workdir", "bench"],
        "domains": [],
        "inspect": [package],  # a package is read from its manifest, without torch
        "prepare": ["faces", "raw", "-o", "prepared"],  # not a dataset: a plain one-line error, not a missing extra
        "bench-serve": ["http://127.0.0.1:9", "--requests", "1"],  # the client is stdlib: no server, one line
    }
    assert set(needs) | set(works) == set(all_commands()), "a new command needs a row here"
    for name, (args, extra) in needs.items():
        done = run([sean, name, *args], tmp_path, env)
        assert done.returncode == 1, f"{name}: {done.stdout}{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("Error: ") and f"(the '{extra}' extra), which is not installed: " in line
        assert f"-m pip install '{built[0]}[{extra}]'" in line, line  # the wheel this install came from
        helped = run([sean, name, "--help"], tmp_path, env)  # the help, or the same one line
        assert helped.returncode == 0 or helped.stderr.strip().splitlines() == [line]
    outputs = {}
    for name, args in works.items():
        done = run([sean, name, *args], tmp_path, env)
        assert "Traceback" not in done.stdout + done.stderr, name
        outputs[name] = done.stdout
        if name == "prepare":
            (line,) = done.stderr.strip().splitlines()
            assert done.returncode == 1 and line.startswith("Error: raw is not a dataset of the faces domain")
        elif name == "bench-serve":
            (line,) = done.stderr.strip().splitlines()
            assert done.returncode == 1 and line.startswith("Error: ") and "127.0.0.1:9" in line, line
        else:
            assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
    bench = outputs["bench"]
    assert "ONNX Runtime CPU fp32" in bench.split("\n\n")[1]  # timed: a row of the main table
    assert "give --checkpoint CKPT for the PyTorch and official rows" in bench  # a package alone: its own rows
    # The printed command works: the [runtime] one is already satisfied here, so it runs in seconds.
    hint = run([str(runtime_venv / "bin" / "python"), "-c",
                "from sean_core.install import install_command; print(install_command('runtime'))"], tmp_path, env)
    done = subprocess.run(hint.stdout.strip(), shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT_S)
    assert done.returncode == 0, hint.stdout + done.stdout + done.stderr


def test_demo_script_prints_only_progress(full_venv, clone):
    """scripts/demo.sh in the fresh clone whose .venv already holds the dependencies (the full install above):
    pip's warnings and setuptools' notes stay quiet; what is printed is progress and the demo's report.
    The last test of the module: the script turns the wheel install into its editable one. Its options go
    to `sean demo` (here the shapes model, the quicker one: the first-hour test runs the default demo)."""
    done = run(["bash", "scripts/demo.sh", "--checkpoint", "shapes"], clone, clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("setting up .venv")
    for word in ("warning", "deprecat", "!!"):
        assert word not in done.stderr.lower() and word not in done.stdout.lower(), done.stdout + done.stderr
    printed = [line.strip() for line in done.stdout.strip().splitlines()]
    assert printed[-2] == DEMO_SERVE  # the demo's closing command, then how to reach `sean` in this shell
    assert printed[-1] == "(the sean commands above run in .venv: '. .venv/bin/activate' first, in this shell)"
    assert any(line.startswith("sean synth demo-out/package") and "--swap blob=" in line for line in printed)
