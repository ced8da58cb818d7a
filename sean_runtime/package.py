"""Reading an exported package: the manifest is checked field by field and every file against its sha256.

The format is docs/package-format.md. Nothing in the folder is trusted that the manifest does not name.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sean_core.checkpoint_files import model_folder_kind
from sean_core.errors import FileWriteError, PackageError, flag_argument
from sean_core.files import (
    MISSING,
    path_argument,
    path_problem,
    read_json,
    recover_folder,
    resolved,
    sha256_file,
)
from sean_core.format import (
    BATCH,
    FORMAT,
    FORMAT_VERSION,
    GRAPH_NAMES,
    MANIFEST_FILE,
    NOISE_INPUT,
    PRECISIONS,
    REEXPORT,
    GraphSpec,
    ModelShape,
    TensorSpec,
    graph_spec,
    holds_graphs,
    json_kind_name,
    plan_file,
    sidecar_file,
)
from sean_core.forms import EXPORT_EDGES, GENERATOR_FORMS


@dataclass(frozen=True)
class PackageGraph:
    """One graph of a package: its files and its interface as the manifest declares it."""

    spec: GraphSpec
    file: Path  # the ONNX file
    external_data: Path | None  # its weights file, when stored outside the graph

    @property
    def paths(self) -> tuple[Path, ...]:
        """The graph's files: the ONNX file, and its weights file beside it when there is one."""
        return (self.file,) if self.external_data is None else (self.file, self.external_data)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.spec.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.spec.outputs

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.spec.input_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.spec.output_names

    @property
    def plan(self) -> Path:
        """Where a TensorRT engine for this graph lives (it may not exist)."""
        return plan_file(self.file)

    @property
    def plan_sidecar(self) -> Path:
        return sidecar_file(self.file)


@dataclass(frozen=True)
class Package:
    """A validated package folder."""

    root: Path
    manifest: dict[str, Any]
    domain: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...] | None  # RGB per class id (format 2), None when not recorded
    shape: ModelShape
    precision: str
    generator_form: str  # one of format.GENERATOR_FORMS
    encoder: PackageGraph
    generator: PackageGraph
    # Region packages: how the edge rows are computed, one of forms.EXPORT_EDGES (`sean export --edges`;
    # "rows" in packages from before the choice). None for dense packages.
    edge_form: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def extra_channels(self) -> int:
        """E: extra mask channels the generator takes as `extra` (0: no such input)."""
        return self.shape.extra_channels

    @property
    def style_dim(self) -> int:
        return self.shape.style_dim

    @property
    def height(self) -> int:
        return self.shape.height

    @property
    def width(self) -> int:
        return self.shape.width

    @property
    def noise_numel(self) -> int:
        """N: length of the flat per-image noise vector."""
        return self.shape.noise_numel

    def graph(self, name: str) -> PackageGraph:
        return self.encoder if name == "encoder" else self.generator

    def file_sha256(self, name: str) -> str:
        return self.manifest["files"][name]


def _field(manifest: dict[str, Any], key: str, kind: type | tuple[type, ...], where: Path) -> Any:
    if key not in manifest:
        raise PackageError(f"{where}: the manifest has no {key!r} field; {REEXPORT}")
    value = manifest[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise PackageError(f"{where}: manifest field {key!r} is {value!r:.80}, not {json_kind_name(kind)}")
    return value


def _positive(manifest: dict[str, Any], key: str, where: Path) -> int:
    value = _field(manifest, key, int, where)
    if value < 1:
        raise PackageError(f"{where}: manifest field {key!r} is {value}, not a positive integer; {REEXPORT}")
    return value


def _palette(manifest: dict[str, Any], num_classes: int, where: Path) -> tuple[tuple[int, int, int], ...] | None:
    palette = manifest.get("palette")
    if palette is None:
        return None

    def is_colour(rgb: Any) -> bool:
        return isinstance(rgb, list) and len(rgb) == 3 and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in rgb
        )

    if not isinstance(palette, list) or len(palette) != num_classes or not all(map(is_colour, palette)):
        raise PackageError(f"{where}: palette must be {num_classes} [r, g, b] colours of 0..255 or null; {REEXPORT}")
    return tuple((r, g, b) for r, g, b in palette)


def _tensor_specs(items: Any, where: str) -> tuple[TensorSpec, ...]:
    if not isinstance(items, list):
        raise PackageError(f"{where} must be a list of {{name, dtype, shape}}; {REEXPORT}")
    try:
        return tuple(TensorSpec.from_dict(item) for item in items)
    except ValueError as exc:
        raise PackageError(f"{where}: {exc}; {REEXPORT}") from exc


