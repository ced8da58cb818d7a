"""Package manifests, file hashes, TensorRT plan checks and backend choice (no real graphs needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sean_core.errors import BackendError, InputError, PackageError
from sean_runtime.backends import select_backend
from sean_runtime.backends.onnxruntime import choose_providers
from sean_runtime.backends.tensorrt import tensorrt_problem
from sean_runtime.package import EMPTY_PACKAGE_PATH, load_package
from sean_runtime.synthesizer import Synthesizer
from tests.helpers import A10, H100, H, N, S, W, symlink_loop, write_package, write_plan


def test_a_valid_package_loads_with_its_facts(tmp_path):
    package = load_package(write_package(tmp_path / "pkg"))
    assert package.class_names == ("a", "b", "c")
    assert (package.height, package.width, package.style_dim, package.noise_numel) == (H, W, S, N)
    assert package.encoder.input_names == ("image", "labels")
    assert package.generator.plan.name == "generator.plan"


def test_missing_folder_manifest_and_broken_json(tmp_path):
    with pytest.raises(PackageError, match="does not exist; create one with `sean export"):
        load_package(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackageError, match=r"manifest\.json is missing"):
        load_package(tmp_path / "empty")
    root = write_package(tmp_path / "pkg")
    (root / "manifest.json").write_text("{ not json")
    with pytest.raises(PackageError, match="not valid JSON"):
        load_package(root)


@pytest.mark.parametrize("root", [None, 3, ["pkg"]])
def test_a_package_folder_given_as_no_path_is_refused_in_one_line(tmp_path, root):
    """None is what os.environ.get gives for an unset variable: a PackageError, not pathlib's TypeError."""
    with pytest.raises(PackageError, match=r"^the package folder must be a path \(str or os.PathLike\), got "):
        load_package(root)
    assert load_package(os.fsencode(write_package(tmp_path / "pkg"))).class_names == ("a", "b", "c")  # as open()


def test_an_empty_package_path_is_refused_not_read_as_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(write_package(tmp_path / "pkg"))  # "" would be this package, loaded without a word
    for empty in ("", b""):
        with pytest.raises(PackageError) as refused:
            load_package(empty)
        assert str(refused.value) == EMPTY_PACKAGE_PATH


def test_a_run_or_checkpoint_folder_is_named_with_the_export_that_makes_a_package(tmp_path):
    # `sean synth runs/NAME` said only that manifest.json was missing
    run = tmp_path / "run"
    (run / "checkpoints" / "step_00000002").mkdir(parents=True)
    expected = rf"{run} is a training run, not a package: export it with `sean export {run} -o PACKAGE`"
    with pytest.raises(PackageError, match=expected):
        load_package(run)
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    with pytest.raises(PackageError, match=rf"{checkpoint} is a model checkpoint, not a package: export it with"):
        load_package(checkpoint)


def test_format_and_version_are_checked(tmp_path):
    with pytest.raises(PackageError, match="not a SEAN package manifest"):
        load_package(write_package(tmp_path / "a", format="something-else"))
    with pytest.raises(PackageError, match="newer than this runtime reads"):
        load_package(write_package(tmp_path / "b", format_version=3))
    with pytest.raises(PackageError, match="2 class_names but num_classes 3"):
        load_package(write_package(tmp_path / "c", class_names=["a", "b"]))


def test_a_region_package_records_its_edge_form(tmp_path):
    """`sean export --edges`: a region package's edge_form, "rows" where a package from before the choice
    has none, None on a dense package; anything else is refused in one line."""
    assert load_package(write_package(tmp_path / "dense")).edge_form is None
    assert load_package(write_package(tmp_path / "old", generator_form="regions")).edge_form == "rows"
    windows = write_package(tmp_path / "new", generator_form="regions", edge_form="windows")
    assert load_package(windows).edge_form == "windows"
    with pytest.raises(PackageError, match=r"edge_form 'pixels' is not one of \('auto', 'rows', 'windows'\)"):
        load_package(write_package(tmp_path / "bad", generator_form="regions", edge_form="pixels"))


@pytest.mark.parametrize(
    "graph, index, field, value, declared",
    [
        ("generator", 2, "name", "z", r"z float32 \['batch', 20\]"),
        ("generator", 1, "shape", ["batch", 3, 5], r"codes float32 \['batch', 3, 5\]"),
        ("encoder", 1, "dtype", "float32", r"labels float32 \['batch', 8, 8\]"),
    ],
)
def test_graph_io_must_be_the_package_interface(tmp_path, graph, index, field, value, declared):
    """Names, dtypes and shapes of every input are compared with what the format defines for the sizes."""
    root = write_package(tmp_path / "pkg")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["graphs"][graph]["inputs"][index][field] = value
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match=rf"graphs\.{graph}: declares .*{declared}.*but a package of these sizes"):
        load_package(root)


def test_a_modified_or_missing_file_fails_the_hash_check(tmp_path):
    root = write_package(tmp_path / "pkg")
    (root / "generator.onnx").write_bytes(b"generator graph, edited")
    with pytest.raises(PackageError, match=r"generator.onnx has sha256 .* the manifest says"):
        load_package(root)
    load_package(root, verify=False)  # opting out of the hash check still loads
    (root / "encoder.onnx").unlink()
    with pytest.raises(PackageError, match=r"encoder\.onnx is missing"):
        load_package(root)


