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


def _difference(max_abs: float | None) -> str:
    """The largest image difference to the direct form; "-" where it was not computed (no checkpoint)."""
    return "-" if max_abs is None else f"{max_abs:.1e}"


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
            f"{row['peak_rss_mb']:.0f}", _difference(accuracy.get(key, {}).get("image_max_abs")),
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


def head(result: dict[str, Any]) -> list[str]:
    """The machine and model lines every report starts with."""
    machine, model = result["machine"], result["model"]
    return [
        f"{machine['cpu']}, {machine['cores']} cores, {result['settings']['threads']} threads; load average "
        f"{machine['load_average_start']} at start, {machine['load_average_end']} at end",
        f"model: {model['num_classes']} classes, {model['height']}x{model['width']}, style_dim {model['style_dim']}, "
        f"ngf {model['ngf']}, style_conv {model['style_conv']}; inputs: {result['settings'].get('inputs', '?')}",
    ]


def report(result: dict[str, Any]) -> str:
    gemm = result["gemm"]
    parts = [
        *head(result),
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
    for key, row in result["paths"].items():
        if "max_pixel_difference_vs_python_runtime" in row:
            parts.append(f"{key}: batch-1 image differs from the Python runtime's (OpenVINO f32, same uint8 inputs) "
                         f"by at most {row['max_pixel_difference_vs_python_runtime']} levels")
    parts += _footer(result)
    return "\n".join(parts)


def _footer(result: dict[str, Any]) -> list[str]:
    classes = [f"{skip['classes']} classes, " if "classes" in skip else "" for skip in result["skipped"]]
    return ([f"{where}{skip['label']}: skipped, {skip['skipped']}" for where, skip in zip(classes, result["skipped"],
                                                                                          strict=True)]
            + [f"note: {note}" for note in result["notes"]])


def alternate_table(rows: list[dict[str, Any]]) -> str:
    """One row per class count and path, in the order they alternated."""
    header = ["classes", "path", "enc ms", "syn ms", "both ms", "min ms", "x first", "x first, same classes",
              "max|Δ| first, same classes"]
    table = []
    for row in rows:
        if "median_s" not in row:
            table.append([str(row["classes"]), row["path"], *(["-"] * 6), f"error: {row.get('error', '?')[:80]}"])
            continue
        median = row["median_s"]
        difference = row.get("image_max_abs_vs_first_same_classes")
        table.append([
            str(row["classes"]), row["path"], _ms(median["encode"]), _ms(median["synthesize"]), _ms(median["both"]),
            _ms(row["min_s"]), f"{row['ratio_to_first']:.3f}",
            f"{row['ratio_to_first_same_classes']:.3f} ({row['first_same_classes']})",
            "-" if difference is None else f"{difference:.1e}",
        ])
    return format_table(header, table)


def alternate_report(result: dict[str, Any]) -> str:
    rounds = result["settings"]["rounds"]
    parts = [
        *head(result),
        f"{rounds} alternating rounds in one process, encode + synthesize, batch 1; medians, and the median of "
        "the paired (same round) ratios to the first row and to the first row of the same class count",
        "",
        alternate_table(result["alternate"]),
        *_footer(result),
    ]
    return "\n".join(parts)


def profile_report(result: dict[str, Any], top: int = 12) -> str:
    """Per row and graph: the wall and node time per run, then the largest `top` groups of each kind."""
    parts = [*head(result), f"per-node profile, {result['settings']['rounds']} runs after a warm-up, batch 1 "
             "(the profiler's cost is in the times)"]
    for row in result["profile"]:
        where = f"{row['classes']} classes, {row['path']} ({row['label']})"
        if "graphs" not in row:
            parts += ["", f"{where}: error: {row.get('error', '?')}"]
            continue
        for name, graph in row["graphs"].items():
            parts += ["", f"{where}, {name}: {graph['wall_ms']:.1f} ms per run, {graph['nodes_ms']:.1f} ms in "
                      f"{graph['nodes']} nodes"]
            total = graph["nodes_ms"] or 1.0
            table = [[group, key, f"{ms / total:.1%}", f"{ms:.2f}"]
                     for group in ("part", "block", "operator") for key, ms in graph[group][:top]]
            parts.append(format_table(["by", "group", "share", "ms per run"], table))
    parts += _footer(result)
    return "\n".join(parts)
