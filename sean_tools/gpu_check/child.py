"""The training process of the kill / resume check: `sean train` with deterministic algorithms, which
kills itself with SIGKILL in the middle of step $SEAN_GPU_CHECK_KILL_AT when that variable is set.

Deterministic algorithms make two runs on one GPU comparable at all (cuDNN otherwise picks kernels by
timing and sums in a varying order). The kill lands between two checkpoints at a known step, so the
resumed run must redo lost work; a kill at a random moment is tests/test_train.py's job.

    python -m sean_tools.gpu_check.child --config RUN.yaml --out RUN_DIR --device cuda --quiet
"""

from __future__ import annotations

import os
import signal
import sys

KILL_ENV = "SEAN_GPU_CHECK_KILL_AT"
# cuBLAS needs a fixed workspace for reproducible GEMMs; it is read when CUDA starts in the process.
DETERMINISTIC_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def make_deterministic() -> None:
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)  # ops without such a kernel warn, and run
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def kill_during(step: int) -> None:
    """SIGKILL this process right after computing step `step` (1-based), before anything of it is saved."""
    from sean_train.trainer import Trainer

    original = Trainer.train_step

    def train_step(self, *args, **kwargs):
        losses = original(self, *args, **kwargs)
        if self.step + 1 == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return losses

    Trainer.train_step = train_step


def main() -> None:
    make_deterministic()
    if os.environ.get(KILL_ENV):
        kill_during(int(os.environ[KILL_ENV]))
    from sean_train.commands.train import train

    train.main(args=sys.argv[1:], prog_name="sean train")


if __name__ == "__main__":
    main()
