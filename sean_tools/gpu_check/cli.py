"""The `sean gpu-check` command (scripts/gpu_check.sh runs it)."""

from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import click

from sean_core.command import Amount, SeanCommand
from sean_core.files import atomic_write_json, atomic_write_text, make_dirs

PARTS = ("train", "resume", "export", "tests", "speed")  # in the order they run
CUDA_TESTS = "tests/test_gpu_check.py"  # the tests marked `cuda` that the "tests" part runs (needs pytest)
MIN_TESTS_S = 60.0  # the tests part's time at the least, whatever the time limit leaves
RESULT_FILE = "gpu_check.json"
TABLE_FILE = "gpu_check.txt"


def environment(device: str) -> dict[str, Any]:
    """Versions and the device, as the JSON records them."""
    import torch

    facts: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "processor": platform.processor() or platform.machine(),
    }
    if device == "cuda":
        properties = torch.cuda.get_device_properties(0)
        facts.update(device_name=properties.name, compute_capability=f"{properties.major}.{properties.minor}",
                     memory_gb=round(properties.total_memory / 2**30, 1), gpus=torch.cuda.device_count())
    else:
        facts["device_name"] = "CPU"
    return facts


def attempt(result: dict[str, Any], name: str, work: Any) -> Any:
    """Run one part; its failure is recorded (first failure first) and the next part still runs."""
    started = time.perf_counter()
    click.echo(f"gpu-check: {name} ...", err=True)
    try:
        value = work()
    except Exception as exc:
        message = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
        result["failures"].append(f"{name}: {message.splitlines()[0] if message else type(exc).__name__}")
        click.echo(f"gpu-check: {name} failed: {message}\n{traceback.format_exc(limit=3)}", err=True)
        value = {"error": message}
    click.echo(f"gpu-check: {name} took {time.perf_counter() - started:.0f} s", err=True)
    return value


def default_out() -> Path | None:
    return Path(os.environ["OUT"]) if os.environ.get("OUT") else None


@click.command(cls=SeanCommand)
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True,
              help="Where training, evaluation and the timings run (cpu: a dry run of the same steps).")
@click.option("--tiny", is_flag=True,
              help="A 64² model with 4-channel layers and a few steps: the dry run, for a CPU.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Folder for {RESULT_FILE} and {TABLE_FILE} [default: $OUT when set].")
@click.option("--parts", default=None,
              help="Which parts to run, comma-separated: " + ", ".join(PARTS) + " [default: all; on the CPU all "
              "but tests, the pytest run of the tests marked cuda].")
@click.option("--compile-budget", "compile_budget_s", type=Amount(0, 3600), default=None,
              help="Seconds of torch.compile compiling to spend at most [default: 90 on a GPU, 0 with --tiny].")
@click.option("--time-limit", "time_limit_s", type=Amount(1, 86400), default=None,
              help="Seconds after which no further part or speed configuration starts; those are recorded "
              "as skipped [default: none].")
