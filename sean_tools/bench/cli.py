"""The `sean bench` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sean_core.command import FORCE_HELP, MODEL_FOLDER, THREADS, Amount, Count, Counts, SeanCommand, check_output
from sean_core.files import atomic_write_json
from sean_core.shipped import shipped_models
from sean_tools.bench.inputs import LABEL_LAYOUTS, official_size_checkpoint_dir, resolve_inputs
from sean_tools.bench.plan import build_cpp_runtime, build_missing_engines
from sean_tools.bench.report import alternate_report, profile_report, report
from sean_tools.bench.run import benchmark, study
from sean_tools.bench.spec import GEMM_SIZE


def command_line(ctx: click.Context) -> str:
    """The `sean bench` command with the options that differ from their defaults, for the record."""
    words = ["sean", "bench"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value == param.default or value is False:
            continue
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif value is True:
            words.append(param.opts[0])
        else:
            words += [param.opts[0], str(value)]
    return " ".join(words)


def parse_keys(text: str) -> list[str]:
    """Path keys, "official, onnxruntime-fp32" -> ["official", "onnxruntime-fp32"] (each once, in order)."""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    return list(dict.fromkeys(keys))


def parse_ints(text: str) -> list[int]:
    """Batch sizes or class counts, "8,1,8" -> [1, 8]."""
    return sorted(set(Counts(1, 1024).convert(text, None, None)))


@click.command(cls=SeanCommand)
@click.argument("package", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--checkpoint", type=MODEL_FOLDER,
              help="Checkpoint for the PyTorch and official paths and the other package forms (a PACKAGE alone "
              "times that package's runtime rows only).")
@click.option("--official-size", is_flag=True, help="Benchmark a random official-size faces model (19 classes, 256²).")
@click.option("--quick", is_flag=True, help="The shipped 64x64 shapes model, 2 repeats, batch 1,2 (a minute or two).")
@click.option("--batch-sizes", default="1,2,4,8", show_default=True, help="Batch sizes for the scaling table.")
@click.option("--classes", default="", help="Class counts of random models for the class-scaling study, e.g. "
              "19,151 (each exported under --workdir; default: no study); with --alternate or --profile, the "
              "class counts each row is timed at (default: the model's own).")
@click.option("--labels", type=click.Choice(sorted(LABEL_LAYOUTS)), default="blocks", show_default=True,
              help="Label layout timed: blocks (8-px cells of random classes: nearly every class shown, every "
              "pixel near an edge, the worst case of the official loops and of the region form) or faces "
              "(a face parsing layout, 15 regions).")
@click.option("--repeats", type=Count(1, 1000), default=5, show_default=True, help="Timed runs per batch size.")
@click.option("--budget", "budget_s", type=Amount(0, 86_400), default=60.0, show_default=True,
              help="Seconds per path and batch size after which fewer repeats are taken (at least one).")
@click.option("--threads", type=THREADS, default=2, show_default=True, help="Threads for every path.")
@click.option("--gemm-size", type=Count(64, 16_384), default=GEMM_SIZE, show_default=True,
              help="Side of the square fp32 matrix product that measures the machine's peak at the start and "
              "around every path (smaller is quicker, but may stay below the peak on many cores).")
@click.option("--fp16", is_flag=True, help="Also export and time the fp16 package in ONNX Runtime.")
@click.option("--openvino", is_flag=True, help="Also time OpenVINO with the f32 and bf16 precision hints.")
@click.option("--tensorrt", is_flag=True, help="Build TensorRT engines for the packages that lack usable ones "
              "(needs an NVIDIA GPU and the tensorrt extra); engines that are usable are timed either way.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/bench"),
              show_default=True, help="Where exported packages are cached between runs.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the results here (a .json file, rewritten after every row, so that a stopped run keeps "
              "what it measured; not inside PACKAGE or --checkpoint).")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--timeout", "timeout_s", type=Amount(1, 7 * 86_400), default=3600.0, show_default=True,
              help="Seconds after which one path's worker is stopped and reported as an error.")
@click.option("--cpp", is_flag=True, help="Also time the C++ runtime (OpenVINO with the f32 and the bf16 hint, "
              "through its C API, uint8 in and out), built with CMake under --workdir; its rows say why when it "
              "does not build here.")
@click.option("--paths", "path_keys", default="", metavar="KEYS",
              help="Only these rows, by the keys the JSON and the class table name them (e.g. "
              "official,onnxruntime-regions,openvino-f32-regions), in this order; default: every row.")
@click.option("--alternate", is_flag=True,
              help="Time the rows in one process in alternating rounds (A B C A B C ..., batch 1, encode + "
              "synthesize) at each --classes count (default: the model's own): medians and paired ratios to "
              "the first row, so that a busy machine slows every row alike.")
@click.option("--profile", is_flag=True,
              help="Per-node profile of the ONNX Runtime and OpenVINO rows (encoder and generator, batch 1) "
              "grouped by model part, block and operator, at each --classes count (default: the model's own).")
@click.option("--rounds", type=Count(1, 1000), default=5, show_default=True,
              help="Rounds of --alternate, or profiled runs of --profile.")
def bench(
    package: Path | None,
    checkpoint: Path | None,
    official_size: bool,
    quick: bool,
    batch_sizes: str,
    classes: str | None,
    labels: str,
    repeats: int,
    budget_s: float,
    threads: int,
    gemm_size: int,
    fp16: bool,
    openvino: bool,
    tensorrt: bool,
    workdir: Path,
    json_out: Path | None,
    force: bool,
    timeout_s: float,
    cpp: bool,
    path_keys: str,
    alternate: bool,
    profile: bool,
    rounds: int,
) -> None:
    """Latency / throughput / memory / FLOP-rate table of every inference path.

    \b
    Examples:
      sean bench packages/shapes                  # that package's runtime rows, in seconds
      sean bench --quick --openvino
      sean bench --official-size --openvino --fp16 --classes 19,151 --json runs/bench/official.json
      sean bench --official-size --openvino --labels faces --batch-sizes 1
      sean bench --official-size --fp16 --tensorrt    # on a GPU machine
      sean bench packages/shapes --checkpoint sean_core/pretrained/shapes --batch-sizes 1,8
      sean bench --official-size --openvino --labels faces --classes 19,151 --alternate \\
          --paths official,onnxruntime-regions,openvino-f32-regions --rounds 5
      sean bench packages/shapes --profile --rounds 3     # where the package's time goes
      sean bench --official-size --profile --paths onnxruntime-regions --labels faces
      sean bench --official-size --openvino --cpp --paths openvino-f32,cpp-openvino --alternate

    In the table the --classes counts are the class-scaling study; with --alternate or --profile they are
    the class counts each row is timed at.
    """
    if official_size and checkpoint is not None:
        raise click.UsageError("--official-size builds its own model; leave out --checkpoint")
    if alternate and profile:
        raise click.UsageError("--alternate and --profile are two kinds of run: give one")
    if quick:
        batch_sizes, repeats = "1,2", min(repeats, 2)
    class_counts = parse_ints(classes) if classes else []
    keys = parse_keys(path_keys)
    if json_out is not None:  # before anything is exported, built or timed
        models = [package, checkpoint, official_size_checkpoint_dir(workdir) if official_size else None,
                  shipped_models()["shapes"] if quick else None]
        check_output(json_out, "--json", models, force, suffixes=(".json",))
    written = False  # the first write makes the file (only as a new one without --force), later ones replace it

    def write_json(data: dict[str, Any]) -> None:
        nonlocal written
        atomic_write_json(json_out, data, exclusive=not (force or written))
        written = True

    inputs = resolve_inputs(package, checkpoint, official_size, quick, fp16, workdir)
    if cpp:
        build_cpp_runtime(inputs, workdir / "cpp-release")
    if tensorrt:
        build_missing_engines(inputs, max(parse_ints(batch_sizes)))
    command = command_line(click.get_current_context())
    if alternate or profile:
        mode = "alternate" if alternate else "profile"
        result = study(mode, inputs, keys, class_counts, rounds, threads, openvino, cpp, fp16, timeout_s, labels)
        result.update(command=command, complete=True)
        click.echo(alternate_report(result) if alternate else profile_report(result))
        if json_out is not None:
            write_json(result)
            click.echo(f"wrote {json_out}", err=True)
        return

    def save(partial: dict[str, Any]) -> None:
        if json_out is not None:
            write_json({**partial, "command": command, "complete": False})

    result = benchmark(
        inputs, parse_ints(batch_sizes), class_counts, repeats, threads, openvino, budget_s, timeout_s, save, labels,
        keys, cpp, gemm_size,
    )
    result.update(command=command, complete=True)
    click.echo(report(result))
    if json_out is not None:
        write_json(result)
        click.echo(f"wrote {json_out}", err=True)
