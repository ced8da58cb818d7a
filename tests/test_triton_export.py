"""`sean export-triton`: the repository of every backend, its configs read back with tritonclient's
model_config_pb2 (the schema Triton reads) and compared with the package manifest, refusals in one line."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.cpu import cpu_flags, has_bf16_units
from sean_core.errors import PackageError
from sean_runtime.package import load_package
from sean_runtime.triton.interface import graph_precision
from sean_runtime.triton.repository import check_repository_package, export_repository, read_repository
from sean_runtime.triton.settings import RepositorySettings
from tests.helpers import A10, H100, OPENVINO_MISSING, write_package, write_plan

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="needs the 'triton' extra")
text_format = pytest.importorskip("google.protobuf.text_format")

REPO = Path(__file__).resolve().parents[1]
TYPES = {"float32": "TYPE_FP32", "int32": "TYPE_INT32"}
MODELS = ("sean", "sean_encoder", "sean_generator", "sean_noise", "sean_reconstruct")


def read_config(repo: Path, model: str):
    return text_format.Parse((repo / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def io(tensors) -> list[tuple]:
    return [(t.name, model_config_pb2.DataType.Name(t.data_type), list(t.dims)) for t in tensors]


def manifest_io(manifest: dict, graph: str, kind: str) -> list[tuple]:
    """The manifest's tensors of a graph as Triton declares them: the batch axis left to max_batch_size."""
    entries = manifest["graphs"][graph][kind]
    assert all(e["shape"][0] == "batch" for e in entries)
    return [(e["name"], TYPES[e["dtype"]], e["shape"][1:]) for e in entries]


def export(package: Path, out: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["export-triton", str(package), "-o", str(out), *args])


pytestmark = pytest.mark.slow  # the shipped model's package is exported once per session (shapes_package)


def test_python_repository_matches_the_manifest(shapes_package, tmp_path):
    repo = tmp_path / "repo"
    done = export(shapes_package, repo, "--max-batch", "4", "--instances", "2", "--max-queue-delay-us", "500")
    assert done.exit_code == 0, done.output
    manifest = json.loads((shapes_package / "manifest.json").read_text())
    assert sorted(p.name for p in repo.iterdir() if p.is_dir()) == sorted(MODELS)
    for graph in ("encoder", "generator"):
        config = read_config(repo, f"sean_{graph}")
        assert config.backend == "python" and config.max_batch_size == 4
        assert io(config.input) == manifest_io(manifest, graph, "inputs")
        assert io(config.output) == manifest_io(manifest, graph, "outputs")
        assert config.dynamic_batching.max_queue_delay_microseconds == 500
        assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in config.instance_group] == [
            (2, "KIND_CPU")]
        assert (repo / f"sean_{graph}" / "1" / "model.py").is_file()
    front = read_config(repo, "sean")
    h, w, k = manifest["height"], manifest["width"], manifest["num_classes"]
    inputs = {t.name: t for t in front.input}
    assert list(inputs["label"].dims) == [h, w] and not inputs["label"].optional
    assert list(inputs["style_image"].dims) == [h, w, 3] and inputs["style_image"].optional
    assert list(inputs["swap_classes"].dims) == [-1, k] and inputs["swap_classes"].allow_ragged_batch
    assert io(front.output) == [("image", "TYPE_UINT8", [h, w, 3]), ("styles", "TYPE_FP32", [k, manifest["style_dim"]]),
                                ("present", "TYPE_BOOL", [k])]
    assert json.loads(front.parameters["sean_manifest"].string_value) == manifest
    noise = read_config(repo, "sean_noise")
    assert io(noise.output) == [("noise", "TYPE_FP32", [manifest["noise"]["numel"]])]
    ensemble = read_config(repo, "sean_reconstruct")
    assert ensemble.platform == "ensemble"
    assert [s.model_name for s in ensemble.ensemble_scheduling.step] == ["sean_noise", "sean_encoder", "sean_generator"]
    (image,) = manifest_io(manifest, "generator", "outputs")
    assert io(ensemble.output) == [("reconstruction", *image[1:])]
    # The Python models load the package copy, which matches its manifest file for file.
    assert load_package(repo / "sean" / "1" / "package", verify=True).manifest == manifest
    readme = (repo / "README.md").read_text()
    assert "nvcr.io/nvidia/tritonserver:24.10-py3" in readme and "/v2/health/ready" in readme
    assert "perf_analyzer" in readme and "replicas:" in readme
    from sean_runtime.triton.environment import model_requirements

    assert all(f"'{r}'" in readme for r in model_requirements())  # the container gets the models' pins too


