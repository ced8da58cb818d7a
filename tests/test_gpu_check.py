"""The GPU check (scripts/gpu_check.sh, `sean gpu-check`): its CPU dry run end to end, and the GPU-only
PyTorch paths it relies on, marked `cuda` (skipped with the reason where PyTorch sees no CUDA GPU; the
check's "tests" part runs them on a GPU machine)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sean_tools.gpu_check import child, exported, speed, training
from sean_tools.gpu_check.plan import TINY_MODEL, make_plan, official_run_config, shapes_run_config
from sean_train.config import ModelConfig

REPO = Path(__file__).resolve().parents[1]
NO_CUDA = "PyTorch sees no CUDA GPU on this machine (scripts/gpu_check.sh runs these tests on one)"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)


@pytest.mark.slow
def test_the_cpu_dry_run_writes_every_part_into_its_json(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out)}  # --out defaults to $OUT
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--device", "cpu", "--tiny"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / "gpu_check.json").read_text())
    assert result["failures"] == [] and "all checks passed" in done.stdout
    assert (out / "gpu_check.txt").read_text().strip() == done.stdout.strip()
    parts = result["parts"]
    assert set(parts["training"]) == {"shapes AMP off", "shapes AMP on", "official-size AMP off",
                                      "official-size AMP on"}
    assert all(run["finite"] and run["images_per_s"] > 0 for run in parts["training"].values())
    resume = parts["resume"]
    assert resume["identical"] and resume["resumed_from_checkpoint"] == 4 and resume["killed_during_step"] == 5
    assert "resuming at step 4" in resume["resumed_message"]
    assert parts["export"]["eval"]["images"] == 4
    assert all(row["max_abs"] <= 1e-4 for row in parts["export"]["compare"]["graphs"].values())
    rows = parts["speed"]["rows"]
    timed = {(r["form"], r["dtype"], r["batch"]) for r in rows if r["mode"] == "eager" and "latency_s" in r}
    assert timed == {(f, d, b) for f in ("training", "dense") for d in ("fp32", "bf16") for b in (1, 2)}
    assert all(r["skipped"] == "CUDA graphs need a CUDA device" for r in rows if r["mode"] == "cuda_graphs")
    # The dense inference form computes the training form's image; bf16 stays close to fp32.
    assert parts["speed"]["dense_vs_training_max_abs_fp32"] <= 1e-4
    bf16 = [r["psnr_vs_fp32_db"] for r in rows if r["dtype"] == "bf16" and r["mode"] == "eager" and r["batch"] == 1]
    assert len(bf16) == 2 and min(bf16) > 25


def test_an_interpreter_without_the_checks_own_modules_is_named_before_anything_starts(tmp_path):
    """PYTHON without torch, numpy, click or pyyaml (here: this one with no site-packages): one line, exit 2."""
    bare = tmp_path / "python"
    bare.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    bare.chmod(0o755)
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--device", "cpu", "--tiny", "--out", str(tmp_path / "out")],
                          cwd=REPO, env={**os.environ, "PYTHON": str(bare)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().endswith("the check needs torch, numpy, click and pyyaml to start (set PYTHON to an "
                                        "interpreter that has them)")
    assert not (tmp_path / "out").exists()


def test_a_configuration_that_fails_is_recorded_and_the_rest_still_runs(monkeypatch):
    plan = make_plan("cpu", tiny=True)
    calls = []

    def flaky(function, inputs, dtype, mode, device, repeats):
        calls.append((dtype, inputs[0].shape[0]))
        if dtype == "bf16":
            raise RuntimeError("no kernel for this dtype\nsecond line")
        return {"first_call_s": 0.1, "latency_s": 0.01, "p90_s": 0.01, "images_per_s": 100.0,
                "peak_memory_mb": None, "image": np.zeros((1, 3, 64, 64), np.float32)}

    monkeypatch.setattr(speed, "time_configuration", flaky)
    result = speed.measure(plan, ModelConfig(**TINY_MODEL))
    errors = [r for r in result["rows"] if "error" in r]
    assert len(errors) == 4 and all(r["error"] == "RuntimeError: no kernel for this dtype" for r in errors)
    assert len(calls) == 8  # eager: 2 forms x 2 dtypes x 2 batches; CUDA graphs skipped on the CPU
    assert [r["psnr_vs_fp32_db"] for r in result["rows"] if r.get("dtype") == "fp32" and r["batch"] == 1
            and r["mode"] == "eager"] == [206.02, 206.02]  # identical images: the PSNR floor of psnr_pm1


@pytest.mark.slow
def test_both_speed_forms_are_built_and_run_on_the_models_device():
    """The speed part folds the dense form from a model already on the GPU and runs both forms there: a
    tensor made on the CPU on the way is a device-mismatch error on CUDA, and no speed row is measured.
    The meta device stands in for the GPU (shapes only): a CPU tensor mixed into its arithmetic raises too.
    fp32 only: autocast has no meta device."""
    from sean_train.weight_init import random_model

    config = ModelConfig(**TINY_MODEL)
    device = torch.device("meta")
    model = random_model(config, seed=0).to(device).eval()
    forms = speed.forms_on(model, device)
    assert set(forms) == {"training", "dense"}
    for form, (encoder, generator) in forms.items():
        assert {t.device for t in [*encoder.state_dict().values(), *generator.state_dict().values()]} == {device}
        with torch.inference_mode():
            image = speed.pipeline(encoder, generator, "fp32")(*speed.model_inputs(config, 2, device))
        assert image.shape == (2, 3, config.height, config.width) and image.device == device, form


def test_timed_calls_wait_for_the_warm_up_and_peak_memory_is_counted_after_the_first_call(monkeypatch):
    """On a GPU, calls are queued: the warm-up ends in a synchronisation, or the first timed call waits for
    its kernels. The first call's peak (cuDNN's algorithm trials) is kept apart from the later calls'."""
    events, peaks = [], iter([900.0, 300.0])
    monkeypatch.setattr(speed, "synchronize", lambda device: events.append("sync"))
    monkeypatch.setattr(speed, "reset_peak_memory", lambda device: events.append("reset"))
    monkeypatch.setattr(speed, "peak_memory_mb", lambda device: events.append("peak") or next(peaks))

    def function(image: torch.Tensor) -> torch.Tensor:
        events.append("call")
        return image

    row = speed.time_configuration(function, (torch.zeros(1, 3, 4, 4),), "fp32", "eager", torch.device("cpu"), 2)
    assert speed.WARMUP == 2
    first, warm_up, timed = ["reset", "call", "sync", "peak"], ["reset", "call", "call", "sync"], ["call", "sync"] * 2
    assert events == [*first, *warm_up, *timed, "call", "peak"]
    assert row["first_call_peak_memory_mb"] == 900.0 and row["peak_memory_mb"] == 300.0


