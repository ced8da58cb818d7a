"""config.pbtxt of the repository's models: written from a ModelConfig, checked by parsing it back.

The text is Triton's model configuration in protobuf text format. `check_config` parses it with
tritonclient's `model_config_pb2` (the schema Triton itself reads) and compares every field that
the repository relies on with what was meant: names, types and dims of the inputs and outputs (taken
from the manifest by sean_runtime.triton.interface), batching, instances and the model files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sean_core.errors import PackageError
from sean_runtime.triton.interface import WireTensor

CONFIG_FILE = "config.pbtxt"
PYTHON_BACKEND = "python"
ONNX_PLATFORM = "onnxruntime_onnx"
TENSORRT_PLATFORM = "tensorrt_plan"
ENSEMBLE_PLATFORM = "ensemble"


@dataclass(frozen=True)
class EnsembleStep:
    model: str
    inputs: dict[str, str]  # the step model's input -> the ensemble's tensor
    outputs: dict[str, str]  # the step model's output -> the ensemble's tensor


@dataclass(frozen=True)
class ModelConfig:
    name: str
    inputs: tuple[WireTensor, ...]
    outputs: tuple[WireTensor, ...]
    max_batch_size: int
    backend: str = ""  # "python", or "" with a platform
    platform: str = ""  # ONNX_PLATFORM, TENSORRT_PLATFORM, ENSEMBLE_PLATFORM
    max_queue_delay_us: int | None = None  # dynamic batching; None: no dynamic batching (ensembles)
    instances: int = 0  # 0: no instance group (ensembles)
    instance_kind: str = "KIND_CPU"
    default_model_filename: str = ""
    cc_model_filenames: dict[str, str] = field(default_factory=dict)  # compute capability "9.0" -> plan file
    parameters: dict[str, str] = field(default_factory=dict)
    steps: tuple[EnsembleStep, ...] = ()


def _quote(text: str) -> str:
    """A protobuf text-format string literal (UTF-8 kept as it is)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _config_type(tensor: WireTensor) -> str:
    return "TYPE_STRING" if tensor.datatype == "BYTES" else f"TYPE_{tensor.datatype}"


def _tensor(tensor: WireTensor, is_input: bool) -> str:
    fields = [f"name: {_quote(tensor.name)}", f"data_type: {_config_type(tensor)}",
              f"dims: [ {', '.join(str(d) for d in tensor.dims)} ]"]
    if is_input and tensor.optional:
        fields.append("optional: true")
    if is_input and tensor.ragged:
        fields.append("allow_ragged_batch: true")
    return "  {\n" + "".join(f"    {f}\n" for f in fields) + "  }"


def _map(kind: str, mapping: dict[str, str]) -> str:
    return "".join(
        f"      {kind} {{ key: {_quote(key)} value: {_quote(value)} }}\n" for key, value in mapping.items()
    )


def render(config: ModelConfig) -> str:
    """The config.pbtxt text of a model."""
    lines = [f"name: {_quote(config.name)}"]
    if config.backend:
        lines.append(f"backend: {_quote(config.backend)}")
    if config.platform:
        lines.append(f"platform: {_quote(config.platform)}")
    lines.append(f"max_batch_size: {config.max_batch_size}")
    if config.default_model_filename:
        lines.append(f"default_model_filename: {_quote(config.default_model_filename)}")
    for capability, filename in config.cc_model_filenames.items():
        lines.append(f"cc_model_filenames {{ key: {_quote(capability)} value: {_quote(filename)} }}")
    lines.append("input [\n" + ",\n".join(_tensor(t, True) for t in config.inputs) + "\n]")
    lines.append("output [\n" + ",\n".join(_tensor(t, False) for t in config.outputs) + "\n]")
    if config.max_queue_delay_us is not None:
        lines.append(f"dynamic_batching {{\n  max_queue_delay_microseconds: {config.max_queue_delay_us}\n}}")
    if config.instances:
        group = f"count: {config.instances}\n    kind: {config.instance_kind}"
        lines.append(f"instance_group [\n  {{\n    {group}\n  }}\n]")
    for key, value in config.parameters.items():
        lines.append(f"parameters {{\n  key: {_quote(key)}\n  value: {{ string_value: {_quote(value)} }}\n}}")
    if config.steps:
        steps = []
        for step in config.steps:
            steps.append(
                "    {\n"
                f"      model_name: {_quote(step.model)}\n"
                "      model_version: -1\n"
                f"{_map('input_map', step.inputs)}{_map('output_map', step.outputs)}"
                "    }"
            )
        lines.append("ensemble_scheduling {\n  step [\n" + ",\n".join(steps) + "\n  ]\n}")
    return "\n".join(lines) + "\n"


