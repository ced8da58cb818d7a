"""Where a package's time goes (`sean bench --profile`): per-node times of the encoder and generator graphs
from ONNX Runtime's profiler or OpenVINO's performance counters, grouped by model part, block and operator.

One process per row, `python -m sean_tools.bench.profile < spec.json` (a WorkerSpec whose `repeats` is the
number of profiled runs), on the same inputs as the timed rows. The profiler's own cost is in the times.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from sean_tools.bench.inputs import timed_inputs
from sean_tools.bench.process import run_process
from sean_tools.bench.spec import PathSpec, WorkerSpec

# Substrings of node names (as the exporter names them after the PyTorch modules) -> the model part; the
# first match wins.
PARTS = (
    ("mask_branch/shared", "mask branch: shared conv on the one-hot"),
    ("/shared/", "mask branch: shared conv on the one-hot"),
    ("mask_table", "mask branch: shared conv on the one-hot"),
    ("mask_branch", "mask branch: gamma/beta convs"),
    ("modulation", "gamma/beta (folded)"),
    ("style", "style branch"),
    ("conv_0", "ResBlk convs"),
    ("conv_1", "ResBlk convs"),
    ("conv_s", "ResBlk convs"),
    ("shortcut", "ResBlk convs"),
    ("bn", "normalisation"),
    ("encoder", "encoder"),
)
PRODUCTS = frozenset({"Gemm", "MatMul", "FusedMatMul", "FullyConnected"})  # matrix products, as each runtime names them
GROUPS = ("part", "block", "operator")


# The exporter numbers a block's modules of one class (/up_1/regions, /up_1/regions_1, ...) and names the
# operators a module runs outside its own forward (a region-form block's channels-last SEAN arithmetic,
# FoldedNorm.forward_channels_last) under the block: /generator/up_3/Mul_5.
REGION_ROWS = re.compile(r"/regions(_\d+)?/")
BLOCK_OPERATOR = re.compile(r"/generator/(head|middle|up)_\d+/[A-Z]")
SEAN_ARITHMETIC = "SEAN layers: gathers, element-wise ops"


def part_of(node: str, op: str) -> str:
    """The model part of node `node` (operator `op`): region-form layers (networks.regions) split into the
    edge rows' products and the rest (gathers of rows and patches, their transposes, element-wise ops); a
    block's own operators (its SEAN arithmetic, activations and residual sum) are SEAN arithmetic too."""
    if REGION_ROWS.search(node):
        return "gamma/beta at region edges (products)" if op in PRODUCTS else SEAN_ARITHMETIC
    for key, part in PARTS:
        if key in node:
            return part
    if BLOCK_OPERATOR.search(node) and op in PRODUCTS:
        return "ResBlk convs"  # a region-form block's shortcut (PixelProduct.forward_channels_last)
    if "/norm_" in node or BLOCK_OPERATOR.search(node):
        return SEAN_ARITHMETIC
    return "other"


def block_of(node: str) -> str:
    """generator/up_3, generator/middle_0, ..., encoder, or the graph's top level. Blocks are the modules'
    names (lower case); an operator the exporter named under the graph itself (/generator/Gather_178/...)
    is top level."""
    match = re.search(r"/(generator|encoder)/([a-z]\w*)/", node)
    if match is None:
        return "top level (reorders, upsampling, ...)"
    return f"{match.group(1)}/{match.group(2)}" if match.group(1) == "generator" else match.group(1)


def grouped(nodes: list[tuple[str, str, float]], runs: int) -> dict[str, list[tuple[str, float]]]:
    """(node name, operator, microseconds over all runs) -> (group, milliseconds per run) by part, block and
    operator, largest first (lists: the JSON keeps their order)."""
    counts = {group: Counter() for group in GROUPS}
    for name, op, us in nodes:
        counts["part"][part_of(name, op)] += us
        counts["block"][block_of(name)] += us
        counts["operator"][op] += us
    return {group: [(key, us / runs / 1000) for key, us in counted.most_common()] for group, counted in counts.items()}


# --- the profilers ----------------------------------------------------------------------------------------
# (node name, operator, microseconds over the profiled runs) of every node run, the mean wall time per run,
# and the graph's outputs by name.
Profiled = tuple[list[tuple[str, str, float]], float, dict[str, np.ndarray]]