@pytest.mark.parametrize("verify", ["no", "false", 0, None, [False]])
def test_verify_takes_only_true_or_false_not_truthiness(tmp_path, verify):
    """A flag given as anything but a bool (verify="no" is true by truthiness) is refused, in the words of the
    noise flag, before any file is read."""
    root = write_package(tmp_path / "pkg")
    (root / "generator.onnx").write_bytes(b"generator graph, edited")  # verify=True refuses it, False loads it
    for load in (load_package, Synthesizer.load):
        with pytest.raises(InputError, match=r"^verify must be True or False, got ") as caught:
            load(root, verify=verify)
        assert "\n" not in str(caught.value)
    assert load_package(root, verify=np.bool_(False)).num_classes == 3  # numpy's bool is a bool
    with pytest.raises(PackageError, match=r"generator\.onnx has sha256"):
        load_package(root, verify=np.bool_(True))


@pytest.mark.parametrize("verify", [True, False])
def test_symbolic_link_loops_are_one_line_errors_naming_the_file(tmp_path, verify):
    """A graph file, the manifest or the folder itself that is a loop of symbolic links (a RuntimeError
    traceback from Path.resolve before)."""
    root = write_package(tmp_path / "pkg")
    (root / "encoder.onnx").unlink()
    symlink_loop(root / "encoder.onnx")
    with pytest.raises(PackageError, match=r"pkg/encoder\.onnx is a loop of symbolic links") as caught:
        load_package(root, verify=verify)
    assert "\n" not in str(caught.value)
    other = write_package(tmp_path / "other")
    (other / "manifest.json").unlink()
    symlink_loop(other / "manifest.json")
    with pytest.raises(PackageError, match=r"manifest\.json is a loop of symbolic links; re-export it"):
        load_package(other, verify=verify)
    with pytest.raises(PackageError, match=r"package folder .*/looped is a loop of symbolic links"):
        load_package(symlink_loop(tmp_path / "looped"), verify=verify)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_package_set_aside_by_a_killed_export_is_put_back_by_load_package(tmp_path, monkeypatch):
    """An export killed between moving the earlier package aside and moving the new one in (where the
    folders cannot be exchanged in one step) leaves no package; the next load puts the earlier one back."""
    aside = write_package(tmp_path / f".pkg.old.{dead_pid()}.x1")
    live = write_package(tmp_path / f".pkg.old.{os.getpid()}.x2")  # an export still running: not touched
    package = load_package(tmp_path / "pkg")
    assert package.root == tmp_path / "pkg" and package.class_names == ("a", "b", "c")
    assert not aside.exists() and live.exists()

    aside = write_package(tmp_path / f".other.old.{dead_pid()}.x3")

    def refused(out):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("sean_core.files.restore_swapped_out", refused)
    with pytest.raises(PackageError, match=rf"the earlier one set aside in {aside} cannot be moved back "
                                           rf"\(Permission denied\); move it back with `mv {aside} "):
        load_package(tmp_path / "other")


def test_files_outside_the_package_are_refused(tmp_path):
    root = write_package(tmp_path / "pkg")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["graphs"]["encoder"]["file"] = "../encoder.onnx"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PackageError, match="plain names inside the folder"):
        load_package(root)


def test_backend_choice_errors_say_why(tmp_path):
    package = load_package(write_package(tmp_path / "pkg"))
    with pytest.raises(BackendError, match="unknown backend 'cuda'"):
        select_backend(package, "cuda")
    with pytest.raises(BackendError, match="cannot use TensorRT: the package has no TensorRT engines"):
        select_backend(package, "tensorrt")
    with pytest.raises(BackendError, match=r"providers \['NoSuchExecutionProvider'\] are not available"):
        choose_providers(["NoSuchExecutionProvider"])
    providers, _ = choose_providers()
    assert providers[-1] == "CPUExecutionProvider"


def test_a_plan_for_another_gpu_is_refused_by_name(tmp_path, monkeypatch):
    """With engines present, TensorRT importable and a GPU reported, a foreign plan is refused with its reason."""
    import sys
    import types

    root = write_package(tmp_path / "pkg")
    package = load_package(root)
    for graph in ("encoder", "generator"):
        write_plan(package, graph)
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="10.8.0"))
    monkeypatch.setattr("sean_runtime.backends.tensorrt.cudart", lambda: object())
    monkeypatch.setattr("sean_runtime.backends.tensorrt.cuda_gpus", lambda: (A10,))
    with pytest.raises(BackendError, match=r"cannot use TensorRT: encoder.plan was built for NVIDIA H100.*NVIDIA A10"):
        select_backend(package, "tensorrt")
    monkeypatch.setattr("sean_runtime.backends.tensorrt.cuda_gpus", lambda: (H100,))
    assert tensorrt_problem(package) is None
    (root / "generator.plan").write_bytes(b"plan, damaged")
    assert "generator.plan does not match the sha256 in generator.plan.json" in tensorrt_problem(package)


def test_without_engines_tensorrt_says_how_to_build_them(tmp_path):
    assert "no TensorRT engines" in tensorrt_problem(load_package(write_package(tmp_path / "pkg")))