def test_no_speed_configuration_starts_after_the_deadline():
    rows = speed.measure(make_plan("cpu", tiny=True), ModelConfig(**TINY_MODEL), deadline=time.perf_counter())["rows"]
    assert len(rows) == 16 and all(row.get("skipped") == "the time limit is reached" for row in rows)


@pytest.mark.slow
def test_a_compilation_that_fails_is_charged_to_the_compile_budget(monkeypatch):
    # A compiler that errors (no C compiler for Triton, say) must not be retried for every configuration.
    def failing_compile(function, inputs, dtype, mode, device, repeats):
        time.sleep(0.2)
        raise RuntimeError("the compiler failed")

    monkeypatch.setattr(speed, "time_configuration", failing_compile)
    plan = dataclasses.replace(make_plan("cpu", tiny=True), modes=("compile",), compile_budget_s=0.1)
    rows = speed.measure(plan, ModelConfig(**TINY_MODEL))["rows"]
    assert rows[0]["error"] == "RuntimeError: the compiler failed"
    assert len(rows) == 8 and all(row.get("skipped") == "compile budget of 0 s spent" for row in rows[1:])


def test_the_rows_measured_before_a_speed_part_error_stay_in_the_result(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sean_tools.gpu_check.cli import gpu_check

    def measure_then_fail(plan, config, on_row=None, deadline=None):
        on_row({"form": "dense", "dtype": "fp32", "mode": "eager", "batch": 1, "first_call_s": 1.0, "latency_s": 0.5,
                "p90_s": 0.5, "images_per_s": 2.0, "peak_memory_mb": None, "resident_before_mb": None})
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(speed, "measure", measure_then_fail)
    done = CliRunner().invoke(gpu_check, ["--device", "cpu", "--tiny", "--parts", "speed", "--out", str(tmp_path)])
    assert done.exit_code == 1, done.output
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["parts"]["speed"]["error"].startswith("RuntimeError: CUDA error: an illegal memory access")
    assert [row["latency_s"] for row in result["parts"]["speed"]["rows"]] == [0.5]
    assert result["complete"] and result["failures"][0].startswith("speed: RuntimeError")
    table = (tmp_path / "gpu_check.txt").read_text()
    assert "dense fp32 eager b1" in table and "ERROR RuntimeError: CUDA error" in table


@pytest.mark.slow
def test_a_pytest_run_past_its_time_is_stopped_with_the_processes_it_started(tmp_path):
    from sean_tools.gpu_check.cli import PytestStopped, run_pytest

    pid_file = tmp_path / "child.pid"
    (tmp_path / "test_slow.py").write_text(
        "import subprocess, sys, time\n"
        "import pytest\n"
        "def test_that_passes():\n"
        "    pass\n"
        "def test_that_skips():\n"
        "    pytest.skip('no reason')\n"
        "def test_that_hangs():\n"
        f"    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"    open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "    time.sleep(300)\n"
    )
    started = time.monotonic()
    with pytest.raises(PytestStopped, match="stopped after 8 s") as caught:
        run_pytest([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_slow.py"], tmp_path, 8.0)
    assert time.monotonic() - started < 60
    assert caught.value.outcomes() == ".s"  # what pytest -q printed for the tests that ended before the stop
    child_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_alive(child_pid):
        time.sleep(0.1)
    assert not process_alive(child_pid)


def process_alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its new parent to collect it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_time_limit_skips_the_parts_that_would_start_after_it(tmp_path, monkeypatch):
    """The four training runs (here 0.3 s each: the dry run test runs the real ones) take the run past its
    1 s limit: the parts after them are not run, which is no failure."""
    from click.testing import CliRunner

    from sean_tools.gpu_check import cli

    def train_steps(config_data, steps, device, amp, run_dir):
        time.sleep(0.3)
        return {"steps": steps, "batch": 2, "amp": "bf16 autocast" if amp else "off", "first_step_s": 0.1,
                "step_s_median": 0.05, "images_per_s": 40.0, "peak_memory_mb": None, "final_losses": {},
                "finite": True}

    monkeypatch.setattr(training, "train_steps", train_steps)
    out = tmp_path / "out"
    args = ["--device", "cpu", "--tiny", "--parts", "train,resume,speed", "--time-limit", "1", "--out", str(out)]
    done = CliRunner().invoke(cli.gpu_check, args)
    assert done.exit_code == 0, done.output  # a part not run is not a failed check
    result = json.loads((out / "gpu_check.json").read_text())
    assert result["complete"] and result["time_limit_s"] == 1
    assert len(result["parts"]["training"]) == 4 and set(result["parts"]) == {"training"}
    assert result["skipped_parts"] == ["resume", "speed"]
    table = (out / "gpu_check.txt").read_text()
    assert table.strip().endswith("all checks passed; not run, the time limit reached: resume, speed")


@pytest.mark.slow
def test_a_run_stopped_from_outside_leaves_what_it_had_measured(tmp_path):
    out = tmp_path / "out"
    check = subprocess.Popen(["bash", "scripts/gpu_check.sh", "--device", "cpu", "--tiny", "--parts", "train,speed",
                              "--out", str(out)], cwd=REPO, env={**os.environ, "PYTHON": sys.executable},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # until the first training run is written (each takes a second or more)
            if (out / "gpu_check.json").exists() and json.loads((out / "gpu_check.json").read_text())["parts"]:
                break
            assert check.poll() is None, "the check ended before it was stopped"
            time.sleep(0.05)
        os.killpg(check.pid, signal.SIGKILL)
    finally:
        check.wait(timeout=60)
    result = json.loads((out / "gpu_check.json").read_text())  # whole: written atomically
    assert not result["complete"] and 1 <= len(result["parts"]["training"]) <= 4
    assert result["parts"]["training"]["shapes AMP off"]["finite"]
    table = (out / "gpu_check.txt").read_text()
    assert table.strip().splitlines()[-1].startswith("INCOMPLETE (running, or stopped after")
    assert "shapes, 6 steps, batch 2, AMP off" in table


def test_the_full_plans_training_runs_bind_and_last_the_planned_steps():
    # The dry run uses the tiny plan only; the GPU run's configs are checked here, before a GPU sees them.
    from sean_train.train_config import RunConfig, bind_domain

    plan = make_plan("cuda", tiny=False)
    shapes, _ = bind_domain(RunConfig.from_dict(shapes_run_config(plan)))
    official, _ = bind_domain(RunConfig.from_dict(official_run_config(plan)))
    epochs = shapes.train.epochs + shapes.train.epochs_decay
    assert shapes.train.synthetic_train_size // shapes.train.batch_size * epochs == plan.shapes_steps == 50
    # killed between two checkpoints, late enough that a checkpoint exists to resume from
    assert plan.checkpoint_every < plan.kill_at < plan.shapes_steps and plan.kill_at % plan.checkpoint_every
    assert (official.model.height, official.model.ngf, official.model.style_dim) == (256, 64, 512)
    assert official.train.synthetic_train_size // official.train.batch_size >= plan.official_steps == 20


@pytest.mark.slow
def test_every_compile_row_is_compiled_in_its_own_precision(monkeypatch):
    # A torch.compile backend that records each graph it is given and runs it as traced: a compile row
    # timed without a compilation (PyTorch falls back to eager after recompile_limit compilations of
    # one code object) or traced outside its autocast would show here.
    traced = []

    def recording_backend(graph, example_inputs):
        traced.append({str(node.target) for node in graph.graph.nodes})
        return graph.forward

    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda function, **kw: compile_(function, backend=recording_backend, **kw))
    # PyTorch's limit lowered from 8 to 1, so that 3 compile rows pass it: two dtypes of one form and one
    # dtype of each form (a compiled function kept per dtype or per form only would give a row another
    # row's images). Training fp32 adds nothing to that and its trace is the slowest.
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    rows_of = speed.configurations
    monkeypatch.setattr(speed, "configurations", lambda plan: [
        c for c in rows_of(plan) if c != ("training", "fp32", "compile")])
    plan = dataclasses.replace(make_plan("cpu", tiny=True), dtypes=("fp32", "bf16"), modes=("eager", "compile"),
                               batches=(1,), compile_budget_s=3600.0)
    rows = speed.measure(plan, ModelConfig(**TINY_MODEL))["rows"]
    compiled = [r for r in rows if r["mode"] == "compile"]
    assert len(compiled) == 3 and all("latency_s" in r for r in compiled), compiled
    assert len(traced) >= 3  # at least one graph per (form, dtype): more than recompile_limit (1)
    autocast_entered = [any("enter_autocast" in target for target in graph) for graph in traced]
    assert sum(autocast_entered) >= 2 and not all(autocast_entered)  # the bf16 ones, not the fp32 ones
    eager = {(r["form"], r["dtype"]): r["psnr_vs_fp32_db"] for r in rows if r["mode"] == "eager" and r["batch"] == 1}
    for row in compiled:
        assert row["psnr_vs_fp32_db"] == pytest.approx(eager[row["form"], row["dtype"]], abs=0.5), row


# --- GPU-only PyTorch paths ------------------------------------------------------------------------------
@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("amp", [False, True])
def test_training_steps_on_cuda_with_and_without_amp(tmp_path, amp):
    plan = make_plan("cuda", tiny=True)
    run = training.train_steps(shapes_run_config(plan), 3, "cuda", amp, tmp_path / "run")
    assert run["finite"] and run["peak_memory_mb"] > 0


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("amp", ["off", "on"])
def test_training_on_cuda_runs_only_kernels_with_a_deterministic_implementation(tmp_path, amp):
    # Strict mode: PyTorch raises at an op without a deterministic CUDA kernel (ReflectionPad2d's backward
    # was one), where the check's warn-only mode lets the kill / resume runs drift apart. A process of its
    # own, so that cuBLAS starts with the fixed workspace determinism needs.
    script = (
        "import sys, torch\nfrom pathlib import Path\n"
        "from sean_tools.gpu_check import training\n"
        "from sean_tools.gpu_check.plan import make_plan, shapes_run_config\n"
        "torch.use_deterministic_algorithms(True)\n"
        "run = training.train_steps(shapes_run_config(make_plan('cuda', tiny=True)), 2, 'cuda', sys.argv[1] == 'on',"
        " Path(sys.argv[2]))\n"
        "assert run['finite'], run\n"
    )
    env = {**os.environ, **child.DETERMINISTIC_ENV}
    done = subprocess.run([sys.executable, "-c", script, amp, str(tmp_path / "run")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.cuda
@needs_cuda
def test_a_run_killed_and_resumed_on_cuda_equals_an_uninterrupted_one(tmp_path):
    plan = make_plan("cuda", tiny=True)
    result = training.kill_and_resume(shapes_run_config(plan), plan, tmp_path)
    assert result["resumed_from_checkpoint"] == 4
    assert result["identical"], result


@pytest.mark.cuda
@needs_cuda
def test_a_cuda_graph_replays_the_eager_result(tmp_path):
    from sean_export.graphs import graph_module
    from sean_train.weight_init import random_model

    device = torch.device("cuda")
    model = random_model(ModelConfig(**TINY_MODEL), seed=0).to(device).eval()
    run = speed.pipeline(graph_module(model, "encoder"), graph_module(model, "generator", inference=True).to(device))
    inputs = speed.model_inputs(model.config, 2, device)
    with torch.inference_mode(), exported.tf32(False):
        eager = run(*inputs).clone()
        replay = speed.graphed(run, inputs, lambda: exported.tf32(False))
        torch.testing.assert_close(replay(), eager, rtol=0, atol=1e-6)


@pytest.mark.cuda
@needs_cuda
def test_the_lookup_form_is_captured_in_a_cuda_graph():
    """Its label constants (ops.table_ids) are 0-dim CPU tensors: made on the GPU, they were copied from host
    memory, which CUDA-graph capture refuses."""
    from sean_export.graphs import graph_module
    from sean_train.networks.inference import fold_for_inference
    from sean_train.weight_init import random_model

    device = torch.device("cuda")
    model = random_model(ModelConfig(**TINY_MODEL), seed=0).to(device).eval()
    lookups = fold_for_inference(model.generator, "lookup", "lookup", region_mode="dense")
    run = speed.pipeline(graph_module(model, "encoder"), lookups)
    inputs = speed.model_inputs(model.config, 2, device)
    with torch.inference_mode(), exported.tf32(False):
        eager = run(*inputs).clone()
        replay = speed.graphed(run, inputs, lambda: exported.tf32(False))
        torch.testing.assert_close(replay(), eager, rtol=0, atol=1e-6)


@pytest.mark.cuda
@needs_cuda
def test_the_export_of_a_model_matches_it_on_cuda(tiny_export_checkpoint, tmp_path):
    result = exported.export_and_compare(tiny_export_checkpoint, "cuda", tmp_path)
    assert result["ok"], result


@pytest.mark.cuda
@needs_cuda
def test_the_tensorrt_backends_cuda_calls_move_the_bytes_on_a_gpu():
    # The CUDA half of the TensorRT backend (sean_runtime.backends.cuda) with the real cuda-python, which
    # GPU machines without TensorRT can still have: copies in, on and out of the device, and a device
    # array read after waiting for the stream that produced it.
    pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    from sean_runtime.backends.cuda import ALIGNMENT, Cuda, DeviceBuffer, device_array

    cuda = Cuda()
    cuda.set_device(0)
    stream = cuda.call("cudaStreamCreate", cuda.rt.cudaStreamCreate())
    first, second = DeviceBuffer(cuda), DeviceBuffer(cuda)
    host = np.arange(1000, dtype=np.float32)
    back = np.empty_like(host)
    try:
        a, b = first.reserve(host.nbytes), second.reserve(host.nbytes)
        assert a % ALIGNMENT == 0 and b % ALIGNMENT == 0
        cuda.to_device(a, host, stream)
        cuda.copy_on_device(b, a, host.nbytes, stream)
        cuda.to_host(back, b, stream)
        cuda.call("cudaStreamSynchronize", cuda.rt.cudaStreamSynchronize(stream))
        assert np.array_equal(back, host)

        producer = torch.cuda.Stream()
        with torch.cuda.stream(producer):
            doubled = torch.arange(1000, dtype=torch.float32, device="cuda") * 2
        given = device_array(doubled, "x", np.dtype(np.float32))
        cuda.wait_for(stream, producer.cuda_stream, cuda.new_event())
        cuda.copy_on_device(b, given.ptr, given.nbytes, stream)
        cuda.to_host(back, b, stream)
        cuda.call("cudaStreamSynchronize", cuda.rt.cudaStreamSynchronize(stream))
        assert np.array_equal(back, host * 2)
    finally:
        first.release()
        second.release()
        cuda.rt.cudaStreamDestroy(stream)


def test_tests_stopped_by_the_time_limit_are_a_stopped_part_unless_one_had_failed(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sean_tools.gpu_check import cli

    printed = {"output": ".s.\n"}

    def stopped(command, cwd, timeout_s):
        raise cli.PytestStopped(timeout_s, printed["output"], "")

    monkeypatch.setattr(cli, "run_pytest", stopped)
    assert cli.run_cuda_tests(75.0)["summary"] == "stopped by the time limit after 75 s: 2 passed, 1 skipped before"
    with pytest.raises(cli.PytestStopped):
        cli.run_cuda_tests(None)  # no time limit: 15 minutes were not enough, a failure
    args = ["--device", "cpu", "--parts", "tests", "--time-limit", "300", "--out", str(tmp_path)]
    done = CliRunner().invoke(cli.gpu_check, args)
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["failures"] == [] and result["stopped_parts"] == ["tests"] and result["parts"]["tests"]["stopped"]
    table = (tmp_path / "gpu_check.txt").read_text()
    assert re.search(r"tests +pytest -m cuda .* stopped by the time limit after \d+ s: 2 passed, 1 skipped before",
                     table)
    assert table.strip().endswith("all checks passed; stopped by the time limit: tests")
    printed["output"] = ".F\n"  # a test failed before the stop
    done = CliRunner().invoke(cli.gpu_check, args)
    assert done.exit_code == 1
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert re.match(r"tests marked cuda: PytestStopped: pytest -m cuda stopped after \d+ s", result["failures"][0])
    assert result["stopped_parts"] == []


def test_the_tests_part_leaves_time_for_speed_only_when_speed_runs(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sean_tools.gpu_check import cli

    given = []
    monkeypatch.setattr(cli, "run_cuda_tests", lambda timeout_s=None: given.append(timeout_s) or {"summary": "ok"})
    args = ["--device", "cpu", "--time-limit", "300", "--out", str(tmp_path)]
    done = CliRunner().invoke(cli.gpu_check, [*args, "--parts", "tests"])
    assert done.exit_code == 0, done.output
    assert 290 < given[0] <= 300  # no speed part to keep time for
    monkeypatch.setattr(speed, "measure", lambda *a, **kw: {"rows": []})
    done = CliRunner().invoke(cli.gpu_check, [*args, "--parts", "tests,speed"])
    assert done.exit_code == 0, done.output
    assert 140 < given[1] <= 150  # the speed part's reserve, make_plan's speed_reserve_s
