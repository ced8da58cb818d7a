"""The `sean` subcommands of the training layer (registered under the `sean.commands` entry points)."""

from sean_core.cli import CommandEntry

COMMANDS = {
    "train": CommandEntry("sean_train.commands.train:train", "train", "Train a SEAN model (resumable)."),
    "eval": CommandEntry("sean_train.commands.evaluate:evaluate", "train", "Reconstruction and style-control metrics."),
    "inspect": CommandEntry("sean_train.commands.inspect_model:inspect_model", "runtime",
                            "Config, parameters and branch mix (alpha) of a checkpoint or package."),
    "publish": CommandEntry("sean_train.commands.publish:publish", "train",
                            "A checkpoint's model and its model card, to share or ship (fp16 weights optional)."),
    "convert-official": CommandEntry("sean_train.commands.convert:convert_official", "train",
                                     "Convert the official latest_net_G.pth into a checkpoint."),
}