def served_precision(repo: Path, graph: str) -> str:
    """What a client reports that the graph model computes in: graph_precision of its config in `repo` (the
    exported repository, or the view `sean triton` serves)."""
    parameters = {key: value.string_value for key, value in read_config(repo, f"sean_{graph}").parameters.items()}
    return graph_precision(parameters, json.loads((repo / "sean" / "1" / "package" / "manifest.json").read_text())[
        "precision"])


def test_precision_bf16_runs_the_python_graph_models_on_openvino_and_other_backends_refuse_it(shapes_package,
                                                                                               tmp_path):
    repo = tmp_path / "repo"
    done = export(shapes_package, repo, "--precision", "bf16")
    assert done.exit_code == 0, done.output
    for graph in ("encoder", "generator"):
        parameters = read_config(repo, f"sean_{graph}").parameters
        assert (parameters["sean_runtime"].string_value, parameters["sean_precision"].string_value) == (
            "openvino", "bf16")
        assert served_precision(repo, graph) == "bf16"  # the package is fp32: clients reported fp32
    assert read_repository(repo)["precision"] == "bf16"
    assert "(OpenVINO, precision hint bf16 on the CPU)" in (repo / "README.md").read_text()
    plain_repo = export_repository(shapes_package, tmp_path / "plain", RepositorySettings())
    plain = read_config(plain_repo, "sean_generator")
    assert (plain.parameters["sean_runtime"].string_value, plain.parameters["sean_precision"].string_value) == (
        "onnxruntime", "f32")
    assert served_precision(plain_repo, "generator") == "fp32" and read_repository(plain_repo)["precision"] == "f32"
    refused = export(shapes_package, tmp_path / "gpu", "--backend", "onnxruntime", "--precision", "bf16")
    assert refused.exit_code == 1 and not (tmp_path / "gpu").exists()
    assert "precision bf16 runs on the python backend" in refused.output and "Traceback" not in refused.output
    garbage = export(shapes_package, tmp_path / "garbage", "--precision", "fp64")
    assert garbage.exit_code == 2 and "Invalid value for '--precision'" in garbage.output


def test_sean_triton_serves_the_precision_this_cpu_computes_a_bf16_repository_in(shapes_package, tmp_path):
    """The configs `sean triton` serves say what this machine's CPU computes the bf16 hint in, as OpenVINO
    reports it: fp32 on a CPU without bf16 units, where clients were told bf16. The repository is unchanged, and
    a repository without OpenVINO graph models is served as it is."""
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    from sean_runtime.backends.openvino import OpenVinoBackend
    from sean_runtime.triton.environment import ServerEnvironment
    from sean_runtime.triton.server import TritonServer

    repo = export_repository(shapes_package, tmp_path / "repo", RepositorySettings(precision="bf16"))
    exported = {m: (repo / m / "config.pbtxt").read_text() for m in ("sean_encoder", "sean_generator")}
    # What a graph compiled with the hint reads back (the graph models' own word, which they log)
    computes = OpenVinoBackend(load_package(shapes_package), "bf16", threads=1, graphs=("encoder",)).computes
    flags = cpu_flags()
    if flags is not None and not has_bf16_units(flags):
        assert computes == "fp32"
    unused = ServerEnvironment(tmp_path / "env", tmp_path / "env")  # what the server would run in: not started
    for instances in (None, 2):
        server = TritonServer(unused, repo, instances=instances)
        try:
            for graph in ("encoder", "generator"):
                assert served_precision(server.repository, graph) == computes, (instances, graph)
            assert server.repository != repo
            assert read_config(server.repository, "sean_generator").instance_group[0].count == (instances or 1)
        finally:
            assert server.stop() == 0  # nothing started: the view is removed
        assert not server.repository.exists()
    assert {m: (repo / m / "config.pbtxt").read_text() for m in exported} == exported
    assert served_precision(repo, "generator") == "bf16"  # served as it is (NVIDIA's container): the hint
    plain = export_repository(shapes_package, tmp_path / "plain", RepositorySettings())
    assert TritonServer(unused, plain).repository == plain


