"""The package manifest of a model and the facts copied into each graph's metadata_props.

The format itself (names, versions, graph interfaces, noise section) is sean_core.format.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from sean_core.domains import Domain, DomainError, get_domain
from sean_core.files import sha256_file
from sean_core.format import (
    BRANCH_MIX,
    FORMAT,
    FORMAT_VERSION,
    GRAPH_NAMES,
    PARAMETERS,
    GraphSpec,
    parameters_section,
)
from sean_export.opsets import DEFAULT_OPSET
from sean_train.config import ModelConfig
from sean_train.model_report import branch_mix, parameter_counts
from sean_train.networks import SEANModel
from sean_train.networks.generator import noise_layout

EXPORTER_NAMES = {"torchscript": "torch.onnx (TorchScript)", "dynamo": "torch.onnx (dynamo)"}


def tool_versions(exporter: str = "torchscript") -> dict[str, str]:
    versions = {}
    for name in ("torch", "onnx", "onnxscript", "onnxruntime"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["exporter"] = EXPORTER_NAMES[exporter]
    return versions


def _domain(config: ModelConfig) -> Domain | None:
    """The installed plugin of the config's domain when it has as many classes, else None."""
    if not config.domain:
        return None
    try:
        domain = get_domain(config.domain)
    except DomainError:
        return None
    return domain if domain.num_classes == config.num_classes else None


def class_names(config: ModelConfig) -> list[str]:
    """The config's class names; else the domain plugin's when it has as many; else class_0, class_1, ..."""
    if config.class_names:
        return list(config.class_names)
    domain = _domain(config)
    if domain is not None:
        return list(domain.class_names)
    return [f"class_{i}" for i in range(config.num_classes)]


def palette(config: ModelConfig) -> list[list[int]] | None:
    """RGB per class id from the domain plugin (runtimes without plugins read colour masks with it), or None."""
    domain = _domain(config)
    if domain is None or len(domain.palette) != config.num_classes or tuple(class_names(config)) != domain.class_names:
        return None
    return [list(map(int, rgb)) for rgb in domain.palette]


def noise_section(config: ModelConfig) -> dict[str, Any]:
    return noise_layout(config).to_manifest()


@dataclass(frozen=True)
class ExportSettings:
    """How a package's graphs are written: what the manifest and each graph's metadata record of it."""

    precision: str = "fp32"  # one of format.PRECISIONS
    opset: int = DEFAULT_OPSET
    exporter: str = "torchscript"  # a key of EXPORTER_NAMES
    generator_form: str = "dense"  # one of sean_core.forms.GENERATOR_FORMS
    edge_form: str = "auto"  # region form: one of sean_core.forms.EXPORT_EDGES (recorded for region packages)

    def with_precision(self, precision: str) -> ExportSettings:
        return dataclasses.replace(self, precision=precision)


def model_facts(config: ModelConfig, settings: ExportSettings) -> dict[str, Any]:
    """The facts shared by manifest.json and every graph's metadata_props."""
    facts: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "domain": config.domain,
        "class_names": class_names(config),
        "palette": palette(config),
        "num_classes": config.num_classes,
        "extra_mask_channels": config.extra_mask_channels,
        "style_dim": config.style_dim,
        "height": config.height,
        "width": config.width,
        "model_config": config.to_dict(),
        "precision": settings.precision,
        "generator_form": settings.generator_form,
        "opset": settings.opset,
        "tools": tool_versions(settings.exporter),
    }
    if settings.generator_form == "regions":
        facts["edge_form"] = settings.edge_form
    return facts


def model_sections(model: SEANModel) -> dict[str, Any]:
    """The manifest's sections read from the model itself: the learned numbers per part and each SEAN layer's
    branch mix (sean_core.format PARAMETERS, BRANCH_MIX). Apart from build_manifest so that an export can
    release the model before its graphs are written."""
    return {
        PARAMETERS: parameters_section(parameter_counts(model)),
        BRANCH_MIX: [row.to_manifest() for row in branch_mix(model)],
    }


def build_manifest(
    config: ModelConfig,
    sections: dict[str, Any],
    specs: dict[str, GraphSpec],
    graph_files: dict[str, list[Path]],
    settings: ExportSettings,
    checkpoint: Path,
    checkpoint_sha256: str,
    validation: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """graph_files: per graph, [graph.onnx] or [graph.onnx, graph.onnx.data], all inside the package folder.

    Besides the model's facts, the manifest records what `sean inspect` shows without torch: `sections`,
    the model_sections of the model.
    """
    graphs = {}
    files = {}
    for name in GRAPH_NAMES:
        paths = graph_files[name]
        graphs[name] = {
            "file": paths[0].name,
            "external_data": paths[1].name if len(paths) > 1 else None,
            "inputs": [t.to_dict() for t in specs[name].inputs],
            "outputs": [t.to_dict() for t in specs[name].outputs],
        }
        for path in paths:
            files[path.name] = sha256_file(path)
    return {
        **model_facts(config, settings),
        "graphs": graphs,
        "noise": noise_section(config),
        **sections,
        "files": files,
        "source_checkpoint": {"path": str(checkpoint), "sha256": checkpoint_sha256},
        "validation": validation,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def graph_metadata(
    config: ModelConfig, graph: str, settings: ExportSettings, checkpoint_sha256: str
) -> dict[str, str]:
    """metadata_props of one graph: the manifest's facts that do not depend on the written files."""
    facts: dict[str, Any] = {
        **model_facts(config, settings),
        "graph": graph,
        "source_checkpoint_sha256": checkpoint_sha256,
    }
    if graph == "generator":
        facts["noise"] = noise_section(config)
    return {f"sean.{key}": value if isinstance(value, str) else json.dumps(value) for key, value in facts.items()}
