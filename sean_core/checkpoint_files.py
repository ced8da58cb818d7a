"""The file layout of a model checkpoint folder and of a training run folder, and how a model argument that
names either resolves to one checkpoint folder (the files are written by the training layer, which needs torch).

Defined here, below every layer, so the runtime (`sean demo`, which exports the checkpoint it shows) and
the training layer name the same files and take a run folder the same way, without the runtime importing
the training package.
"""

from __future__ import annotations

import json
import re
import shlex
import struct
from pathlib import Path
from typing import Any

from sean_core.errors import CheckpointError
from sean_core.files import read_json
from sean_core.format import is_package_or_its_graphs

CONFIG_FILE = "config.json"  # the model config, the weights' sha256 and where they came from
WEIGHTS_FILE = "model.safetensors"  # the generator + encoder weights, spectral norms folded
CARD_FILE = "README.md"  # the model card `sean publish` writes beside them: read by people, never by a loader
CARD_MARK = "<!-- written by sean publish -->"  # the card's first line: a hand-written README.md has none
# safetensors' names of the floating-point dtypes -> the precision names of `sean publish --weights`
PRECISION_OF_DTYPE = {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "F64": "fp64"}

# A run folder: RUN/checkpoints/step_NNNNNNNN/ (a model checkpoint + its training state) and RUN/best.json.
CHECKPOINTS_DIR = "checkpoints"
TRAINING_JSON = "training.json"  # written last into a checkpoint: the mark of a complete one
BEST_FILE = "best.json"
_STEP_DIR = re.compile(r"^step_(\d{8})$")


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first. Partial folders of a killed write are not listed."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and (path / TRAINING_JSON).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def resume_command(
    run_dir: str | Path, data: str | Path | None = None, processes: int = 1, per_node: int | None = None
) -> str:
    """The `sean train` command that continues the run in `run_dir` (reading `data` where given), shell-quoted:
    with --restart while the run has no checkpoint, where --resume alone stops at "has no checkpoint yet".
    A run of several `processes` continues under torchrun with as many: another count continues, but not
    bit for bit (Trainer.resume's note). `per_node`: the processes of each node, where fewer than `processes`
    (a launch over several nodes): the command names the node count, and the rendezvous options of the first
    launch, which no process knows, stand as a placeholder."""
    launch = "sean train"
    if per_node is not None and 0 < per_node < processes:
        nodes = -(-processes // per_node)
        launch = (f"torchrun --nnodes {nodes} --nproc_per_node {per_node} "
                  f"<each node's rendezvous options as in the first launch> -m sean_train.commands.train")
    elif processes > 1:
        launch = f"torchrun --standalone --nproc_per_node {processes} -m sean_train.commands.train"
    command = f"{launch} --resume {shlex.quote(str(run_dir))}"
    if data is not None:
        command += f" --data {shlex.quote(str(data))}"
    return command + (" --restart" if latest_checkpoint(run_dir) is None else "")


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    """best.json ({step, metric, value}) of a run, checked; None before the first scored checkpoint."""
    path = Path(run_dir) / BEST_FILE
    if not path.exists():
        return None
    fix = "delete it (the next checkpoint writes it again)"
    best = read_json(path, CheckpointError, fix)
    step, value = (best.get("step"), best.get("value")) if isinstance(best, dict) else (None, None)
    if isinstance(step, bool) or not isinstance(step, int) or isinstance(value, bool) \
            or not isinstance(value, (int, float)) or not isinstance(best.get("metric"), str):
        raise CheckpointError(f"{path} is not a {{step, metric, value}} record; {fix}")
    return best


def refuse_package(folder: Path) -> None:
    """A package where a checkpoint was expected is named as one: it holds graphs, not trainable weights."""
    if is_package_or_its_graphs(folder):
        raise CheckpointError(
            f"{folder} is an exported package (ONNX graphs), not a checkpoint: pass the checkpoint or run folder "
            f"it was exported from"
        )


def weights_precision(folder: str | Path) -> str:
    """How the floating-point weights of a checkpoint folder's WEIGHTS_FILE are stored ("fp32", "fp16", ...,
    "mixed" when they differ), from the file's safetensors header alone: no torch, no tensor read."""
    path = Path(folder) / WEIGHTS_FILE
    try:
        with path.open("rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(length))
    except (OSError, struct.error, ValueError) as exc:
        raise CheckpointError(f"{path} has no readable safetensors header ({exc}); copy the folder again") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} has no readable safetensors header; copy the folder again")
    kinds = {PRECISION_OF_DTYPE[entry["dtype"]] for name, entry in header.items()
             if name != "__metadata__" and isinstance(entry, dict) and entry.get("dtype") in PRECISION_OF_DTYPE}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def is_model_card(path: str | Path) -> bool:
    """A README.md that `sean publish` wrote (CARD_MARK first), which replacing its folder may delete; a
    hand-written one (a shipped model's) is the user's."""
    try:
        with Path(path).open(encoding="utf-8", errors="replace") as file:
            return file.readline().rstrip("\n") == CARD_MARK
    except OSError:
        return False


def model_folder_kind(folder: str | Path) -> str | None:
    """"training run" or "model checkpoint" for a folder that `sean train` (or `sean publish`,
    `sean convert-official`) wrote, None for any other: what a command that takes a package names, so that
    the fix it gives is the export, not a missing manifest."""
    folder = Path(folder)
    if (folder / CONFIG_FILE).is_file():
        return "model checkpoint"
    if (folder / CHECKPOINTS_DIR).is_dir():
        return "training run"
    return None


def refuse_best_outside_run(path: str | Path, which: str) -> None:
    """--which best names the checkpoint that a run folder's best.json scored best: on a model checkpoint
    folder or a package, which hold one model and no scores, it is refused rather than ignored (--which
    latest, the default, reads the folder itself)."""
    path = Path(path)
    if which != "best":
        return
    if (path / CONFIG_FILE).is_file():
        what = "a model checkpoint folder"
    elif is_package_or_its_graphs(path):
        what = "an exported package"
    else:
        return
    raise CheckpointError(
        f"--which best picks a checkpoint of a run folder of `sean train`, and {path} is {what}, one model with "
        f"no scores: leave --which out, or pass the run folder"
    )


def resolve_model_dir(path: str | Path, which: str = "latest") -> Path:
    """A model checkpoint folder itself, or the latest / best checkpoint of a run folder: what every model
    argument that takes a run folder (`sean export RUN`, `eval`, `publish`, `inspect`, `demo --checkpoint`)
    reads. --which best on a checkpoint folder or a package is refused (refuse_best_outside_run)."""
    path = Path(path)
    refuse_best_outside_run(path, which)
    if (path / CONFIG_FILE).is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path} does not exist (expected a run folder or a model checkpoint folder)")
    if which == "best":
        best = read_best(path)
        if best is None:
            raise CheckpointError(
                f"{path} has no {BEST_FILE} yet (no checkpoint was scored); use the latest checkpoint "
                f"(--which latest, the default)"
            )
        found = dict(list_checkpoints(path))
        if best["step"] not in found:
            raise CheckpointError(f"{path}: the best checkpoint {step_dir_name(best['step'])} is missing")
        return found[best["step"]]
    latest = latest_checkpoint(path)
    if latest is None:
        refuse_package(path)
        if (path / CHECKPOINTS_DIR).is_dir():  # a run that has not written one, or was killed before it did
            raise CheckpointError(
                f"{path} is a training run without a checkpoint yet (the first is written at step "
                f"train.checkpoint_every, or when the run is stopped); a run killed before then starts over with "
                f"`{resume_command(path)}`"
            )
        raise CheckpointError(
            f"{path} holds no checkpoint (neither {CONFIG_FILE} nor {CHECKPOINTS_DIR}/step_*): "
            f"train first, or pass a model checkpoint folder"
        )
    return latest
