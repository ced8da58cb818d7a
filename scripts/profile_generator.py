r"""Where the generator's time goes in ONNX Runtime: per-node profile grouped by model part.

Exports the graphs of a random official-size model (or any ModelConfig override) once into a work
folder, then runs ONNX Runtime's profiler and prints the time per part (mask branch, style branch,
ResBlk convolutions, normalisation, ...) and per operator type. With --compare it times cases (the
official loops, or an exported form on ONNX Runtime / OpenVINO, at a class count) against each other in
one process, alternating A B C A B C, and prints medians and paired ratios to the first case.

    python scripts/profile_generator.py --classes 19 --form direct-auto
    python scripts/profile_generator.py --classes 151 --form inference --runs 3
    python scripts/profile_generator.py --compare 19:official 19:direct-auto 19:inference 19:inference:openvino
    python scripts/profile_generator.py --labels faces --compare 19:official 19:inference 19:regions 19:regions:openvino
    python scripts/profile_generator.py --runs 5 \
        --compare 19:inference 151:inference 19:inference:openvino 151:inference:openvino
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np

# The training form with style_conv="auto"; the folded inference form as packages ship it (dense); the
# folded form of `sean export --form regions` (region form from forms.REGION_MIN_PIXELS up).
FORMS = ("direct-auto", "inference", "regions")


def export_graphs(workdir: Path, classes: int, form: str, seed: int = 0) -> Path:
    """Export encoder.onnx / generator.onnx of a random model with `classes` classes in `form` (cached)."""
    import torch

    from sean_export.graphs import graph_module, graph_spec
    from sean_export.onnx_export import export_to_onnx, save_onnx
    from sean_export.opsets import DEFAULT_OPSET
    from sean_export.validate import random_inputs
    from sean_train.config import ModelConfig
    from sean_train.weight_init import random_model

    folder = workdir / f"k{classes}-{form}"
    if (folder / "generator.onnx").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    config = ModelConfig(num_classes=classes)
    model = random_model(config, seed=seed)
    for name in ("encoder", "generator"):
        spec = graph_spec(config, name)
        feeds = random_inputs(spec, config, 2, np.random.default_rng(0))
        example = tuple(torch.from_numpy(feeds[n]) for n in spec.input_names)
        module = graph_module(model, name, inference=form != "direct-auto", regions=form == "regions")
        started = time.perf_counter()
        proto = export_to_onnx(module, spec, example, DEFAULT_OPSET)
        save_onnx(proto, folder / f"{name}.onnx")
        print(f"exported {folder.name}/{name}.onnx in {time.perf_counter() - started:.0f} s")
    return folder


def feeds_for(classes: int, layout: str, batch: int = 1, seed: int = 0) -> tuple[dict, dict]:
    """Encoder and generator feeds: uniform image, labels in `layout` (bench.inputs.LABEL_LAYOUTS: "blocks",
    8-px blocks of random classes as `sean bench`, or "faces"), zero noise."""
    from sean_tools.bench.inputs import LABEL_LAYOUTS
    from sean_train.config import ModelConfig
    from sean_train.networks.generator import noise_layout

    config = ModelConfig(num_classes=classes)
    rng = np.random.default_rng(seed)
    h, w = config.height, config.width
    labels = LABEL_LAYOUTS[layout](rng, batch, classes, h, w)
    image = rng.uniform(-1, 1, (batch, 3, h, w)).astype(np.float32)
    noise = np.zeros((batch, noise_layout(config).numel), np.float32)
    codes = rng.uniform(-1, 1, (batch, classes, config.style_dim)).astype(np.float32)
    return {"image": image, "labels": labels}, {"labels": labels, "codes": codes, "noise": noise}


def session(path: Path, threads: int, profile: bool = False, shared_arena: bool = True):
    """An ONNX Runtime CPU session as sean_runtime's backend makes it (shared_arena False: no arena)."""
    import onnxruntime as ort

    from sean_runtime.backends.onnxruntime import session_options

    options = session_options(ort, threads, shared_arena)
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = str(path.with_suffix(""))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# Substrings of node names -> part of the model (first match wins).
PARTS = (
    ("mask_branch/shared", "mask branch: shared conv on the one-hot"),
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


PRODUCTS = frozenset({"Gemm", "MatMul", "FusedMatMul", "FullyConnected"})


def part_of(node: str, op: str) -> str:
    """The model part of node `node` (operator `op`): region-form layers (networks.regions) split into
    the edge rows' products and the rest (gathers of rows and patches, their transposes, element-wise ops)."""
    if "/regions/" in node and op in PRODUCTS:
        return "gamma/beta at region edges (products)"
    for key, part in PARTS:
        if key in node:
            return part
    if "/norm_" in node:
        return "SEAN layers: gathers, element-wise ops"
    return "other"


def block_of(node: str) -> str:
    """generator/up_3, generator/middle_0, ..., encoder, or the graph's top level."""
    match = re.search(r"/(generator|encoder)/(\w+)/", node)
    if match is None:
        return "top level (reorders, upsampling, ...)"
    return f"{match.group(1)}/{match.group(2)}" if match.group(1) == "generator" else match.group(1)


def profile(folder: Path, graph: str, feeds: dict, threads: int, runs: int, backend: str) -> None:
    """Per-node times of `runs` runs (after one warm-up) grouped by model part and by operator."""
    by_part: Counter = Counter()  # microseconds over all runs
    by_op: Counter = Counter()
    by_block: Counter = Counter()
    path = folder / f"{graph}.onnx"
    if backend == "openvino":
        import openvino as ov

        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
                  "PERF_COUNT": True}
        request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()
        request.infer(feeds)
        started = time.perf_counter()
        for _ in range(runs):
            request.infer(feeds)
            for info in request.profiling_info:  # the last run's counters
                us = info.real_time.total_seconds() * 1e6
                by_part[part_of(info.node_name, info.node_type)] += us
                by_op[info.node_type] += us
                by_block[block_of(info.node_name)] += us
        wall = (time.perf_counter() - started) / runs
    else:
        sess = session(path, threads, profile=True)
        sess.run(None, feeds)
        started = time.perf_counter()
        for _ in range(runs):
            sess.run(None, feeds)
        wall = (time.perf_counter() - started) / runs
        for event in json.loads(Path(sess.end_profiling()).read_text()):
            if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
                continue
            name = event["name"][: -len("_kernel_time")]
            op = event["args"].get("op_name", "?")
            by_part[part_of(name, op)] += event["dur"]
            by_op[op] += event["dur"]
            by_block[block_of(name)] += event["dur"]
        runs += 1  # the profile holds the warm-up too
    total = sum(by_part.values())
    print(f"\n{folder.name}/{graph} on {backend}: {wall * 1000:.0f} ms per run (mean of {runs}, profiler on)")
    for label, counts in (("part", by_part), ("block", by_block), ("operator", by_op)):
        for key, us in counts.most_common(12):
            print(f"  {label:8} {key:44} {us / total:6.1%}  {us / runs / 1000:8.1f} ms")


