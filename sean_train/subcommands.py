"""The `sean` subcommands of the training layer (registered under the `sean.commands` entry points)."""

from sean_core.cli import CommandEntry

COMMANDS = {
    "train": CommandEntry("sean_train.commands.train:train", "train", "Train a SEAN model (resumable)."),
    "eval": CommandEntry("sean_train.commands.evaluate:evaluate", "train", "Reconstruction and style-control metrics."),
    "convert-official": CommandEntry("sean_train.commands.convert:convert_official", "train",
                                     "Convert the official latest_net_G.pth into a checkpoint."),
}
