"""A real Triton Inference Server (the tritonserver of nvidia-pytriton, started by `sean triton`) on the
python-backend repository of the shipped model: images equal `sean synth`'s byte for byte, requests of
concurrent clients are batched, bad requests get Triton's error while the server keeps serving, and
SIGTERM stops it with exit 0.

The first run builds the Python models' environment (about a minute from PyPI, once per machine);
after that the module takes well under two minutes. Tests run in file order: the last one stops the server.
"""

from __future__ import annotations

import contextlib
import gc
import json
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.cpu import cpu_flags, has_bf16_units
from sean_core.errors import BackendError, InputError
from sean_core.imageio import read_rgb
from sean_runtime.synthesizer import Synthesizer, to_uint8
from sean_runtime.triton.repository import export_repository
from sean_runtime.triton.settings import RepositorySettings
from sean_tools.serve_load.loadtest import series
from tests.helpers import OPENVINO_MISSING

pytest.importorskip("tritonclient.http", reason="needs the 'triton' extra (tritonclient)")
pytest.importorskip("tritonclient.grpc", reason="needs the 'triton' extra (tritonclient)")
from sean_runtime.triton.client import TritonSynthesizer
from sean_runtime.triton.environment import server_environment
from sean_runtime.triton.server import Ports, TritonServer

pytestmark = pytest.mark.slow
READY_S = 240.0
CLIENTS, PER_CLIENT = 8, 6


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def model_environment():
    try:
        return server_environment(log=lambda line: None)
    except BackendError as exc:
        pytest.skip(f"the Triton models' environment cannot be built on this machine: {exc}")