def openvino_runner(path: Path, threads: int):
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()

    def run(feeds: dict) -> np.ndarray:
        request.infer(feeds)
        return np.array(request.get_output_tensor(0).data, copy=True)

    return run


def onnxruntime_runner(path: Path, threads: int, shared_arena: bool = True):
    sess = session(path, threads, shared_arena=shared_arena)
    return lambda feeds: sess.run(None, feeds)[0]


BACKENDS = {
    "onnxruntime": onnxruntime_runner,
    "onnxruntime-no-arena": lambda path, threads: onnxruntime_runner(path, threads, shared_arena=False),
    "openvino": lambda path, threads: openvino_runner(path, threads),
}


def official_runner(classes: int, threads: int, seed: int = 0):
    """encode + synthesize with the official algorithm (Python loops over classes) on the same random weights."""
    import torch

    from sean_tools.bench.official import official_reference
    from sean_train.config import ModelConfig
    from sean_train.convert_official import to_official_state
    from sean_train.networks.ops import one_hot
    from sean_train.weight_init import random_model

    oracle = official_reference()
    official_encode, official_generate = oracle.official_encode, oracle.official_generate

    torch.set_num_threads(threads)
    config = ModelConfig(num_classes=classes)
    state = to_official_state(random_model(config, seed=seed))

    def run(enc_feeds: dict, gen_feeds: dict) -> np.ndarray:
        with torch.inference_mode():
            seg = one_hot(torch.from_numpy(enc_feeds["labels"]), classes)
            codes = official_encode(state, torch.from_numpy(enc_feeds["image"]), seg)
            return official_generate(state, seg, codes, config.latent_size, config.layout).numpy()

    return run


