"""The file names of a model checkpoint folder (written by sean_train.checkpoint, which needs torch).

Defined here, below every layer, so the runtime (`sean demo`, which exports the shipped checkpoint) and
the training layer name the same files without the runtime importing the training package.
"""

CONFIG_FILE = "config.json"  # the model config, the weights' sha256 and where they came from
WEIGHTS_FILE = "model.safetensors"  # the generator + encoder weights, spectral norms folded
