"""Shared fixtures: tiny configs and checkpoints that every test module can build on (CPU, seconds)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sean_core.command import usable_cpus
from sean_core.files import sha256_file
from tests.helpers import TINY, make_random_model, torch_threads

# Tiny models gain nothing from a second thread, and on a 2-core machine shared with any other busy
# process, 2-thread OpenMP regions in torch ran 45x slower (barrier spinning). Child processes that
# the tests start inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def _contents(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under folder: relative path -> (mode, sha256)."""
    return {
        str(path.relative_to(folder)): (path.lstat().st_mode, sha256_file(path))
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def kept_as_made(request: pytest.FixtureRequest, folder: Path) -> Path:
    """A session fixture's folder, checked at the session's end to hold what it held when made: tests share
    it, so a test that writes into it (instead of a copy) would change what later tests see."""
    made = _contents(folder)

    def check() -> None:
        now = _contents(folder)
        changed = sorted(name for name in made.keys() | now.keys() if made.get(name) != now.get(name))
        assert not changed, f"a test wrote into the shared fixture {folder}: {changed[:10]}; copy it first"

    request.addfinalizer(check)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _single_thread_torch():
    try:
        import torch
    except ImportError:  # runtime-only installs
        return
    torch.set_num_threads(1)

@pytest.fixture(scope="session")
def tiny_config():
    from sean_core.domains import get_domain
    from sean_train.config import ModelConfig

    return ModelConfig(**TINY, class_names=get_domain("shapes").class_names)


@pytest.fixture(scope="session")
def tiny_checkpoint(request, tmp_path_factory, tiny_config) -> Path:
    """A saved checkpoint folder of a random tiny shapes model."""
    from sean_train.checkpoint import save_checkpoint

    directory = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(make_random_model(tiny_config), directory)
    return kept_as_made(request, directory)


@pytest.fixture(scope="session")
def tiny_export_checkpoint(request, tmp_path_factory, tiny_config) -> Path:
    """A tiny checkpoint whose random weights (scale 0.08) keep activations in range, so that two float32
    backends agree to the export tolerance (1e-4). tiny_checkpoint's scale 0.2 saturates the output and
    amplifies float32 rounding to ~1e-2, which no backend could match."""
    from sean_train.checkpoint import save_checkpoint

    directory = tmp_path_factory.mktemp("ckpt") / "tiny-export"
    save_checkpoint(make_random_model(tiny_config, scale=0.08), directory)
    return kept_as_made(request, directory)


@pytest.fixture(scope="session")
def tiny_package(request, tmp_path_factory, tiny_export_checkpoint) -> Path:
    """An fp32 package of the tiny shapes model, exported and validated once per session (about a minute)."""
    from sean_export import export_package

    return kept_as_made(request, export_package(tiny_export_checkpoint, tmp_path_factory.mktemp("pkg") / "tiny",
                                                progress=False))


@pytest.fixture(scope="session")
def tiny_synth(tiny_package):
    """The tiny package loaded on ONNX Runtime, shared by the runtime and CLI tests."""
    from sean_runtime.synthesizer import Synthesizer

    return Synthesizer.load(tiny_package, backend="onnxruntime")


@pytest.fixture(scope="session")
def shapes_package(request, tmp_path_factory) -> Path:
    """The shipped shapes model (sean_core/pretrained/shapes) as an fp32 package, exported once per session."""
    from sean_export import export_package
    from sean_runtime.commands.demo import shipped_checkpoint

    return kept_as_made(request, export_package(shipped_checkpoint("shapes"), tmp_path_factory.mktemp("pkg") / "shapes",
                                                progress=False))


@pytest.fixture(scope="session")
def shapes_samples(request, tmp_path_factory) -> Path:
    """A prepared shapes dataset, 4 test pairs: <root>/test/images/0000N.png, <root>/test/labels/0000N.png."""
    from sean_core.domains import get_domain

    root = tmp_path_factory.mktemp("shapes-data")
    get_domain("shapes").write_split(root, "test", 4, progress=False)
    return kept_as_made(request, root)


@pytest.fixture(scope="session")
def shapes_split(shapes_samples) -> Path:
    """The test split of shapes_samples: test/images/0000N.png, test/labels/0000N.png (N < 4)."""
    return shapes_samples / "test"


@pytest.fixture
def all_threads():
    """Every core for one heavy test of large convolutions (restored after): there the work of each parallel
    region dwarfs its synchronisation, unlike the tiny models that the session's one thread is for."""
    with torch_threads(usable_cpus()):
        yield


@pytest.fixture
def one_thread():
    """Same thread count in and out of process, so float reductions run in the same order."""
    with torch_threads(1):
        yield
