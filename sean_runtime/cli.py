"""The `sean` command: one click group whose subcommands are imported only when run.

`sean synth` therefore never loads torch, and `sean train` loads it only when it runs. A subcommand
whose extra is not installed says which extra to install.
"""

from __future__ import annotations

import importlib

import click

from sean_runtime.commands import missing_dependency

# name -> (module:attribute, extra that provides it, one-line help shown by `sean --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("sean_runtime.commands.demo:demo", "runtime", "Export the shipped synthetic model and show what it does."),
    "synth": ("sean_runtime.commands.synth:synth", "runtime", "Synthesize images from a package, with style edits."),
    "serve": ("sean_runtime.commands.serve:serve_command", "serve", "Serve a package over HTTP (batching, metrics)."),
    "bench-serve": ("sean_tools.serve_load.cli:bench_serve", "runtime", "Load-test a loopback `sean serve`."),
    "train": ("sean_train.commands.train:train", "train", "Train a SEAN model (resumable)."),
    "eval": ("sean_train.commands.evaluate:evaluate", "train", "Reconstruction and style-control metrics."),
    "convert-official": (
        "sean_train.commands.convert:convert_official",
        "train",
        "Convert the official latest_net_G.pth into a checkpoint.",
    ),
    "export": ("sean_export.commands:export", "export", "Checkpoint -> validated ONNX package."),
    "build-engine": ("sean_export.commands:build_engine", "tensorrt", "Build TensorRT engines for a package."),
    "bench": ("sean_tools.bench.cli:bench", "export", "Latency / throughput table for every path."),
    "bf16-check": ("sean_tools.bf16.check:bf16_check", "export", "Image PSNR of bf16 vs fp32 inference (emulated)."),
    "prepare": ("sean_runtime.commands.domains:prepare", "runtime", "Convert a raw dataset into the prepared layout."),
    "domains": ("sean_runtime.commands.domains:domains", "runtime", "List the installed domain plugins."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target = COMMANDS[name][0]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise missing_dependency(name, exc) from exc
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sean-deploy")
def main() -> None:
    """SEAN: semantic image synthesis with a separate style for every region.

    \b
    Example, from nothing to images in one command:
      sean demo -o demo-out
    """


if __name__ == "__main__":
    main()