def case_runner(case: str, workdir: Path, threads: int):
    """CLASSES:official or CLASSES:FORM:BACKEND -> (class count, run(enc_feeds, gen_feeds) -> image)."""
    parts = case.split(":")
    classes = int(parts[0])
    if parts[1:] == ["official"]:
        return classes, official_runner(classes, threads)
    form, backend = parts[1], parts[2] if len(parts) > 2 else "onnxruntime"
    if form not in FORMS or backend not in BACKENDS:
        raise SystemExit(f"a case is CLASSES:official or CLASSES:FORM[:BACKEND], FORM in {FORMS}, BACKEND in "
                         f"{sorted(BACKENDS)}; got {case!r}")
    folder = export_graphs(workdir, classes, form)
    make = BACKENDS[backend]
    encode, generate = make(folder / "encoder.onnx", threads), make(folder / "generator.onnx", threads)
    return classes, lambda enc_feeds, gen_feeds: generate({**gen_feeds, "codes": encode(enc_feeds)})


def compare(cases: list[str], workdir: Path, threads: int, runs: int, layout: str) -> None:
    """Alternate the cases A B C ... (encode + synthesize, batch 1) `runs` times; medians and ratios to A."""
    runners = [case_runner(case, workdir, threads) for case in cases]
    feeds = {classes: feeds_for(classes, layout) for classes, _ in runners}
    outputs = [run(*feeds[classes]) for classes, run in runners]
    times: list[list[float]] = [[] for _ in runners]
    for _ in range(runs):
        for i, (classes, run) in enumerate(runners):
            started = time.perf_counter()
            run(*feeds[classes])
            times[i].append(time.perf_counter() - started)
    print(f"load average {os.getloadavg()[0]:.1f}; {runs} alternating runs, encode + synthesize, batch 1, "
          f"{layout} labels")
    for i, (case, values) in enumerate(zip(cases, times, strict=True)):
        ratios = [a / b for a, b in zip(values, times[0], strict=True)]
        same = runners[i][0] == runners[0][0]
        diff = f"max |image - A| {np.abs(outputs[i] - outputs[0]).max():.1e}" if same else ""
        print(f"{case:28} median {statistics.median(values):7.3f} s  min {min(values):7.3f} s  "
              f"ratio to A (paired median) {statistics.median(ratios):6.3f}  {diff}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--form", choices=FORMS, default="inference")
    parser.add_argument("--compare", nargs="+", metavar="CASE",
                        help="cases to alternate: CLASSES:official or CLASSES:FORM[:BACKEND] "
                        "(onnxruntime, onnxruntime-no-arena, openvino)")
    parser.add_argument("--graph", choices=("encoder", "generator"), default="generator")
    parser.add_argument("--backend", choices=("onnxruntime", "openvino"), default="onnxruntime")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--labels", choices=("blocks", "faces"), default="blocks",
                        help="blocks: 8-px cells of random classes (as sean bench); faces: a face parsing layout")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("runs/profile"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.compare:
        compare(args.compare, args.workdir, args.threads, args.runs, args.labels)
        return
    enc_feeds, gen_feeds = feeds_for(args.classes, args.labels)
    folder = export_graphs(args.workdir, args.classes, args.form)
    feeds = enc_feeds if args.graph == "encoder" else gen_feeds
    profile(folder, args.graph, feeds, args.threads, args.runs, args.backend)


if __name__ == "__main__":
    main()
