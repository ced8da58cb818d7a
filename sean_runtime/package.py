"""Reading an exported package: the manifest is checked field by field and every file against its sha256.

The format is docs/package-format.md. Nothing in the folder is trusted that the manifest does not name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sean_runtime.errors import PackageError
from sean_runtime.files import sha256_file

MANIFEST = "manifest.json"
FORMAT = "sean-package"
FORMAT_VERSION = 2  # 2: portable Philox noise (version 1 packages still load, with their old noise rule)
GRAPHS = ("encoder", "generator")
REEXPORT = "re-export it with `sean export CHECKPOINT -o PKG`"


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output as the manifest declares it."""

    name: str
    dtype: str  # "float32" or "int32"
    shape: tuple[int | str, ...]  # "batch" marks the dynamic axis


@dataclass(frozen=True)
class GraphSpec:
    name: str  # "encoder" or "generator"
    file: Path  # the ONNX file
    external_data: Path | None  # its weights file, when stored outside the graph
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    @property
    def takes_extra(self) -> bool:
        return "extra" in self.input_names

    @property
    def plan(self) -> Path:
        """Where a TensorRT engine for this graph lives (it may not exist)."""
        return self.file.with_suffix(".plan")

    @property
    def plan_sidecar(self) -> Path:
        return self.file.with_suffix(".plan.json")


@dataclass(frozen=True)
class Package:
    """A validated package folder."""

    root: Path
    manifest: dict[str, Any]
    domain: str
    class_names: tuple[str, ...]
    extra_channels: int  # E: extra mask channels the graphs take as `extra` (0: no such input)
    style_dim: int
    height: int
    width: int
    precision: str
    noise_numel: int  # N: length of the flat per-image noise vector
    encoder: GraphSpec
    generator: GraphSpec

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def graph(self, name: str) -> GraphSpec:
        return self.encoder if name == "encoder" else self.generator

    def file_sha256(self, name: str) -> str:
        return self.manifest["files"][name]