def test_onnxruntime_repository_carries_the_graphs(shapes_package, tmp_path):
    repo = tmp_path / "repo"
    done = export(shapes_package, repo, "--backend", "onnxruntime", "--name", "faces")
    assert done.exit_code == 0, done.output
    package = load_package(shapes_package)
    for graph in ("encoder", "generator"):
        config = read_config(repo, f"faces_{graph}")
        assert config.platform == "onnxruntime_onnx" and config.default_model_filename == f"{graph}.onnx"
        assert model_config_pb2.ModelInstanceGroup.Kind.Name(config.instance_group[0].kind) == "KIND_GPU"
        copied = repo / f"faces_{graph}" / "1" / f"{graph}.onnx"
        assert copied.read_bytes() == package.graph(graph).file.read_bytes()
    assert read_config(repo, "faces").parameters["sean_models"].string_value == json.dumps(
        {"encoder": "faces_encoder", "generator": "faces_generator"})


def copies_of_package_files(repo: Path, package: Path) -> dict[str, int]:
    """How many files of the repository hold each package file's bytes: counted by content, as a tar or a copy
    to another file system holds them (hard links are one inode but two files there)."""
    held = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in repo.rglob("*") if p.is_file())
    return {name: held[sha256] for name, sha256 in load_package(package).manifest["files"].items()}


def test_a_repository_holds_each_graph_once_and_checks_it_where_it_lies(shapes_package, tmp_path):
    """The front model's folder held the package's graphs again for Triton's own backends (a repository twice
    the size, once packed or copied); the front and noise models read only the manifest."""
    graph_names = sorted(load_package(shapes_package).manifest["files"])
    for backend in ("python", "onnxruntime"):
        repo = export_repository(shapes_package, tmp_path / backend, RepositorySettings(backend=backend))
        assert copies_of_package_files(repo, shapes_package) == {name: 1 for name in graph_names}, backend
    for backend in ("python", "onnxruntime"):
        copy = shutil.copytree(tmp_path / backend, tmp_path / f"{backend}-copied")  # no hard links in a copy
        check_repository_package(copy, read_repository(copy))
        # what the front and noise models load, and for python what the graph models load, from the copy
        package = copy / "sean" / "1" / "package"
        assert load_package(package, verify=True, graphs=()).manifest == load_package(shapes_package).manifest
        if backend == "python":
            for graph in ("encoder", "generator"):
                load_package(package, verify=True, graphs=(graph,))
    facts = read_repository(tmp_path / "onnxruntime")
    manifest_only = tmp_path / "onnxruntime" / "sean" / "1" / "package"
    assert sorted(p.name for p in manifest_only.iterdir()) == ["manifest.json"]
    with pytest.raises(PackageError, match=r"encoder\.onnx is missing"):  # a reader that runs the graphs needs them
        load_package(manifest_only)
    assert facts["package_files"] == {f"{graph}.onnx": f"sean_{graph}/1" for graph in ("encoder", "generator")}
    # a graph changed where the repository holds it is found there; changed in the copy, whose files are not
    # hard links to the package's (the session's shared package stays whole)
    copied = tmp_path / "onnxruntime-copied"
    graph = copied / "sean_generator" / "1" / "generator.onnx"
    graph.write_bytes(graph.read_bytes()[:-1] + bytes([graph.read_bytes()[-1] ^ 1]))
    with pytest.raises(PackageError, match="its package no longer matches its manifest"):
        check_repository_package(copied, facts)
    load_package(shapes_package, verify=True)


def test_a_tensorrt_repository_holds_the_plans_and_not_the_onnx_graphs(tmp_path):
    package = write_package(tmp_path / "pkg")
    for graph in ("encoder", "generator"):
        write_plan(load_package(package), graph, plan=f"{graph} plan".encode())
    repo = export_repository(package, tmp_path / "repo", RepositorySettings(backend="tensorrt"))
    assert copies_of_package_files(repo, package) == {"encoder.onnx": 0, "generator.onnx": 0}
    plans = Counter(p.read_bytes() for p in repo.rglob("*.plan"))
    assert plans == {b"encoder plan": 1, b"generator plan": 1}
    facts = read_repository(repo)
    assert facts["package_files"] == {}
    check_repository_package(repo, facts)
    del facts["package_files"]  # a repository of an earlier sean-deploy: where its files are is not known
    with pytest.raises(PackageError, match="export the repository again"):
        check_repository_package(repo, facts)