def start_triton(repo: Path, environment, log: Path, ports: list[int], *args: str) -> subprocess.Popen:
    """`sean triton REPO` on `ports` (HTTP, gRPC, metrics), its server's log in `log`."""
    http, grpc, metrics = ports
    return subprocess.Popen(
        [sys.executable, "-m", "sean_core.cli", "triton", str(repo), "--port", str(http), "--grpc-port", str(grpc),
         "--metrics-port", str(metrics), "--env", str(environment.root), "--log-file", str(log), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@contextlib.contextmanager
def running_triton(repo: Path, environment, folder: Path, *args: str):
    """`sean triton REPO` on free ports: (process, HTTP URL, gRPC URL, metrics URL, log file); stopped after."""
    http, grpc, metrics = free_ports(3)
    log = folder / "tritonserver.log"
    process = start_triton(repo, environment, log, [http, grpc, metrics], *args)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        ready = lines.get(timeout=READY_S)
    except queue.Empty:
        ready = ""
    if not ready.startswith("Triton ready: "):
        process.kill()
        pytest.fail(f"sean triton did not say it was ready: {ready!r} {process.stderr.read()[-2000:]} "
                    f"{log.read_text()[-3000:] if log.is_file() else ''}")
    assert f"http://127.0.0.1:{http}" in ready
    try:
        local = "http://127.0.0.1"
        yield process, f"{local}:{http}", f"grpc://127.0.0.1:{grpc}", f"{local}:{metrics}/metrics", log
    finally:
        if process.poll() is None:  # a test stopped early: SIGTERM lets `sean triton` stop its server
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def server(model_environment, shapes_package, tmp_path_factory):
    """`sean triton` on the python-backend repository: (process, HTTP URL, gRPC URL, metrics URL, log file)."""
    folder = tmp_path_factory.mktemp("triton")
    repo = export_repository(shapes_package, folder / "repo", RepositorySettings(max_batch=8))
    with running_triton(repo, model_environment, folder, "--instances", "2") as started:
        yield started


@pytest.fixture(scope="module")
def local(shapes_package):
    return Synthesizer.load(shapes_package, backend="onnxruntime")


def pair(split: Path, i: int) -> tuple[Path, Path]:
    return split / "images" / f"{i:05d}.png", split / "labels" / f"{i:05d}.png"


def fallback_case(local: Synthesizer, split: Path) -> tuple[int, int, str]:
    """(target, reference, class): a class the target's style image shows and the reference lacks."""
    present = [local.encode(*pair(split, i)).present[0] for i in range(4)]
    for target in range(4):
        for reference in range(4):
            lacking = np.nonzero(present[target] & ~present[reference])[0]
            if len(lacking):
                return target, reference, local.class_names[lacking[0]]
    raise AssertionError("no sample lacks a class another one shows")


def synth_cli(args: list[str], out: Path) -> tuple[int, str, bytes | None]:
    done = CliRunner().invoke(main, ["synth", *args, "-o", str(out)])
    return done.exit_code, done.output, out.read_bytes() if out.is_file() else None


def metric(url: str, name: str, model: str) -> float:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return series(text, name, model=model, version="1") or 0.0


def test_every_model_runs_the_instances_asked_for_and_the_repository_is_unchanged(server, shapes_package):
    import urllib.request

    _, http_url, grpc_url, _, log = server
    for url in (http_url, grpc_url):  # an f32 repository runs the fp32 package on ONNX Runtime
        with TritonSynthesizer(url) as remote:
            assert (remote.info()["precision"], remote.info()["computes"]) == ("fp32", "fp32"), url
            assert remote.describe().endswith("8 classes, fp32]"), remote.describe()
    for model in ("sean", "sean_encoder", "sean_generator", "sean_noise"):
        with urllib.request.urlopen(f"{http_url}/v2/models/{model}/config", timeout=10) as response:
            config = json.loads(response.read())
        assert [(g["count"], g["kind"]) for g in config["instance_group"]] == [(2, "KIND_CPU")], model
    repo = log.parent / "repo"
    assert "count: 1" in (repo / "sean" / "config.pbtxt").read_text()  # --instances leaves the export alone


def test_six_requests_give_the_bytes_of_sean_synth(server, local, shapes_package, shapes_split, tmp_path):
    _, http_url, grpc_url, _, _ = server
    target, reference, lacking = fallback_case(local, shapes_split)
    image, label = pair(shapes_split, target)
    other, other_label = pair(shapes_split, reference)
    blob = local.class_names.index("blob")
    base = ["--label", str(label), "--style", str(image), "--seed", "5"]
    kinds = {  # name -> (sean synth options, the same request with the edits done by the server)
        "reconstruction": ([], {}),
        "swap": (["--swap", f"blob={other}"], {"swaps": [([blob], (other, other_label))]}),
        "interpolation": (["--interpolate", str(other), "--alpha", "0.3"],
                          {"interpolate": [(0.3, (other, other_label), None)]}),
        "fallback own": (["--swap", f"{lacking}={other}", "--fallback", "own"],
                         {"swaps": [([lacking], (other, other_label))], "fallback": "own"}),
        "fallback error": (["--swap", f"{lacking}={other}", "--fallback", "error"],
                           {"swaps": [([lacking], (other, other_label))], "fallback": "error"}),
        "noise off": (["--no-noise"], {"noise": False}),
    }
    clients = [TritonSynthesizer(http_url), TritonSynthesizer(grpc_url)]
    try:
        for name, (options, edits) in kinds.items():
            code, output, expected = synth_cli([str(shapes_package), *base, *options], tmp_path / f"{name}-local.png")
            for client, url in zip(clients, (http_url, grpc_url), strict=True):
                remote = tmp_path / f"{name}.png"
                remote_code, remote_output, got = synth_cli(["--triton", url, *base, *options], remote)
                assert (remote_code, got) == (code, expected), f"{name} over {url}: {remote_output}"
                remote.unlink(missing_ok=True)
                seed, noise = 5, edits.get("noise", True)
                request = {k: v for k, v in edits.items() if k != "noise"}
                if name == "fallback error":
                    assert code == 1 and f"lacks class(es) ['{lacking}']" in output, output
                    with pytest.raises(InputError, match=r"lacks class\(es\)"):
                        client.request(label, (image, label), seed=seed, noise=noise, **request)
                    continue
                assert code == 0, output
                served, _ = client.request(label, (image, label), seed=seed, noise=noise, **request)
                assert np.array_equal(served, read_rgb(tmp_path / f"{name}-local.png")), f"{name} over {url}"
    finally:
        for client in clients:
            client.close()


def test_the_reconstruct_ensemble_equals_a_local_reconstruction(server, local, shapes_split):
    _, http_url, _, _, _ = server
    image, label = pair(shapes_split, 1)
    with TritonSynthesizer(http_url) as client:
        images, labels = client._style_inputs(image, label)
        feeds = {"image": images, "labels": labels, "seed": np.array([[9]], np.int64), "noise": np.array([[True]])}
        out = client.infer(client.names.reconstruct, feeds, ["reconstruction"])["reconstruction"]
    assert np.array_equal(to_uint8(out), local.reconstruct(image, label, seed=9))


def test_concurrent_clients_are_answered_correctly_and_batched(server, local, shapes_split):
    _, http_url, grpc_url, metrics_url, _ = server
    styles = [local.encode(*pair(shapes_split, i)) for i in range(4)]
    labels = [pair(shapes_split, i)[1] for i in range(4)]
    jobs = [(c, r, (c + r) % 4, 1000 * c + r) for c in range(CLIENTS) for r in range(PER_CLIENT)]
    expected = {(c, r): local.synthesize(labels[k], styles[k], seed=seed)[0] for c, r, k, seed in jobs}
    answers: dict = {}
    errors: list = []
    before = (metric(metrics_url, "nv_inference_request_success", "sean"),
              metric(metrics_url, "nv_inference_exec_count", "sean"))
    start = threading.Barrier(CLIENTS)

    def client(c: int) -> None:
        try:
            with TritonSynthesizer(http_url if c % 2 else grpc_url) as synth:
                start.wait()
                for _, r, k, seed in (job for job in jobs if job[0] == c):
                    answers[c, r] = synth.request(labels[k], styles[k], seed=seed)[0]
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(answers) == CLIENTS * PER_CLIENT
    assert all(np.array_equal(answers[key], image) for key, image in expected.items())
    # Triton may count a request just after its client has the answer: wait (10 s at most) for the count.
    deadline = time.monotonic() + 10
    while (requests := metric(metrics_url, "nv_inference_request_success", "sean") - before[0]) < len(jobs):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    executions = metric(metrics_url, "nv_inference_exec_count", "sean") - before[1]
    assert requests == CLIENTS * PER_CLIENT
    assert executions < requests, f"{requests:.0f} requests in {executions:.0f} executions: nothing was batched"


def test_bad_requests_get_tritons_error_and_the_server_keeps_serving(server, local, shapes_split):
    process, http_url, grpc_url, _, _ = server
    image, label = pair(shapes_split, 0)
    expected = local.synthesize(label, local.encode(image, label), seed=4)[0]
    for url in (http_url, grpc_url):
        with TritonSynthesizer(url) as client:
            ids = client.read_labels(label)
            styles = client.encode(image, label)
            good = {"label": ids, "styles": styles.codes, "present": styles.present}
            bad = {
                "wrong shape": ({**good, "label": ids[:, :32]}, "unexpected shape for input 'label'"),
                "wrong dtype": ({**good, "label": ids.astype(np.float32)}, "data-type is 'FP32'"),
                # Triton checks required inputs only of models without optional ones: this was an internal error
                "no label": ({k: v for k, v in good.items() if k != "label"},
                             r"missing required input\(s\) \['label'\] for model 'sean'"),
                "unknown class id": ({**good, "label": np.full_like(ids, 99)}, "outside the 8 classes"),
                "seed out of range": ({**good, "seed": np.array([[-1]], np.int64)}, "seed must be a non-negative"),
                "a style label without its image": ({**good, "style_label": ids}, "style_label goes with style_image"),
                "a swap label without its image": (
                    {**good, "swap_label": ids[:, None]}, "swap_label goes with swap_image",
                ),
                "more presence rows than styles": (
                    {**good, "swap_styles": styles.codes[None], "swap_present": np.repeat(styles.present[None], 2, 1)},
                    "swap_present has 2 row",
                ),
            }
            for name, (inputs, message) in bad.items():
                with pytest.raises(InputError, match=message):
                    client.infer("sean", inputs, ["image"])
                assert process.poll() is None, f"the server died on a request with a {name}"
            served = client.infer("sean", {**good, "seed": np.array([[4]], np.int64)}, ["image"])["image"][0]
            assert np.array_equal(served, expected)
            with pytest.raises(InputError, match="input 'label' is float64; give one of"):  # was KeyError
                client.infer("sean", {**good, "label": ids.astype(np.float64)}, ["image"])
            # the graph models (and the reconstruct ensemble through them) answered ids past the classes and NaN
            noise = np.zeros((1, client.manifest["noise"]["numel"]), np.float32)
            graph = {"labels": ids, "codes": styles.codes, "noise": noise}
            for model, inputs, words in (
                ("sean_generator", {**graph, "labels": np.full_like(ids, 99)},
                 r"labels: values \[99\] are outside the 8 classes of domain 'shapes' \(valid ids 0..7\)"),
                ("sean_generator", {**graph, "codes": np.full_like(styles.codes, np.nan)}, "codes holds NaN"),
                ("sean_encoder", {"image": np.zeros((1, 3, 64, 64), np.float32), "labels": np.full_like(ids, -5)},
                 r"labels: values \[-5\] are outside the 8 classes"),
            ):
                with pytest.raises(InputError, match=words):
                    client.infer(model, inputs, ["image"] if model.endswith("generator") else ["codes"])
        # a model name the server does not serve: its models are named, not "is sean triton running?"
        with pytest.raises(BackendError, match=r"serves no model 'nope' \(its models: sean, sean_encoder"):
            TritonSynthesizer(url, model="nope")


def test_bench_serve_measures_triton_and_reads_its_batching(server, tmp_path):
    _, http_url, _, metrics_url, _ = server
    out = tmp_path / "bench.json"
    done = CliRunner().invoke(main, ["bench-serve", "--triton", http_url, "--metrics-url", metrics_url,
                                     "--concurrency", "1,4", "--requests", "8", "--json", str(out)])
    assert done.exit_code == 0, done.output
    levels = json.loads(out.read_text())["levels"]
    assert [(v["concurrency"], v["requests"], v["errors"]) for v in levels] == [(1, 8, 0), (4, 8, 0)]
    assert levels[0]["executions"] == 8  # one client: one request per execution
    assert 1 <= levels[1]["executions"] <= 8 and levels[1]["images_per_call"] == round(8 / levels[1]["executions"], 2)
    assert any(line.split()[-1:] == ["execs"] for line in done.output.splitlines())  # the table's head


def test_the_front_and_noise_models_run_from_a_package_folder_that_holds_only_the_manifest(
        model_environment, shapes_package, shapes_split, local, tmp_path):
    """As in a repository for Triton's onnxruntime backend, whose graphs lie only in the graph models' folders
    (that backend is not in this tritonserver): here the python graph models load the graphs from another
    folder, so NAME and NAME_noise start from the manifest alone. `sean triton` refuses such an edited
    repository (its sean-triton.json is not an export's), so the server is started directly."""
    repo = export_repository(shapes_package, tmp_path / "repo", RepositorySettings())
    package, graphs = repo / "sean" / "1" / "package", repo / "sean" / "1" / "graphs"
    graphs.mkdir()
    shutil.copy2(package / "manifest.json", graphs / "manifest.json")
    for name in json.loads((repo / "sean-triton.json").read_text())["package_files"]:
        (package / name).rename(graphs / name)
    for model in ("sean_encoder", "sean_generator"):
        config = repo / model / "config.pbtxt"
        config.write_text(config.read_text().replace('string_value: "sean/1/package"', 'string_value: "sean/1/graphs"'))
    assert sorted(p.name for p in package.iterdir()) == ["manifest.json"]
    image, label = pair(shapes_split, 1)
    expected = local.synthesize(label, local.encode(image, label), seed=3)[0]
    server = TritonServer(model_environment, repo, Ports(*free_ports(3)), log_file=tmp_path / "tritonserver.log")
    server.start()
    try:
        server.wait_ready()
        with TritonSynthesizer(server.url) as remote:
            answer = remote.request(label, (image, label), seed=3)[0]
    finally:
        assert server.stop() == 0
    np.testing.assert_array_equal(answer, expected)


def test_a_stop_while_tritonserver_loads_its_models_ends_sean_triton_normally(model_environment, shapes_package,
                                                                             tmp_path):
    """SIGINT once tritonserver runs, before its models are ready (the moment its log file appears): the server got
    SIGTERM before it handles it, and `sean triton` exited with its status (-15, as 241), saying nothing."""
    from sean_runtime.triton.server import ports_in_use

    repo = export_repository(shapes_package, tmp_path / "repo", RepositorySettings())
    log, ports = tmp_path / "tritonserver.log", free_ports(3)
    process = start_triton(repo, model_environment, log, ports)
    deadline = time.monotonic() + READY_S
    while not log.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err[-2000:]
    assert "Triton ready" not in out
    assert err.strip().splitlines()[-1] == "triton stopped (Ctrl-C or a termination signal) before serving", err
    assert ports_in_use("127.0.0.1", Ports(*ports)) == []  # the server is gone with it


def test_a_bf16_repository_answers_with_the_images_of_the_openvino_bf16_runtime(model_environment, shapes_package,
                                                                              shapes_split, tmp_path):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    repo = export_repository(shapes_package, tmp_path / "repo", RepositorySettings(precision="bf16"))
    with Synthesizer.load(shapes_package, precision_hint="bf16") as bf16:
        image, label = pair(shapes_split, 2)
        expected = bf16.synthesize(label, bf16.encode(image, label), seed=5)[0]
        computes = bf16.backend.computes  # what this CPU computes the hint in: fp32 without bf16 units
    flags = cpu_flags()
    if flags is not None and not has_bf16_units(flags):
        assert computes == "fp32"
    with running_triton(repo, model_environment, tmp_path) as (process, http_url, grpc_url, _, _):
        with TritonSynthesizer(http_url) as remote:
            answer = remote.request(label, (image, label), seed=5)[0]  # the server's encoder and generator
        # What the served graphs compute in, not the package's precision, nor a hint this CPU runs in fp32
        shown = "bf16 (package fp32)" if computes == "bf16" else "fp32"
        for url in (http_url, grpc_url):
            with TritonSynthesizer(url) as remote:
                assert (remote.info()["precision"], remote.info()["computes"]) == ("fp32", computes), url
                assert remote.describe().endswith(f"8 classes, {shown}]"), remote.describe()
        process.terminate()
        assert process.wait(60) == 0
    np.testing.assert_array_equal(answer, expected)


def test_sigterm_stops_the_server_with_exit_code_0(server):
    """Once its clients have gone: tritonserver waits for open HTTP connections, idle keep-alive ones too,
    up to its exit timeout, and then exits 1 (docs/triton.md). The `sean synth --triton` runs above dropped
    their clients without closing them; collecting them closes their connections."""
    process, http_url, _, _, log = server
    gc.collect()
    process.send_signal(signal.SIGTERM)
    start = time.monotonic()
    assert process.wait(60) == 0, process.stderr.read()[-2000:] + log.read_text()[-2000:]
    assert time.monotonic() - start < 45
    with pytest.raises(BackendError):
        TritonSynthesizer(http_url, timeout=2)