def _field(manifest: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in manifest:
        raise PackageError(f"{where}: the manifest has no {key!r} field; {REEXPORT}")
    value = manifest[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise PackageError(f"{where}: manifest field {key!r} is {value!r}, not a {getattr(kind, '__name__', kind)}")
    return value


def _tensor_specs(items: Any, where: str) -> tuple[TensorSpec, ...]:
    if not isinstance(items, list):
        raise PackageError(f"{where} must be a list of {{name, dtype, shape}}; {REEXPORT}")
    specs = []
    for item in items:
        try:
            specs.append(TensorSpec(str(item["name"]), str(item["dtype"]), tuple(item["shape"])))
        except (KeyError, TypeError) as exc:
            raise PackageError(f"{where}: malformed tensor entry {item!r}; {REEXPORT}") from exc
    return tuple(specs)


def _package_file(root: Path, name: Any, where: str) -> Path:
    """A file named by the manifest, which must be a plain name inside the package folder."""
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise PackageError(f"{root}: {where} names {name!r}; package files must be plain names inside the folder")
    return root / name


def _accepted_io(graph: str, extra: int) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """Input name sets this runtime can feed a graph, and the outputs it reads (docs/package-format.md).

    With extra mask channels (E > 0) the generator takes `extra`; the encoder may (it pools only the K
    classes, so an exporter can leave the input out).
    """
    more = ("extra",) if extra else ()
    if graph == "encoder":
        inputs = [("image", "labels", *more)] + ([("image", "labels")] if extra else [])
        return inputs, ("codes", "area")
    return [("labels", "codes", "noise", *more)], ("image",)


def _graph_spec(root: Path, name: str, entry: Any, extra: int, files: dict[str, str]) -> GraphSpec:
    where = f"{root / MANIFEST}: graphs.{name}"
    if not isinstance(entry, dict):
        raise PackageError(f"{where} is missing; {REEXPORT}")
    graph_file = _package_file(root, entry.get("file"), f"graphs.{name}.file")
    external = entry.get("external_data")
    external_file = _package_file(root, external, f"graphs.{name}.external_data") if external else None
    for path in (graph_file, external_file):
        if path is not None and path.name not in files:
            raise PackageError(f'{where}: {path.name} has no sha256 in the manifest\'s "files"; {REEXPORT}')
    spec = GraphSpec(
        name,
        graph_file,
        external_file,
        _tensor_specs(entry.get("inputs"), f"{where}.inputs"),
        _tensor_specs(entry.get("outputs"), f"{where}.outputs"),
    )
    accepted, want_out = _accepted_io(name, extra)
    if sorted(spec.input_names) not in [sorted(a) for a in accepted] or sorted(spec.output_names) != sorted(want_out):
        raise PackageError(
            f"{where}: inputs {list(spec.input_names)} / outputs {list(spec.output_names)}, but this runtime "
            f"feeds {list(accepted[0])} and reads {list(want_out)}; {REEXPORT}"
        )
    return spec


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The parsed manifest.json of a package folder, with errors for a missing folder or broken JSON."""
    root = Path(root)
    if not root.is_dir():
        raise PackageError(f"package folder {root} does not exist; create one with `sean export CHECKPOINT -o {root}`")
    path = root / MANIFEST
    if not path.is_file():
        raise PackageError(f"{path} is missing: {root} is not a SEAN package (written by `sean export`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackageError(f"{path} is not valid JSON ({exc}); the package is corrupt, {REEXPORT}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackageError(f'{path} is not a SEAN package manifest (no "format": "{FORMAT}")')
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise PackageError(f"{path}: invalid format_version {version!r}; {REEXPORT}")
    if version > FORMAT_VERSION:
        raise PackageError(
            f"{path} has package format {version}, newer than this runtime reads ({FORMAT_VERSION}); "
            f"upgrade sean-deploy"
        )
    return manifest


def verify_files(root: Path, files: dict[str, str]) -> None:
    """Every file the manifest lists exists and has its sha256; one error lists all that do not."""
    problems = []
    for name, expected in sorted(files.items()):
        path = _package_file(root, name, "files")
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        actual = sha256_file(path)
        if actual != expected:
            problems.append(f"{name} has sha256 {actual[:12]}…, the manifest says {str(expected)[:12]}…")
    if problems:
        raise PackageError(
            f"{root} does not match its manifest: {'; '.join(problems)}. The package is incomplete or was "
            f"modified: copy the whole folder again or {REEXPORT}"
        )


def load_package(root: str | Path, verify: bool = True) -> Package:
    """Read and validate a package folder. verify=False skips the sha256 check (the files must still exist)."""
    root = Path(root)
    manifest = read_manifest(root)
    where = root / MANIFEST
    class_names = _field(manifest, "class_names", list, where)
    num_classes = _field(manifest, "num_classes", int, where)
    if len(class_names) != num_classes or num_classes < 1:
        raise PackageError(f"{where}: {len(class_names)} class_names but num_classes {num_classes}; {REEXPORT}")
    extra = _field(manifest, "extra_mask_channels", int, where)
    files = _field(manifest, "files", dict, where)
    graphs = _field(manifest, "graphs", dict, where)
    noise = _field(manifest, "noise", dict, where)
    if not isinstance(noise.get("numel"), int) or noise["numel"] < 1 or noise.get("input") != "noise":
        raise PackageError(f'{where}: malformed "noise" entry {noise!r}; {REEXPORT}')
    package = Package(
        root=root,
        manifest=manifest,
        domain=str(manifest.get("domain") or ""),
        class_names=tuple(str(n) for n in class_names),
        extra_channels=extra,
        style_dim=_field(manifest, "style_dim", int, where),
        height=_field(manifest, "height", int, where),
        width=_field(manifest, "width", int, where),
        precision=str(manifest.get("precision", "fp32")),
        noise_numel=noise["numel"],
        encoder=_graph_spec(root, "encoder", graphs.get("encoder"), extra, files),
        generator=_graph_spec(root, "generator", graphs.get("generator"), extra, files),
    )
    if verify:
        verify_files(root, files)
    else:
        missing = sorted(name for name in files if not _package_file(root, name, "files").is_file())
        if missing:
            raise PackageError(f"{root}: files named in the manifest are missing: {missing}; {REEXPORT}")
    return package
