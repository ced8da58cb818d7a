"""The `sean` subcommands of the export layer (registered under the `sean.commands` entry points)."""

from sean_core.cli import CommandEntry

COMMANDS = {
    "export": CommandEntry("sean_export.commands:export", "export", "Checkpoint -> validated ONNX package."),
    "build-engine": CommandEntry("sean_export.commands:build_engine", "tensorrt",
                                 "Build TensorRT engines for a package."),
}