def onnxruntime_nodes(path: Path, feeds: dict[str, np.ndarray], threads: int, runs: int) -> Profiled:
    """ONNX Runtime's node times of `runs` runs after one warm-up (the warm-up's events are left out), the
    mean wall time per profiled run and the outputs by name, in a session made as the runtime's backend
    makes it."""
    import onnxruntime as ort

    from sean_runtime.backends.onnxruntime import session_options

    with tempfile.TemporaryDirectory(prefix="sean-profile-") as tmp:
        options = session_options(ort, threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / path.stem)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        outputs = dict(zip([port.name for port in session.get_outputs()], session.run(None, feeds), strict=True))
        started = time.perf_counter()
        for _ in range(runs):
            session.run(None, feeds)
        wall = (time.perf_counter() - started) / runs
        events = json.loads(Path(session.end_profiling()).read_text())
    warm_up = min((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    warm_up_end = warm_up["ts"] + warm_up["dur"]
    nodes = [(e["name"][: -len("_kernel_time")], e["args"].get("op_name", "?"), float(e["dur"])) for e in events
             if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= warm_up_end]
    return nodes, wall, outputs


def openvino_nodes(
    path: Path, feeds: dict[str, np.ndarray], threads: int, runs: int, hint: str
) -> Profiled:
    """OpenVINO's performance counters summed over `runs` runs after one warm-up, the mean wall time per
    run and the outputs by name, compiled as the runtime's backend compiles it (precision hint `hint`)."""
    from sean_runtime.backends.openvino import DEVICE, compile_config, new_core

    config = {**compile_config(hint, "LATENCY", threads), "PERF_COUNT": True}
    request = new_core().compile_model(str(path), DEVICE, config).create_infer_request()
    request.infer(feeds)
    outputs = {port.get_any_name(): np.array(request.get_tensor(port).data, copy=True)
               for port in request.model_outputs}
    nodes: list[tuple[str, str, float]] = []
    wall = 0.0
    for _ in range(runs):
        started = time.perf_counter()
        request.infer(feeds)
        wall += time.perf_counter() - started
        nodes += [(info.node_name, info.node_type, info.real_time.total_seconds() * 1e6)
                  for info in request.profiling_info]  # this run's counters
    return nodes, wall / runs, outputs


def profile_path(spec: WorkerSpec) -> dict[str, Any]:
    """Both graphs of spec's package profiled on the timed batch-1 inputs: per graph the wall time and node
    time per run and the grouped node times (ms per run)."""
    from sean_runtime.backends.feeds import encoder_feeds, generator_feeds
    from sean_runtime.package import load_package

    package = load_package(spec.package, verify=False)
    inputs = timed_inputs(spec, 1)
    runs = spec.repeats
    result: dict[str, Any] = {"runs": runs, "graphs": {}}
    feeds = encoder_feeds(inputs["image"], inputs["labels"])
    for graph in (package.encoder, package.generator):
        if spec.kind == "openvino":
            nodes, wall, outputs = openvino_nodes(graph.file, feeds, spec.threads, runs, spec.precision_hint or "f32")
        else:
            nodes, wall, outputs = onnxruntime_nodes(graph.file, feeds, spec.threads, runs)
        groups = grouped(nodes, runs)
        result["graphs"][graph.name] = {"wall_ms": wall * 1000, "nodes_ms": sum(ms for _, ms in groups["part"]),
                                        "nodes": len({name for name, _, _ in nodes}), **groups}
        if graph is package.encoder:
            feeds = generator_feeds(inputs["labels"], outputs["codes"], inputs["noise"], None)
    return result


def main() -> None:
    print(json.dumps(profile_path(WorkerSpec.from_json(sys.stdin.read()))))


# --- the parent -----------------------------------------------------------------------------------------
def run_profiles(
    rows: list[tuple[int, PathSpec]], common: WorkerSpec, runs: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Profile each (class count, path) row in its own process; one result row each."""

    out = []
    for classes, path in rows:
        spec = path.worker(common).replace(num_classes=classes, repeats=runs)
        done = run_process("sean_tools.bench.profile", spec.to_json(), common.threads, timeout_s)
        out.append({"classes": classes, "path": path.key, "label": path.label, "form": path.form, **done})
    return out


if __name__ == "__main__":
    main()
