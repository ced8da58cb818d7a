"""What a benchmark worker runs: one WorkerSpec per process, sent as JSON on its stdin."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

# The default side of the peak-measuring matrix product: large enough for a few cores to reach their peak.
GEMM_SIZE = 2048
PATH_KINDS = ("gemm", "official", "torch", "onnxruntime", "openvino", "tensorrt", "cpp")
# The kinds whose per-node counters `sean bench --profile` reads.
PROFILED_KINDS = ("onnxruntime", "openvino")


@dataclass(frozen=True)
class WorkerSpec:
    """One path timed in one process, and the inputs it is timed on."""

    kind: str  # one of PATH_KINDS
    threads: int
    repeats: int  # timed runs per batch size (fewer, at least one, past budget_s); profiled runs (--profile)
    budget_s: float
    seed: int  # of the random image and labels
    height: int
    width: int
    num_classes: int
    noise_numel: int
    batch_sizes: tuple[int, ...] = (1,)
    checkpoint: str | None = None  # torch and official paths
    form: str | None = None  # torch paths: one of sean_core.forms.MODEL_FORMS but "regions"
    package: str | None = None  # runtime paths
    library: str | None = None  # cpp paths: the C++ runtime's libsean.so
    precision_hint: str | None = None  # OpenVINO's INFERENCE_PRECISION_HINT
    outputs: str | None = None  # an .npz file for the batch-1 codes and image
    gemm_size: int = GEMM_SIZE  # side of the square fp32 matrix product that measures the machine's peak
    labels: str = "blocks"  # the label layout timed: a key of bench.inputs.LABEL_LAYOUTS

    def __post_init__(self) -> None:
        if self.kind not in PATH_KINDS:
            raise ValueError(f"unknown benchmark path kind {self.kind!r}; the kinds are {PATH_KINDS}")

    def replace(self, **changes: object) -> WorkerSpec:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        values = json.loads(text)
        values["batch_sizes"] = tuple(values["batch_sizes"])
        return cls(**values)


@dataclass(frozen=True)
class PathSpec:
    """One row of the benchmark: what to run and the form (sean_core.forms.MODEL_FORMS) it computes, which
    its FLOPs are counted in."""

    key: str  # e.g. "onnxruntime-fp32"
    label: str  # shown in the tables
    kind: str  # the worker's path kind
    form: str  # one of sean_core.forms.MODEL_FORMS
    settings: dict[str, str] = field(default_factory=dict)  # the WorkerSpec fields of this path

    def worker(self, base: WorkerSpec) -> WorkerSpec:
        return base.replace(kind=self.kind, **self.settings)