def test_tensorrt_repository_names_one_plan_per_compute_capability(tmp_path):
    first = write_package(tmp_path / "pkg")
    second = tmp_path / "pkg-a10"
    shutil.copytree(first, second)
    for root, gpu in ((first, H100), (second, A10)):
        package = load_package(root)
        for graph in ("encoder", "generator"):
            write_plan(package, graph, plan=f"{graph} for {gpu.name}".encode(), gpu=gpu)
    single = export_repository(first, tmp_path / "one", RepositorySettings(backend="tensorrt"))
    config = read_config(single, "sean_generator")
    assert config.platform == "tensorrt_plan" and config.default_model_filename == "model.plan"
    assert (single / "sean_generator" / "1" / "model.plan").read_bytes() == b"generator for NVIDIA H100 80GB HBM3"
    repo = export_repository(first, tmp_path / "two", RepositorySettings(backend="tensorrt", plans_from=(second,)))
    config = read_config(repo, "sean_generator")
    assert dict(config.cc_model_filenames) == {"9.0": "generator.sm90.plan", "8.6": "generator.sm86.plan"}
    assert (repo / "sean_generator" / "1" / "generator.sm86.plan").read_bytes() == b"generator for NVIDIA A10"


def test_region_form_package_is_refused_for_tensorrt_in_one_line(tmp_path):
    package = write_package(tmp_path / "pkg", generator_form="regions")
    done = export(package, tmp_path / "repo", "--backend", "tensorrt")
    assert done.exit_code == 1
    (line,) = done.output.strip().splitlines()
    assert line.startswith("Error: ") and "region form" in line and "--form dense" in line
    assert not (tmp_path / "repo").exists()


def test_an_unrelated_folder_is_never_replaced_and_an_earlier_repository_is(tmp_path):
    package = write_package(tmp_path / "pkg")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(PackageError, match="not a repository written by"):
        export_repository(package, other, RepositorySettings())
    assert (other / "keep.txt").read_text() == "mine"
    repo = export_repository(package, tmp_path / "repo", RepositorySettings(max_batch=2))
    export_repository(package, repo, RepositorySettings(max_batch=3))
    assert read_config(repo, "sean").max_batch_size == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work folders left
    # never inside the package (a later `sean export` there deletes it) or a folder that holds the package
    for inside, words in ((package / "repo", "lies inside the input folder"), (tmp_path, "holds the input")):
        with pytest.raises(PackageError, match=words):
            export_repository(package, inside, RepositorySettings())
    assert not (package / "repo").exists()


def test_sean_triton_refuses_a_repository_for_triton_gpu_backends_in_one_line(tmp_path):
    package = write_package(tmp_path / "pkg")
    for graph in ("encoder", "generator"):
        write_plan(load_package(package), graph)
    repo = export_repository(package, tmp_path / "repo", RepositorySettings(backend="tensorrt"))
    done = CliRunner().invoke(main, ["triton", str(repo)])
    assert done.exit_code == 1
    (line,) = done.output.strip().splitlines()
    assert "tensorrt backend" in line and "NVIDIA's container" in line and "--backend python" in line


def test_the_model_environment_never_allows_numpy_2():
    """Triton's Python backend stub is built for numpy 1.x: the environment `sean triton` builds pins it,
    replacing (not adding to) the project's own numpy and OpenCV requirements."""
    from packaging.requirements import Requirement

    from sean_runtime.triton.environment import requirements

    wanted = [Requirement(text) for text in requirements()]
    by_name = {}
    for requirement in wanted:
        by_name.setdefault(requirement.name.lower(), []).append(requirement)
    assert all(len(found) == 1 for found in by_name.values()), wanted
    assert not by_name["numpy"][0].specifier.contains("2.0.0")
    assert not by_name["opencv-python-headless"][0].specifier.contains("4.12.0.88")
    assert {"onnxruntime", "openvino", "nvidia-pytriton", "click", "pyyaml", "tqdm"} <= set(by_name)


