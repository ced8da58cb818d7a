"""The `sean` subcommands of the measuring tools (registered under the `sean.commands` entry points)."""

from sean_core.cli import CommandEntry

COMMANDS = {
    "bench-serve": CommandEntry("sean_tools.serve_load.cli:bench_serve", "runtime",
                                "Load-test a loopback `sean serve`."),
    "bench": CommandEntry("sean_tools.bench.cli:bench", "export", "Latency / throughput table for every path."),
    "bf16-check": CommandEntry("sean_tools.bf16.check:bf16_check", "export",
                               "Image PSNR of bf16 vs fp32 inference (emulated)."),
    "gpu-check": CommandEntry("sean_tools.gpu_check.cli:gpu_check", "export",
                              "Train, resume, export and time the model on a CUDA GPU (one table, one JSON)."),
}
