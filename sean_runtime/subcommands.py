"""The `sean` subcommands of the runtime layer (registered under the `sean.commands` entry points)."""

from sean_core.cli import CommandEntry

COMMANDS = {
    "demo": CommandEntry("sean_runtime.commands.demo:demo", "runtime",
                         "Export the shipped synthetic model and show what it does."),
    "synth": CommandEntry("sean_runtime.commands.synth:synth", "runtime",
                          "Synthesize images from a package, with style edits."),
    "serve": CommandEntry("sean_runtime.commands.serve:serve_command", "serve",
                          "Serve a package over HTTP (batching, metrics).", server=True),
    "prepare": CommandEntry("sean_runtime.commands.domains:prepare", "runtime",
                            "Convert a raw dataset into the prepared layout."),
    "domains": CommandEntry("sean_runtime.commands.domains:domains", "runtime", "List the installed domain plugins."),
    "export-triton": CommandEntry("sean_runtime.commands.export_triton:export_triton", "triton",
                                  "Write a Triton Inference Server model repository for a package."),
    "triton": CommandEntry("sean_runtime.commands.triton:triton", "triton",
                           "Serve a `sean export-triton` repository with Triton (Python backend).", server=True),
}