def test_sean_triton_refuses_a_repository_whose_package_changed_in_place_and_ports_in_use(tmp_path):
    """The repository hard-links the package's files: a package edited in place changed a served
    repository, which the models load unverified. And a second server on a taken port printed
    "Triton ready" for the first one. Both are one line now, before anything starts."""
    import socket

    from sean_runtime.triton.server import Ports, ports_in_use

    package = write_package(tmp_path / "pkg")
    repo = export_repository(package, tmp_path / "repo", RepositorySettings())
    graph = next(p for p in package.iterdir() if p.suffix == ".onnx")
    with open(graph, "r+b") as handle:  # in place: the repository's hard link sees it
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    result = CliRunner().invoke(main, ["triton", str(repo)])
    assert result.exit_code == 1 and "its package no longer matches its manifest" in result.output, result.output
    assert "export the repository again" in result.output
    # another package copied over the source, manifest and all: the links pass its own check, not the export's
    again = export_repository(write_package(tmp_path / "pkg2"), tmp_path / "repo2", RepositorySettings())
    other = shutil.copytree(tmp_path / "pkg2", tmp_path / "other")
    (other / "generator.onnx").write_bytes(b"another generator")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["files"]["generator.onnx"] = hashlib.sha256(b"another generator").hexdigest()
    (other / "manifest.json").write_text(json.dumps(manifest))
    for name in [p.name for p in other.iterdir() if p.is_file()]:
        target = tmp_path / "pkg2" / name
        with open(target, "wb") as out:  # in place, as `cp other/* pkg2/` writes
            out.write((other / name).read_bytes())
    result = CliRunner().invoke(main, ["triton", str(again)])
    assert result.exit_code == 1 and "its package is not the one exported" in result.output, result.output

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert ports_in_use("127.0.0.1", Ports(taken, taken + 1, taken + 2))[0] == f"{taken} (HTTP)"
    assert f"{taken} (HTTP)" not in ports_in_use("127.0.0.1", Ports(taken, taken + 1, taken + 2))  # free again


@pytest.mark.parametrize("name", ["über", "ﬁ", "名前"])
def test_a_model_name_triton_cannot_start_is_refused_at_export(tmp_path, name):
    with pytest.raises(PackageError, match="use ASCII letters, digits"):
        export_repository(write_package(tmp_path / "pkg"), tmp_path / "repo", RepositorySettings(name=name))


def test_package_files_other_than_the_exports_are_refused(shapes_package, tmp_path):
    """sean-triton.json's package_files decides which files the check hashes, and the python graph models load
    the graphs it vouches for unhashed: a map that names a folder outside the repository, leaves a graph out
    or is not strings is refused in one line, not trusted or a traceback."""
    repo = export_repository(shapes_package, tmp_path / "repo", RepositorySettings(backend="python"))
    facts = read_repository(repo)
    check_repository_package(repo, facts)
    folder = facts["package_files"]["generator.onnx"]
    for places in ({**facts["package_files"], "generator.onnx": str(shapes_package)},
                   {name: place for name, place in facts["package_files"].items() if name != "generator.onnx"},
                   {},
                   {**facts["package_files"], "generator.onnx": 1},
                   {**facts["package_files"], "generator.onnx": [folder]}):
        with pytest.raises(PackageError, match=r"does not say where a repository for the python backend holds"):
            check_repository_package(repo, {**facts, "package_files": places})
    with pytest.raises(PackageError, match=r"for the None backend"):
        check_repository_package(repo, {key: value for key, value in facts.items() if key != "backend"})
    for name in ("../outside", 5, ""):  # the models' folders are named after it: a path would lead out
        with pytest.raises(PackageError, match=r"names no model Triton serves .* it was edited"):
            check_repository_package(repo, {**facts, "name": name})


# `sean export-triton` sent SIGTERM while its repository is half-written in .OUT.build.PID.X
STOPPED_EXPORT_TRITON = """
import os, signal, sys, time
from sean_core.cli import main
from sean_runtime.triton import repository
checks = repository.check_repository
def terminated(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # the handler runs before this ends; without one the process is gone
    return checks(*args, **kwargs)
repository.check_repository = terminated
main(["export-triton", *sys.argv[1:]])
"""