def gpu_check(
    device: str, tiny: bool, out_dir: Path | None, parts: str | None, compile_budget_s: float | None,
    time_limit_s: float | None,
) -> None:
    """Train, resume, evaluate, export and time the model on a CUDA GPU, in one run: one table, one JSON.

    Training: the shapes config and official-size widths, AMP (bf16 autocast) off and on; a run killed
    with SIGKILL and resumed must end with the weights of an uninterrupted run on the same device.
    Export: `sean eval` and `sean export` of that run; the graphs on the CPU against the model on the
    device. Speed: encoder + generator at the official size in the training and the dense inference
    form, fp32 / TF32 / fp16 / bf16, eager / CUDA graphs / torch.compile, batch 1, 8, 16, with peak
    memory and PSNR against fp32. Exits 1 when a check fails (the table names the first).

    The JSON and the table are rewritten after every part and every speed configuration, so a run
    stopped from outside leaves what it had measured ("complete": false). The parts run in the order
    train, resume, export, tests, speed; speed configurations run the most wanted first.

    \b
    Examples:
      sean gpu-check --out gpu-results
      sean gpu-check --device cpu --tiny --out /tmp/gpu-check-dry-run
      sean gpu-check --device cpu --tiny --parts train,resume --out /tmp/gpu-check-dry-run
      sean gpu-check --time-limit 420 --out "$OUT"
    """
    import dataclasses

    import torch

    from sean_tools.gpu_check import exported, report, speed, training
    from sean_tools.gpu_check.plan import make_plan, official_run_config, shapes_run_config
    from sean_train.distributed import usable_device

    out_dir = out_dir or default_out()
    if out_dir is None:
        raise click.UsageError("give --out DIR (or set $OUT)")
    if parts is None:
        parts = ",".join(p for p in PARTS if device == "cuda" or p != "tests")
    chosen = [part.strip() for part in parts.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown or not chosen:
        raise click.UsageError(f"--parts takes {', '.join(PARTS)}; got {parts!r}")
    usable_device(device, fix="use --device cpu --tiny for a dry run")  # the message every --device shares
    make_dirs(out_dir)
    if device == "cpu" and tiny:  # the dry run: one thread, in this process and the ones it starts
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)
    plan = make_plan(device, tiny)
    if compile_budget_s is not None:
        plan = dataclasses.replace(plan, compile_budget_s=compile_budget_s)
    started = time.perf_counter()
    deadline = None if time_limit_s is None else started + time_limit_s
    result: dict[str, Any] = {
        "command": " ".join(["sean gpu-check", *sys.argv[1:]]) if "gpu-check" in sys.argv else "sean gpu-check",
        "plan": plan.to_dict(), "time_limit_s": time_limit_s, "environment": environment(device), "parts": {},
        "failures": [], "skipped_parts": [], "stopped_parts": [], "complete": False,
    }

    def save() -> None:
        """The result so far, table and JSON, each replaced atomically; the JSON last, so that a JSON holding
        a part means the table shows it too."""
        result["seconds"] = time.perf_counter() - started
        atomic_write_text(out_dir / TABLE_FILE, report.table(result) + "\n")
        atomic_write_json(out_dir / RESULT_FILE, result)

    def starting(part: str) -> bool:
        """Whether `part` may start: the time limit is not reached (else it is recorded as skipped)."""
        if deadline is not None and time.perf_counter() >= deadline:
            result["skipped_parts"].append(part)
            click.echo(f"gpu-check: {part} skipped: the time limit of {time_limit_s:.0f} s is reached", err=True)
            return False
        return True

    with tempfile.TemporaryDirectory(prefix="sean-gpu-check-") as scratch:
        work = Path(scratch)
        if "train" in chosen and starting("train"):
            runs = result["parts"]["training"] = {}
            for name, data, steps in (
                ("shapes", shapes_run_config(plan), plan.shapes_steps),
                ("official-size", official_run_config(plan), plan.official_steps),
            ):
                for amp in (False, True):
                    label = f"{name} AMP {'on' if amp else 'off'}"
                    runs[label] = attempt(
                        result, f"train {label}",
                        lambda data=data, steps=steps, amp=amp, name=name: training.train_steps(
                            data, steps, device, amp, work / f"train-{name}-{int(amp)}"
                        ),
                    )
                    save()
        if ("resume" in chosen or "export" in chosen) and starting("resume"):  # export uses the resume part's run
            shapes = shapes_run_config(plan)
            result["parts"]["resume"] = attempt(
                result, "kill and resume", lambda: training.kill_and_resume(shapes, plan, work / "resume")
            )
            save()
        if "export" in chosen and starting("export"):
            run_dir = work / "resume" / "uninterrupted"

            def export_part() -> dict[str, Any]:
                from sean_core.checkpoint_files import latest_checkpoint

                checkpoint = latest_checkpoint(run_dir)
                if checkpoint is None:
                    raise RuntimeError(f"no trained checkpoint in {run_dir} (the resume part failed)")
                return {
                    "eval": exported.eval_checkpoint(run_dir, device, work, limit=4 if tiny else 32),
                    "compare": exported.export_and_compare(checkpoint, device, work),
                }

            result["parts"]["export"] = attempt(result, "eval and export", export_part)
            if result["parts"]["export"].get("compare", {}).get("ok") is False:
                result["failures"].append("export: the graphs on the CPU differ from the model beyond the tolerance")
            save()
        if "tests" in chosen and starting("tests"):
            # under a time limit the tests stop early enough to leave the speed part plan.speed_reserve_s
            reserve = plan.speed_reserve_s if "speed" in chosen else 0.0
            allowed = None if deadline is None else deadline - time.perf_counter() - reserve
            result["parts"]["tests"] = attempt(result, "tests marked cuda", lambda: run_cuda_tests(allowed))
            if result["parts"]["tests"].get("stopped"):
                result["stopped_parts"].append("tests")
            save()
        if "speed" in chosen and starting("speed"):
            from sean_tools.gpu_check.plan import TINY_MODEL
            from sean_train.config import ModelConfig

            config = ModelConfig(**TINY_MODEL) if tiny else ModelConfig()
            rows_so_far: list[dict[str, Any]] = []

            def measured(row: dict[str, Any]) -> None:
                rows_so_far.append(row)
                result["parts"]["speed"] = {"rows": rows_so_far}
                save()

            result["parts"]["speed"] = attempt(
                result, "speed", lambda: speed.measure(plan, config, on_row=measured, deadline=deadline)
            )
            if "error" in result["parts"]["speed"]:  # what was measured before the error stays in the result
                result["parts"]["speed"]["rows"] = rows_so_far
    add_checks(result)
    result["complete"] = True
    save()
    click.echo(report.table(result))
    click.echo(f"wrote {out_dir / RESULT_FILE} ({result['seconds']:.0f} s)", err=True)
    if result["failures"]:
        sys.exit(1)


