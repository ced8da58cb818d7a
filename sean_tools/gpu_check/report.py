"""The one table `sean gpu-check` prints, from its JSON result."""

from __future__ import annotations

from typing import Any

from sean_core.text_table import format_table

HEADER = ("part", "configuration", "ms", "img/s", "TFLOP/s", "peak MB", "vs fp32", "result")


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _verdict_row(part: str, what: str, result: str) -> tuple[str, ...]:
    """A row with only a result (an error, a comparison, a skip): the measurement columns stay "-"."""
    return (part, what, *["-"] * (len(HEADER) - 3), result)


def _training_rows(parts: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for name, run in parts.get("training", {}).items():
        if "error" in run:
            rows.append(_verdict_row("train", name, f"ERROR {run['error'][:80]}"))
            continue
        what = f"{name.split(' AMP')[0]}, {run['steps']} steps, batch {run['batch']}, AMP {run['amp']}"
        rows.append(("train", what, _number(run["step_s_median"] * 1000), _number(run["images_per_s"]), "-",
                     _number(run["peak_memory_mb"], 0), "-", "finite" if run["finite"] else "NOT FINITE"))
    return rows


def _resume_rows(parts: dict[str, Any]) -> list[tuple[str, ...]]:
    run = parts.get("resume")
    if not run:
        return []
    if "error" in run:
        return [_verdict_row("resume", "kill -9, --resume", f"ERROR {run['error'][:80]}")]
    what = f"killed in step {run['killed_during_step']}, resumed from {run['resumed_from_checkpoint']}"
    verdict = "identical" if run["identical"] else f"DIFFERS by {run['max_abs_difference']:.2e}"
    if "run_to_run_difference" in run:
        verdict += f" (two uninterrupted runs: {run['run_to_run_difference']:.2e})"
    return [_verdict_row("resume", what, verdict)]


def _export_rows(parts: dict[str, Any]) -> list[tuple[str, ...]]:
    run = parts.get("export")
    if not run:
        return []
    if "error" in run:
        return [_verdict_row("export", "sean eval / sean export", f"ERROR {run['error'][:80]}")]
    rows = []
    if run.get("eval"):
        rows.append(_verdict_row("eval", f"sean eval, {run['eval']['images']} test images",
                                 f"PSNR {run['eval']['psnr_db']:.2f} dB"))
    for name, row in run["compare"]["graphs"].items():
        extra = f", TF32 default {row['max_abs_tf32_default']:.1e}" if "max_abs_tf32_default" in row else ""
        verdict = "ok" if row["within_tolerance"] else "OVER"
        rows.append(_verdict_row("export", f"{name}: ONNX on CPU vs model on the device",
                                 f"{row['max_abs']:.1e} <= {run['compare']['tolerance']:g} {verdict}{extra}"))
    return rows


def _speed_rows(parts: dict[str, Any]) -> list[tuple[str, ...]]:
    speed = parts.get("speed")
    if not speed:
        return []
    rows = []
    for row in speed.get("rows", []):  # an error outside the rows keeps those measured before it
        what = f"{row['form']} {row['dtype']} {row['mode']} b{row['batch']}"
        if "skipped" in row or "error" in row:
            text = f"skipped: {row['skipped']}" if "skipped" in row else f"ERROR {row['error'][:80]}"
            rows.append(_verdict_row("speed", what, text))
            continue
        reference = (row["dtype"], row["mode"]) == ("fp32", "eager")
        vs = "ref" if reference and "psnr_vs_fp32_db" in row else (
            f"{row['psnr_vs_fp32_db']:.1f} dB" if "psnr_vs_fp32_db" in row else "-"
        )
        rows.append(("speed", what, _number(row["latency_s"] * 1000, 2), _number(row["images_per_s"]),
                     _number(row.get("tflop_per_s"), 2), _number(row["peak_memory_mb"], 0), vs,
                     f"first call {row['first_call_s']:.1f} s"))
    if "error" in speed:
        rows.append(_verdict_row("speed", "encoder + generator", f"ERROR {speed['error'][:80]}"))
    return rows


def _tests_rows(parts: dict[str, Any]) -> list[tuple[str, ...]]:
    run = parts.get("tests")
    if not run:
        return []
    text = f"ERROR {run['error'].splitlines()[0][:80]}" if "error" in run else run["summary"]
    return [_verdict_row("tests", "pytest -m cuda", text)]


def table(result: dict[str, Any]) -> str:
    parts = result["parts"]
    rows = [*_training_rows(parts), *_resume_rows(parts), *_export_rows(parts), *_speed_rows(parts),
            *_tests_rows(parts)]
    env = result["environment"]
    head = f"{env.get('device_name', '?')}; torch {env.get('torch')}, CUDA {env.get('cuda') or '-'}"
    verdict = "all checks passed" if not result["failures"] else f"first failure: {result['failures'][0]}"
    if result.get("stopped_parts"):
        verdict += f"; stopped by the time limit: {', '.join(result['stopped_parts'])}"
    if result.get("skipped_parts"):
        verdict += f"; not run, the time limit reached: {', '.join(result['skipped_parts'])}"
    if not result.get("complete", True):
        verdict = f"INCOMPLETE (running, or stopped after {result.get('seconds', 0):.0f} s); so far: {verdict}"
    return f"{head}\n{format_table(HEADER, rows)}\n{verdict}"