def test_an_export_triton_stopped_by_sigterm_says_so_in_one_line_and_leaves_no_build_folder(tmp_path):
    # SIGTERM (`timeout`, a scheduler's cancel) ended it at once, leaving .repo.build.PID.X beside the repository
    package = write_package(tmp_path / "pkg")
    for graph in ("encoder", "generator"):
        write_plan(load_package(package), graph, plan=f"{graph} plan".encode())
    out = tmp_path / "repo"
    export_repository(package, out, RepositorySettings(backend="tensorrt"))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_EXPORT_TRITON, str(package), "-o", str(out), "--backend", "tensorrt",
         "--max-batch", "4"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])},
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        f"Error: export-triton stopped (Ctrl-C or a termination signal) before the repository was complete; the "
        f"earlier repository in {out} is as it was\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg", "repo"]
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_sean_triton_refuses_ports_it_cannot_use_and_binds_a_host_name_by_its_address(tmp_path):
    """`--port 65535` ended in a traceback (OverflowError: gRPC on 65536), and `--host localhost` went to
    tritonserver as it was, whose HTTP server then listened on 255.255.255.255: `sean triton` waited for a
    readiness that never came, until its timeout."""
    from sean_runtime.triton.environment import ServerEnvironment
    from sean_runtime.triton.server import TritonServer, server_command

    repo = export_repository(write_package(tmp_path / "pkg"), tmp_path / "repo", RepositorySettings())
    for args, words in (
        (["--port", "65535"], "puts the gRPC port 65536 and metrics port 65537 above 65535"),
        (["--port", "65534", "--grpc-port", "9001"], "puts the metrics port 65536 above 65535"),
        (["--port", "9000", "--metrics-port", "9000"], "three different ports"),
    ):
        done = CliRunner().invoke(main, ["triton", str(repo), *args])
        assert done.exit_code == 2 and words in done.output, (args, done.output, done.exception)
    done = CliRunner().invoke(main, ["triton", str(repo), "--host", "no-such-host.invalid"])
    assert done.exit_code == 1 and "give an IP address such as 127.0.0.1" in done.output, done.output
    unused = ServerEnvironment(tmp_path / "env", tmp_path / "env")  # nothing is started
    server = TritonServer(unused, repo, host="localhost")
    assert server.url == "http://127.0.0.1:8000" and server.grpc_url == "grpc://127.0.0.1:8001"
    command = server_command(unused, server.repository, server.ports, server.host)
    assert {"--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1"} <= set(command)
    assert TritonServer(unused, repo, host="0.0.0.0").host == "0.0.0.0"


def test_the_repository_readme_names_each_models_tensors_as_its_config_does(tmp_path):
    """A client written from the README's table asked `sean_reconstruct` for `image` (its output is
    `reconstruction`) and sent `sean_noise` a seed alone (it takes `enabled` too)."""
    import re

    repo = export_repository(write_package(tmp_path / "pkg"), tmp_path / "repo", RepositorySettings(name="gan"))
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]*?: ([\w, ]+ -> [\w, ]+)", (repo / "README.md").read_text(), re.M))
    assert sorted(rows) == ["gan_encoder", "gan_generator", "gan_noise", "gan_reconstruct"]
    for model, tensors in rows.items():
        config = read_config(repo, model)
        wanted = f"{', '.join(t.name for t in config.input)} -> {', '.join(t.name for t in config.output)}"
        assert tensors.strip() == wanted, model


def test_a_triton_failure_asks_whether_the_server_runs_only_when_no_server_answered():
    """A model's internal error (HTTP 500, gRPC INTERNAL) ended in "is `sean triton` running there?", which sends
    the user to look for a server that runs and answered."""
    from tritonclient.utils import InferenceServerException

    from sean_core.errors import BackendError, InputError
    from sean_runtime.triton.client import TritonSynthesizer

    client = TritonSynthesizer.__new__(TritonSynthesizer)  # _failure reads the URL only: no server is asked
    client.url = "http://127.0.0.1:8000"
    internal = "internal error in the SEAN model: the server log has the traceback (KeyError)"
    for status in ("500", "StatusCode.INTERNAL"):
        error = client._failure(InferenceServerException(internal, status), "model sean")
        assert isinstance(error, BackendError) and "running there" not in str(error), status
        assert str(error) == f"http://127.0.0.1:8000: model sean failed on the server ({status}): {internal}"
    for exc in (ConnectionRefusedError(111, "Connection refused"),
                InferenceServerException("failed to connect to all addresses", "StatusCode.UNAVAILABLE")):
        assert "is `sean triton` running there?" in str(client._failure(exc, "model sean")), exc
    assert isinstance(client._failure(InferenceServerException("bad", "400"), "model sean"), InputError)


def test_sean_triton_stopped_during_start_up_ends_normally_in_one_line(tmp_path, monkeypatch):
    """Ctrl-C while the models' environment was checked (or built) ended in click's "Aborted!" with exit 1, as if
    the server had failed; a server's stop at any moment is its normal end (`sean serve` says the same)."""
    import sean_runtime.commands.triton as command

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    repo = export_repository(write_package(tmp_path / "pkg"), tmp_path / "repo", RepositorySettings())
    monkeypatch.setattr(command, "server_environment", interrupted)
    done = CliRunner().invoke(main, ["triton", str(repo), "--port", "18000"])
    assert done.exit_code == 0, (done.output, done.exception)
    assert done.output.strip() == "triton stopped (Ctrl-C or a termination signal) before serving"  # as `serve` says