def _package_file(root: Path, name: Any, where: str) -> Path:
    """A file named by the manifest: a plain name inside the package folder, not a link out of it."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise PackageError(f"{root}: {where} names {name!r:.80}; package files must be plain names inside the folder")
    path = root / name
    if path.is_symlink():
        target = resolved(path, PackageError)
        if target.parent != resolved(root, PackageError):
            raise PackageError(
                f"{path} is a symbolic link to {target}, outside the package; copy the file into the package"
            )
    return path


def _package_graph(root: Path, name: str, entry: Any, shape: ModelShape, files: dict[str, str]) -> PackageGraph:
    """Graph `name` of the manifest, whose interface must be exactly the one the format defines for `shape`."""
    where = f"{root / MANIFEST_FILE}: graphs.{name}"
    if not isinstance(entry, dict):
        raise PackageError(f"{where} is missing; {REEXPORT}")
    onnx_file = _package_file(root, entry.get("file"), f"graphs.{name}.file")
    external = entry.get("external_data")
    external_file = _package_file(root, external, f"graphs.{name}.external_data") if external else None
    for path in (onnx_file, external_file):
        if path is not None and path.name not in files:
            raise PackageError(f'{where}: {path.name} has no sha256 in the manifest\'s "files"; {REEXPORT}')
    inputs = _tensor_specs(entry.get("inputs"), f"{where}.inputs")
    declared = GraphSpec(name, inputs, _tensor_specs(entry.get("outputs"), f"{where}.outputs"))
    expected = graph_spec(shape, name)
    if declared != expected:
        def listing(spec: GraphSpec) -> str:
            return "; ".join(f"{t.name} {t.dtype} {list(t.shape)}" for t in (*spec.inputs, *spec.outputs))

        raise PackageError(
            f"{where}: declares {listing(declared)}, but a package of these sizes has {listing(expected)}; {REEXPORT}"
        )
    return PackageGraph(declared, onnx_file, external_file)


def check_graph_io(graph: PackageGraph, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> None:
    """The interface a backend read from the graph file itself must be the one the manifest declares.

    inputs / outputs: as the backend sees them (dtype names as in the format, e.g. "float32"); any
    dimension that is not an integer is a dynamic one and stands for the batch axis.
    """

    def table(specs: Sequence[TensorSpec]) -> dict[str, tuple[str, tuple]]:
        return {t.name: (t.dtype, tuple(d if isinstance(d, int) else BATCH for d in t.shape)) for t in specs}

    def listing(found: dict[str, tuple[str, tuple]]) -> str:
        return "; ".join(f"{name} {dtype} {list(shape)}" for name, (dtype, shape) in sorted(found.items()))

    for kind, actual, declared in (("inputs", inputs, graph.inputs), ("outputs", outputs, graph.outputs)):
        if table(actual) != table(declared):
            raise PackageError(
                f"{graph.file} has {kind} {listing(table(actual))} but the manifest declares "
                f"{listing(table(declared))}; the graph does not belong to this manifest, {REEXPORT}"
            )


EMPTY_PACKAGE_PATH = "the package folder is an empty path; pass the folder `sean export` wrote"


def package_root(root: str | os.PathLike[str]) -> Path:
    """The package folder given to read_manifest / load_package (Synthesizer.load): str, pathlib.Path or any
    os.PathLike, as a Path."""
    folder = path_argument(root, "the package folder", PackageError)
    # Path("") is the working folder: an unset setting would load whatever package is there, or be called a
    # folder without manifest.json (the C++ runtime's read_manifest_text refuses it in the same words).
    if not os.fsdecode(os.fspath(root)):
        raise PackageError(EMPTY_PACKAGE_PATH)
    return folder


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed manifest.json of a package folder, with errors for a missing folder or broken JSON."""
    root = package_root(root)
    problem = path_problem(root, folder=True)
    if problem == MISSING:  # an export killed while it swapped packages may have set the package aside
        try:
            if recover_folder(root) is not None:
                problem = path_problem(root, folder=True)
        except FileWriteError as exc:  # names the folder set aside and how to move it back
            raise PackageError(str(exc)) from exc
    if problem == MISSING:
        raise PackageError(f"package folder {root} does not exist; create one with `sean export CHECKPOINT -o {root}`")
    if problem is not None:
        raise PackageError(f"package folder {root} {problem}; pass the folder `sean export` wrote")
    path = root / MANIFEST_FILE
    problem = path_problem(path)
    if problem == MISSING:
        kind = model_folder_kind(root)
        if kind is not None:
            raise PackageError(
                f"{root} is a {kind}, not a package: export it with `sean export {root} -o PACKAGE` and pass PACKAGE"
            )
        if holds_graphs(root):
            raise PackageError(
                f"{path} is missing: {root} holds a package's graphs without it; the package is incomplete: copy "
                f"the whole folder again or {REEXPORT}"
            )
        raise PackageError(f"{path} is missing: {root} is not a SEAN package (written by `sean export`)")
    if problem is not None:
        raise PackageError(f"{path} {problem}; {REEXPORT}")
    manifest = read_json(path, PackageError, f"the package is corrupt, {REEXPORT}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackageError(f'{path} is not a SEAN package manifest (no "format": "{FORMAT}")')
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
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
        problem = path_problem(_package_file(root, name, "files"))
        if problem is not None:
            problems.append(f"{name} is missing" if problem == MISSING else f"{name} {problem}")
            continue
        path = root / name
        actual = sha256_file(path)
        if actual != expected:
            problems.append(f"{name} has sha256 {actual[:12]}…, the manifest says {str(expected)[:12]}…")
    if problems:
        raise PackageError(
            f"{root} does not match its manifest: {'; '.join(problems)}. The package is incomplete or was "
            f"modified: copy the whole folder again or {REEXPORT}"
        )


def load_package(
    root: str | os.PathLike[str],
    verify: bool = True,
    graphs: Collection[str] = GRAPH_NAMES,
    manifest: dict[str, Any] | None = None,
) -> Package:
    """Read and validate a package folder. verify=False skips the sha256 check (the files must still exist).

    graphs: the graphs whose files the folder must hold (checked as the other files are); a reader that runs
    no graph itself passes () and gets the manifest's facts from a folder that may lack the graph files.
    manifest: what read_manifest(root) returned to a caller that used it before loading (`sean inspect`
    shows its facts first), so that the file is read once and the facts and the load agree.
    """
    if not set(graphs) <= set(GRAPH_NAMES):
        raise ValueError(f"graphs must be among {GRAPH_NAMES}, got {tuple(graphs)}")
    verify = flag_argument(verify, "verify")
    root = package_root(root)
    if manifest is None:
        manifest = read_manifest(root)
    where = root / MANIFEST_FILE
    class_names = _field(manifest, "class_names", list, where)
    num_classes = _field(manifest, "num_classes", int, where)
    if len(class_names) != num_classes or num_classes < 1:
        raise PackageError(f"{where}: {len(class_names)} class_names but num_classes {num_classes}; {REEXPORT}")
    if not all(isinstance(name, str) and name for name in class_names) or len(set(class_names)) != num_classes:
        raise PackageError(f"{where}: class_names must be {num_classes} distinct non-empty strings; {REEXPORT}")
    extra = _field(manifest, "extra_mask_channels", int, where)
    if extra < 0:
        raise PackageError(f"{where}: extra_mask_channels is {extra}; {REEXPORT}")
    files = _field(manifest, "files", dict, where)
    graph_entries = _field(manifest, "graphs", dict, where)
    noise = _field(manifest, "noise", dict, where)
    numel = noise.get("numel")
    if isinstance(numel, bool) or not isinstance(numel, int) or numel < 1 or noise.get("input") != NOISE_INPUT:
        raise PackageError(f'{where}: malformed "noise" entry {noise!r:.200}; {REEXPORT}')
    precision = _field(manifest, "precision", str, where)
    if precision not in PRECISIONS:
        raise PackageError(f"{where}: precision {precision!r} is not one of {PRECISIONS}; {REEXPORT}")
    generator_form = manifest.get("generator_form", "dense")
    if generator_form not in GENERATOR_FORMS:
        raise PackageError(f"{where}: generator_form {generator_form!r} is not one of {GENERATOR_FORMS}; {REEXPORT}")
    edge_form = manifest.get("edge_form", "rows") if generator_form == "regions" else None
    if edge_form is not None and edge_form not in EXPORT_EDGES:
        raise PackageError(f"{where}: edge_form {edge_form!r} is not one of {EXPORT_EDGES}; {REEXPORT}")
    shape = ModelShape(
        height=_positive(manifest, "height", where),
        width=_positive(manifest, "width", where),
        num_classes=num_classes,
        style_dim=_positive(manifest, "style_dim", where),
        noise_numel=numel,
        extra_channels=extra,
    )
    package = Package(
        root=root,
        manifest=manifest,
        domain=str(manifest.get("domain") or ""),
        class_names=tuple(class_names),
        palette=_palette(manifest, num_classes, where),
        shape=shape,
        precision=precision,
        generator_form=generator_form,
        edge_form=edge_form,
        encoder=_package_graph(root, "encoder", graph_entries.get("encoder"), shape, files),
        generator=_package_graph(root, "generator", graph_entries.get("generator"), shape, files),
    )
    elsewhere = {path.name for graph in GRAPH_NAMES if graph not in graphs for path in package.graph(graph).paths}
    held = {name: sha256 for name, sha256 in files.items() if name not in elsewhere}
    if verify:
        verify_files(root, held)
    else:
        missing = sorted(name for name in held if not _package_file(root, name, "files").is_file())
        if missing:
            raise PackageError(f"{root}: files named in the manifest are missing: {missing}; {REEXPORT}")
    return package