def _model_config_pb2():
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError as exc:
        from sean_core.install import missing_module_message

        raise PackageError(missing_module_message("tritonclient", "checking Triton configs", "triton")) from exc
    return model_config_pb2


def parse(text: str, where: str):
    """config.pbtxt text -> model_config_pb2.ModelConfig; PackageError naming the file if it does not parse."""
    from google.protobuf import text_format

    pb2 = _model_config_pb2()
    try:
        return text_format.Parse(text, pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise PackageError(f"{where} is not a valid Triton model configuration: {exc}") from exc


def _listing(items: list[tuple]) -> str:
    return "; ".join(" ".join(str(part) for part in item) for item in items)


def check_config(path: Path, expected: ModelConfig) -> None:
    """Parse a written config.pbtxt and compare it with the ModelConfig it was written from."""
    parsed = parse(path.read_text(encoding="utf-8"), str(path))
    pb2 = _model_config_pb2()

    def declared(items, is_input: bool) -> list[tuple]:
        return [
            (t.name, pb2.DataType.Name(t.data_type), list(t.dims),
             *((t.optional, t.allow_ragged_batch) if is_input else ()))
            for t in items
        ]

    def meant(items: tuple[WireTensor, ...], is_input: bool) -> list[tuple]:
        return [
            (t.name, _config_type(t), list(t.dims), *((t.optional, t.ragged) if is_input else ())) for t in items
        ]

    problems = []
    for kind, got, want in (
        ("inputs", declared(parsed.input, True), meant(expected.inputs, True)),
        ("outputs", declared(parsed.output, False), meant(expected.outputs, False)),
    ):
        if got != want:
            problems.append(f"{kind} {_listing(got)} instead of {_listing(want)}")
    facts = {
        "name": (parsed.name, expected.name),
        "backend": (parsed.backend, expected.backend),
        "platform": (parsed.platform, expected.platform),
        "max_batch_size": (parsed.max_batch_size, expected.max_batch_size),
        "default_model_filename": (parsed.default_model_filename, expected.default_model_filename),
        "cc_model_filenames": (dict(parsed.cc_model_filenames), expected.cc_model_filenames),
        "dynamic_batching": (
            parsed.dynamic_batching.max_queue_delay_microseconds if parsed.HasField("dynamic_batching") else None,
            expected.max_queue_delay_us,
        ),
        "instance_group": (
            [(g.count, pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in parsed.instance_group],
            [(expected.instances, expected.instance_kind)] if expected.instances else [],
        ),
        "parameters": ({k: v.string_value for k, v in parsed.parameters.items()}, expected.parameters),
        "ensemble steps": (
            [(s.model_name, dict(s.input_map), dict(s.output_map)) for s in parsed.ensemble_scheduling.step],
            [(s.model, s.inputs, s.outputs) for s in expected.steps],
        ),
    }
    problems += [f"{key} {got!r:.120} instead of {want!r:.120}" for key, (got, want) in facts.items() if got != want]
    if problems:
        raise PackageError(f"{path} does not say what was meant: {'; '.join(problems)}")
