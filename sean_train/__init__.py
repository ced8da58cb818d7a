"""SEAN in PyTorch: networks, losses, training, checkpoints, evaluation, official-checkpoint import."""