def run_cuda_tests(timeout_s: float | None = None) -> dict[str, Any]:
    """pytest -m cuda on the check's tests, in the checkout this module runs from, stopped after
    `timeout_s` seconds, what the time limit leaves them (at least MIN_TESTS_S; 15 minutes without a
    time limit). Stopped by the time limit with no test failed so far, the part is "stopped", not failed: its
    summary counts the tests that passed before."""
    repo = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", CUDA_TESTS]
    try:
        return run_pytest(command, repo, 900.0 if timeout_s is None else max(MIN_TESTS_S, timeout_s))
    except PytestStopped as stop:
        outcomes = stop.outcomes()
        if timeout_s is None or set(outcomes) - {".", "s"}:
            raise
        return {"command": " ".join(command[1:]), "stopped": True,
                "summary": f"stopped by the time limit after {stop.seconds:.0f} s: {outcomes.count('.')} passed, "
                           f"{outcomes.count('s')} skipped before"}


class PytestStopped(RuntimeError):
    """A pytest run stopped after the time it was given; `output`: its stdout until then."""

    def __init__(self, seconds: float, output: str, errors: str) -> None:
        super().__init__(f"pytest -m cuda stopped after {seconds:.0f} s, the time it was given:\n"
                         f"{output[-3000:]}{errors[-1000:]}")
        self.seconds = seconds
        self.output = output

    def outcomes(self) -> str:
        """The outcome letters `pytest -q` printed for the tests that ended (".", "F", "E", "s", "x", ...)."""
        lines = (re.fullmatch(r"([.FEsxX]+)\s*(\[\s*\d+%\])?", line.strip()) for line in self.output.splitlines())
        return "".join(match.group(1) for match in lines if match)


def run_pytest(command: list[str], cwd: Path, timeout_s: float) -> dict[str, Any]:
    """Run a pytest command; its summary line, or an error with its output's tail. A run past `timeout_s`
    is killed with every process it started (the tests' training children hold the GPU otherwise) and
    raises PytestStopped."""
    import signal
    import subprocess

    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            raise PytestStopped(timeout_s, stdout, stderr) from None
    summary = (stdout.strip().splitlines() or [""])[-1]
    if process.returncode != 0:
        raise RuntimeError(f"pytest -m cuda exited {process.returncode}: {summary}\n{stdout[-3000:]}{stderr[-1000:]}")
    return {"command": " ".join(command[1:]), "summary": summary}


def add_checks(result: dict[str, Any]) -> None:
    """Failures beyond raised errors: losses or weights not finite, resumed weights not identical, a speed
    configuration that errored (a skipped one is not a failure)."""
    parts, failures = result["parts"], result["failures"]
    for name, run in parts.get("training", {}).items():
        if "error" not in run and not run["finite"]:
            failures.append(f"train {name}: losses or weights are not finite")
    resume = parts.get("resume", {})
    if "error" not in resume and resume and not resume["identical"]:
        failures.append(f"resume: the resumed weights differ by {resume['max_abs_difference']:.2e}")
    for row in parts.get("speed", {}).get("rows", []):
        if "error" in row:
            failures.append(f"speed {row['form']} {row['dtype']} {row['mode']} b{row['batch']}: {row['error']}")
