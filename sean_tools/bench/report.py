"""The tables `sean bench` prints: every path side by side, batch scaling, class scaling."""

from __future__ import annotations

from typing import Any

from sean_core.text_table import format_table


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _gflops(rate: float | None) -> str:
    return "not installed" if rate is None else f"{rate:.0f} GFLOP/s"


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.0%}"


def main_table(result: dict[str, Any]) -> str:
    batches = result["settings"]["batch_sizes"]
    big = str(max(batches))
    several = big != "1"  # one throughput column when only batch 1 is timed
    rates = ["img/s b1"] + ([f"img/s b{big}"] if several else [])
    header = ["path", "form", "enc ms", "syn ms", "both ms", "p90 ms", *rates,
              "GFLOP", "GFLOP/s", "of peak", "peak RSS MB", "max|Δ| direct"]
    rows = []
    accuracy = result.get("accuracy", {})
    for key, row in result["paths"].items():
        if "batches" not in row:
            error = f"error: {row.get('error', '?')[:80]}"
            rows.append([row["label"], row["form"], *(["-"] * (len(header) - 3)), error])
            continue
        one, last = row["batches"]["1"], row["batches"][big]
        counted = "gflops_per_s" in row  # FLOPs are counted with torch installed
        rows.append([
            row["label"], row["form"], _ms(one["encode"]["median_s"]), _ms(one["synthesize"]["median_s"]),
            _ms(one["both"]["median_s"]), _ms(one["both"]["p90_s"]), f"{1 / one['both']['median_s']:.2f}",
            *([f"{int(big) / last['both']['median_s']:.2f}"] if several else []),
            f"{row['gflop']['both']:.1f}" if counted else "-",
            f"{row['gflops_per_s']['both']:.1f}" if counted else "-",
            _percent(row["fraction_of_peak"]["both"] if counted else None),
            f"{row['peak_rss_mb']:.0f}", f"{accuracy.get(key, {}).get('image_max_abs', float('nan')):.1e}",
        ])
    return format_table(header, rows)


def batch_table(result: dict[str, Any]) -> str:
    batches = [str(b) for b in result["settings"]["batch_sizes"]]
    header = ["ms per image (encode + synthesize)", *(f"b{b}" for b in batches)]
    rows = []
    for row in result["paths"].values():
        if "batches" in row:
            rows.append([row["label"], *(_ms(row["batches"][b]["both"]["median_s"] / int(b)) for b in batches)])
    return format_table(header, rows)


def classes_table(result: dict[str, Any]) -> str:
    """One row per class count and path; "x first" is the time against the same path's first class count."""
    header = ["classes", "path", "GFLOP", "enc ms", "syn ms", "both ms", "x first"]
    first: dict[str, float] = {}
    rows = []
    for row in result["classes_scaling"]:
        if "both" not in row:
            rows.append([str(row["classes"]), row["path"], "-", "-", "-", f"error: {row.get('error', '?')[:60]}", "-"])
            continue
        both = row["both"]["median_s"]
        first.setdefault(row["path"], both)
        rows.append([str(row["classes"]), row["path"], f"{row['gflop']['both']:.1f}", _ms(row["encode"]["median_s"]),
                     _ms(row["synthesize"]["median_s"]), _ms(both), f"{both / first[row['path']]:.2f}"])
    return format_table(header, rows)


def report(result: dict[str, Any]) -> str:
    gemm, machine, model = result["gemm"], result["machine"], result["model"]
    parts = [
        f"{machine['cpu']}, {machine['cores']} cores, {result['settings']['threads']} threads; load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end",
        f"model: {model['num_classes']} classes, {model['height']}x{model['width']}, style_dim {model['style_dim']}, "
        f"ngf {model['ngf']}, style_conv {model['style_conv']}; inputs: {result['settings'].get('inputs', '?')}",
        f"fp32 GEMM {gemm.get('size')}² at the start: numpy {gemm.get('numpy_gflops', 0):.0f} GFLOP/s, torch "
        f"{_gflops(gemm.get('torch_gflops'))}; best in the run {gemm['peak_gflops']:.0f} GFLOP/s "
        f"({gemm['peak_from']}) = the peak below",
        "",
        main_table(result),
        "",
        batch_table(result),
    ]
    if result["classes_scaling"]:
        parts += ["", classes_table(result)]
    openvino = [(k, r) for k, r in result["paths"].items() if k.startswith("openvino") and "execution_precision" in r]
    for key, row in openvino:
        psnr_note = result.get("accuracy", {}).get(key, {}).get("psnr_vs_openvino_f32_db")
        extra = f", image PSNR vs OpenVINO f32 {psnr_note:.1f} dB" if psnr_note is not None else ""
        parts.append(f"{key}: executes {row['execution_precision']} (CPU capabilities {row['capabilities']}){extra}")
    parts += [f"{skip['label']}: skipped, {skip['skipped']}" for skip in result["skipped"]]
    parts += [f"note: {note}" for note in result["notes"]]
    return "\n".join(parts)
