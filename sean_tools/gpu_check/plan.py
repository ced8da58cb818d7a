"""What one GPU check does: the full run on a CUDA GPU (its time: docs/gpu.md) or the same steps made tiny
(`--tiny`: a 64² model with 4-channel layers, a few steps, for a dry run on a CPU)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The tiny model of the dry run (the test suite's TINY shapes model).
TINY_MODEL = dict(num_classes=8, style_dim=16, ngf=4, encoder_ngf=4, spade_hidden=8, height=64, width=64)
# Official-size widths (configs/faces.yaml, the paper's model) trained on the synthetic shapes domain at
# 256²: the GPU machine has no dataset, and no VGG19 weights (lambda_vgg 0).
OFFICIAL_WIDTHS = dict(num_classes=8, style_dim=512, ngf=64, encoder_ngf=32, spade_hidden=128, height=256, width=256)
DTYPES = ("fp32", "tf32", "fp16", "bf16")  # fp32: TF32 off everywhere; fp16 / bf16: torch.autocast
MODES = ("eager", "cuda_graphs", "compile")
FORMS = ("training", "dense")  # the training form's modules; the folded dense inference form (TensorRT's graph)


@dataclass(frozen=True)
class CheckPlan:
    device: str  # "cuda" or "cpu"
    tiny: bool
    shapes_steps: int  # training steps of the shapes run (AMP on and off)
    official_steps: int  # training steps at official-size widths (AMP on and off)
    official_batch: int
    checkpoint_every: int  # of the kill / resume runs
    kill_at: int  # the killed run dies during this step (between two checkpoints)
    batches: tuple[int, ...]
    dtypes: tuple[str, ...]
    modes: tuple[str, ...]
    repeats: int  # timed calls per configuration
    compile_budget_s: float  # torch.compile is tried while the compile time spent stays below this
    speed_reserve_s: float  # under a time limit, the tests part stops this long before it (min. a minute)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_plan(device: str, tiny: bool) -> CheckPlan:
    cuda = device == "cuda"
    if tiny:
        return CheckPlan(device, True, shapes_steps=6, official_steps=2, official_batch=2, checkpoint_every=2,
                         kill_at=5, batches=(1, 2), dtypes=("fp32", "bf16"),
                         modes=("eager", "cuda_graphs"), repeats=2, compile_budget_s=0.0, speed_reserve_s=0.0)
    return CheckPlan(device, False, shapes_steps=50, official_steps=20, official_batch=8, checkpoint_every=10,
                     kill_at=27, batches=(1, 8, 16), dtypes=DTYPES if cuda else ("fp32", "bf16"),
                     modes=MODES if cuda else ("eager", "compile"), repeats=10, compile_budget_s=90.0,
                     speed_reserve_s=150.0)


def shapes_run_config(plan: CheckPlan) -> dict[str, Any]:
    """The shapes run of the training and kill / resume checks: exactly plan.shapes_steps steps."""
    batch = 2 if plan.tiny else 8
    steps_per_epoch = plan.shapes_steps // 2  # one constant epoch, one decay epoch
    model = {**TINY_MODEL, "domain": "shapes"} if plan.tiny else None
    train = dict(
        batch_size=batch, epochs=1, epochs_decay=1, synthetic_train_size=batch * steps_per_epoch,
        checkpoint_every=plan.checkpoint_every, sample_every=plan.shapes_steps, keep_last=2,
        val_samples=2 if plan.tiny else 8, lambda_vgg=0.0, seed=3,
    )
    if plan.tiny:
        train.update(lambda_l1=1.0)
    return shapes_config(model, {"ndf": 4} if plan.tiny else None, train)


def official_run_config(plan: CheckPlan) -> dict[str, Any]:
    """Official-size widths on the shapes domain (tiny: the tiny model), batch plan.official_batch."""
    model = {**(TINY_MODEL if plan.tiny else OFFICIAL_WIDTHS), "domain": "shapes"}
    train = dict(
        batch_size=plan.official_batch, epochs=1, epochs_decay=1,
        synthetic_train_size=plan.official_batch * plan.official_steps, lambda_vgg=0.0, lambda_l1=1.0,
        val_samples=0, seed=3,
    )
    discriminator = {"ndf": 4} if plan.tiny else {"ndf": 64, "num_scales": 2, "num_layers": 3}
    return shapes_config(model, discriminator, train)


def shapes_config(model: dict | None, discriminator: dict | None, train: dict) -> dict[str, Any]:
    """The shipped shapes run config (configs/shapes.yaml) with sections replaced (model, discriminator) or
    updated (train); a RunConfig mapping."""
    from sean_train.train_config import load_run_config

    data = load_run_config("shapes").to_dict()
    if model is not None:
        data["model"] = model
    if discriminator is not None:
        data["discriminator"] = discriminator
    data["train"].update(train)
    return data
