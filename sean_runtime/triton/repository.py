"""`sean export-triton`: a Triton model repository from a package, written atomically and checked offline.

Layout (NAME defaults to "sean"; sean_runtime.triton.interface names the models and their tensors):
  REPO/README.md                 how to run it: NVIDIA's container, the Python models' environment,
                                 perf_analyzer, Kubernetes (sean_runtime.triton.readme)
  REPO/sean-triton.json          what was exported from what (the repository's own manifest), and where
                                 the repository holds each file of the package
  REPO/NAME/1/model.py           the front model (Python backend, BLS)
  REPO/NAME/1/package/           the package's manifest, read by the Python models; python backend: the
                                 graphs too, which the Python graph models load from here
  REPO/NAME_encoder/1/...        python: model.py; onnxruntime: encoder.onnx; tensorrt: the plan(s)
  REPO/NAME_generator/1/...      the same for the generator (an ONNX graph keeps its .onnx.data beside it)
  REPO/NAME_noise/1/model.py     the noise rule of the package (Python backend)
  REPO/NAME_reconstruct/1/       the ensemble (an empty version folder)
  REPO/*/config.pbtxt
The repository holds each graph once: the front and noise models run no graph and read only the manifest,
so with Triton's onnxruntime backend the graphs lie in their models' folders alone, and with TensorRT the
plans are the graphs (the package's ONNX files are not held).
The folder is built beside REPO and moved into place in one rename; an earlier repository written by
this command is replaced, any other folder is refused.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sean_core.errors import PackageError, first_sentence
from sean_core.files import (
    atomic_write_json,
    atomic_write_text,
    building_folder,
    foreign_folder_problem,
    output_problem,
    read_json,
)
from sean_core.format import MANIFEST_FILE, REGIONS_NOT_FOR_TENSORRT, graph_spec
from sean_runtime.backends.plans import PlanMismatchError, parse_capability, read_sidecar
from sean_runtime.package import Package, load_package, verify_files
from sean_runtime.triton import config as cfg
from sean_runtime.triton.interface import (
    BACKENDS,
    DEFAULT_NAME,
    GRAPH_PARAMETER,
    MANIFEST_PARAMETER,
    MODELS_PARAMETER,
    PACKAGE_FOLDER,
    PACKAGE_PARAMETER,
    PRECISION_PARAMETER,
    RECONSTRUCT_OUTPUT,
    RUNTIME_PARAMETER,
    THREADS_PARAMETER,
    ModelNames,
    front_inputs,
    front_outputs,
    graph_tensors,
    noise_tensors,
)
from sean_runtime.triton.readme import readme
from sean_runtime.triton.settings import RepositorySettings, check_settings, valid_name

REPOSITORY_FILE = "sean-triton.json"
REPOSITORY_FORMAT = "sean-triton-repository"
VERSION = "1"  # every model has one version folder
MODEL_FILE = "model.py"
# What a model.py says: the class lives in the installed runtime (sean_runtime.triton.models).
MODEL_SHIM = (
    '"""{what} (Python backend): the code is sean_runtime.triton.models of the installed sean-deploy."""\n\n'
    "from sean_runtime.triton.models import {cls} as TritonPythonModel\n\n"
    '__all__ = ["TritonPythonModel"]\n'
)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where both lie on one file system (a 1 GB graph is not copied), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _package_folder(names: ModelNames) -> str:
    """The folder of the package's manifest, relative to the repository root (the Python models' parameter)."""
    return f"{names.front}/{VERSION}/{PACKAGE_FOLDER}"


@dataclass(frozen=True)
class GraphFiles:
    """What a graph model's version folder holds, and how its config names it."""

    graph: str  # the package's graph these files run
    files: dict[str, Path]  # file name in the version folder -> source
    default_model_filename: str = ""
    cc_model_filenames: dict[str, str] | None = None


def _onnx_files(package: Package, graph: str) -> GraphFiles:
    """The graph's own files under their own names (ONNX Runtime finds the .onnx.data beside the graph)."""
    spec = package.graph(graph)
    return GraphFiles(graph, {path.name: path for path in spec.paths}, default_model_filename=spec.file.name)


def _plan_files(package: Package, graph: str, others: tuple[Path, ...]) -> GraphFiles:
    """The TensorRT plans of a graph: the package's own and those of `others`, one per compute capability."""
    by_capability: dict[str, Path] = {}
    for root in (package.root, *others):
        other = package if root == package.root else load_package(root, verify=False)
        spec = other.graph(graph)
        if not spec.plan.is_file():
            if root == package.root and not others:
                raise PackageError(
                    f"{package.root} has no TensorRT engine {spec.plan.name}; build it with `sean build-engine "
                    f"{package.root}` on the GPU that will serve it"
                )
            continue
        try:
            sidecar = read_sidecar(spec.plan_sidecar)
        except PlanMismatchError as exc:
            raise PackageError(str(exc)) from exc
        if sidecar.onnx_sha256 != package.file_sha256(package.graph(graph).file.name):
            raise PackageError(f"{spec.plan} was built from another {graph} graph than {package.root}'s")
        capability = parse_capability(sidecar.compute_capability)
        if capability is None:
            raise PackageError(f"{spec.plan_sidecar}: unreadable compute capability {sidecar.compute_capability!r}")
        by_capability.setdefault(f"{capability[0]}.{capability[1]}", spec.plan)
    if not by_capability:
        raise PackageError(
            f"no TensorRT engine for the {graph} in {package.root} or --plans-from; run `sean build-engine`")
    if len(by_capability) == 1:
        (plan,) = by_capability.values()
        return GraphFiles(graph, {"model.plan": plan}, default_model_filename="model.plan")
    names = {cc: f"{graph}.sm{cc.replace('.', '')}.plan" for cc in by_capability}
    files = {names[cc]: plan for cc, plan in by_capability.items()}
    first = next(iter(names.values()))
    return GraphFiles(graph, files, default_model_filename=first, cc_model_filenames=names)


def model_configs(
    package: Package, settings: RepositorySettings
) -> dict[str, tuple[cfg.ModelConfig, GraphFiles | str]]:
    """Every model of the repository: its config, and what its version folder holds (files, or the
    Python class its model.py names)."""
    names = ModelNames.of(settings.name)
    shape = package.shape
    batch, queue = settings.max_batch, settings.max_queue_delay_us
    python = settings.backend == "python"
    package_path = _package_folder(names)
    models: dict[str, tuple[cfg.ModelConfig, GraphFiles | str]] = {}
    for graph, model in (("encoder", names.encoder), ("generator", names.generator)):
        inputs, outputs = graph_tensors(graph_spec(shape, graph))
        common = dict(name=model, inputs=inputs, outputs=outputs, max_batch_size=batch, max_queue_delay_us=queue,
                      instances=settings.instances)
        if python:
            parameters = {PACKAGE_PARAMETER: package_path, GRAPH_PARAMETER: graph,
                          RUNTIME_PARAMETER: settings.graph_runtime,
                          THREADS_PARAMETER: "", PRECISION_PARAMETER: settings.precision}
            models[model] = (cfg.ModelConfig(**common, backend=cfg.PYTHON_BACKEND, parameters=parameters),
                             "GraphModel")
            continue
        files = _onnx_files(package, graph) if settings.backend == "onnxruntime" else _plan_files(
            package, graph, settings.plans_from)
        platform = cfg.ONNX_PLATFORM if settings.backend == "onnxruntime" else cfg.TENSORRT_PLATFORM
        models[model] = (
            cfg.ModelConfig(**common, platform=platform, instance_kind="KIND_GPU",
                            default_model_filename=files.default_model_filename,
                            cc_model_filenames=files.cc_model_filenames or {}),
            files,
        )
    manifest = json.dumps(package.manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    models[names.front] = (
        cfg.ModelConfig(
            name=names.front, inputs=front_inputs(shape), outputs=front_outputs(shape), max_batch_size=batch,
            max_queue_delay_us=queue, instances=settings.instances, backend=cfg.PYTHON_BACKEND,
            parameters={PACKAGE_PARAMETER: package_path, MANIFEST_PARAMETER: manifest,
                        MODELS_PARAMETER: json.dumps({"encoder": names.encoder, "generator": names.generator})},
        ),
        "SynthesizeModel",
    )
    noise_in, noise_out = noise_tensors(shape)
    models[names.noise] = (
        cfg.ModelConfig(name=names.noise, inputs=noise_in, outputs=noise_out, max_batch_size=batch,
                        max_queue_delay_us=queue, instances=settings.instances, backend=cfg.PYTHON_BACKEND,
                        parameters={PACKAGE_PARAMETER: package_path}),
        "NoiseModel",
    )
    models[names.reconstruct] = (_reconstruct(package, names, batch), "")
    return models


def _reconstruct(package: Package, names: ModelNames, batch: int) -> cfg.ModelConfig:
    """The ensemble image, labels, seed, noise (+ extra) -> RECONSTRUCT_OUTPUT, the generator's image (an
    ensemble tensor has one name for the whole graph, so the output cannot be called `image` too)."""
    enc_in, _ = graph_tensors(graph_spec(package.shape, "encoder"))
    gen_in, gen_out = graph_tensors(graph_spec(package.shape, "generator"))
    noise_in, _ = noise_tensors(package.shape)
    seed, enabled = noise_in
    extra = [t for t in gen_in if t.name == "extra"]
    inputs = (*enc_in, seed, replace(enabled, name="noise"), *extra)
    generator_inputs = {t.name: t.name for t in gen_in}
    steps = (
        cfg.EnsembleStep(names.noise, {"seed": "seed", "enabled": "noise"}, {"noise": "_noise"}),
        cfg.EnsembleStep(names.encoder, {t.name: t.name for t in enc_in}, {"codes": "_codes"}),
        cfg.EnsembleStep(names.generator, {**generator_inputs, "codes": "_codes", "noise": "_noise"},
                         {"image": RECONSTRUCT_OUTPUT}),
    )
    (image,) = gen_out
    outputs = (replace(image, name=RECONSTRUCT_OUTPUT),)
    return cfg.ModelConfig(name=names.reconstruct, inputs=inputs, outputs=outputs, max_batch_size=batch,
                           platform=cfg.ENSEMBLE_PLATFORM, steps=steps)


def package_places(package: Package, backend: str, names: ModelNames) -> dict[str, str]:
    """Where a repository for `backend` holds each file of the package: file name -> folder relative to the
    root. Each file once: the python backend's graph models load the graphs from the package folder, Triton's
    onnxruntime backend finds each graph in its model's version folder, and a tensorrt repository holds the
    plans instead of the graphs; every other file lies in the package folder."""
    folder = _package_folder(names)
    places = {name: folder for name in package.manifest["files"]}
    if backend != "python":
        for graph, model in (("encoder", names.encoder), ("generator", names.generator)):
            for path in package.graph(graph).paths:
                del places[path.name]
                if backend == "onnxruntime":
                    places[path.name] = f"{model}/{VERSION}"
    return places


def _check_destination(out: Path, package_dir: Path) -> None:
    """`out` may be new, an empty folder or an earlier repository (replaced), and never the package, a folder
    inside it (a later `sean export` into the package would delete the repository) or one that holds it."""
    problem = output_problem(out, [package_dir], force=True, folder=True)
    if problem is not None:
        raise PackageError(f"-o {out} {problem}")
    if out.exists():
        if not out.is_dir():
            raise PackageError(f"-o {out} is a file; choose a folder for the repository")
        problem = foreign_folder_problem(
            out, lambda folder: (folder / REPOSITORY_FILE).is_file(),
            f"a repository written by `sean export-triton` (no {REPOSITORY_FILE})",
        )
        if problem is not None:
            raise PackageError(problem)


def _write(root: Path, package: Package, settings: RepositorySettings,
           models: dict[str, tuple[cfg.ModelConfig, GraphFiles | str]], places: dict[str, str]) -> None:
    names = ModelNames.of(settings.name)
    for model, (config, content) in models.items():
        version = root / model / VERSION
        version.mkdir(parents=True)
        atomic_write_text(root / model / cfg.CONFIG_FILE, cfg.render(config))
        if isinstance(content, GraphFiles):
            for filename, source in content.files.items():
                _link_or_copy(source, version / filename)
        elif content:
            atomic_write_text(version / MODEL_FILE, MODEL_SHIM.format(what=model, cls=content))
    folder = _package_folder(names)
    for name in [MANIFEST_FILE, *(name for name, place in sorted(places.items()) if place == folder)]:
        _link_or_copy(package.root / name, root / folder / name)
    configs = {model: config for model, (config, _) in models.items()}
    atomic_write_text(root / "README.md", readme(package, settings, names, configs))
    atomic_write_json(root / REPOSITORY_FILE, {
        "format": REPOSITORY_FORMAT,
        "backend": settings.backend,
        "name": settings.name,
        "models": list(names.all()),
        "max_batch": settings.max_batch,
        "instances": settings.instances,
        "max_queue_delay_us": settings.max_queue_delay_us,
        "precision": settings.precision,
        "package_sha256": package.manifest["files"],
        "package_files": places,
    })


def check_repository(root: Path, models: dict[str, tuple[cfg.ModelConfig, Any]]) -> None:
    """Offline: every config.pbtxt parses and says what was meant; ONNX graph models' files declare the
    tensors of the manifest (read back with ONNX Runtime when it is installed); the package's files are
    where sean-triton.json says, with the manifest's sha256."""
    for model, (config, _) in models.items():
        cfg.check_config(root / model / cfg.CONFIG_FILE, config)
        if config.platform == cfg.ONNX_PLATFORM:
            _check_onnx(root / model / VERSION / config.default_model_filename, config)
    check_repository_package(root, read_repository(root))


def _check_onnx(path: Path, config: cfg.ModelConfig) -> None:
    try:
        import onnxruntime
    except ImportError:
        return  # the manifest check of load_package already ties the graph files to their sha256
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    types = {"tensor(float)": "float32", "tensor(int32)": "int32"}

    def listed(args) -> list[tuple]:
        return [(a.name, types.get(a.type, a.type), [d if isinstance(d, int) else -1 for d in a.shape][1:])
                for a in args]

    def meant(tensors) -> list[tuple]:
        return [(t.name, t.dtype, list(t.dims)) for t in tensors]

    for kind, got, want in (("inputs", listed(session.get_inputs()), meant(config.inputs)),
                            ("outputs", listed(session.get_outputs()), meant(config.outputs))):
        if got != want:
            raise PackageError(f"{path} has {kind} {got} but {config.name}'s config declares {want}")


def export_repository(package_dir: str | Path, out: str | Path, settings: RepositorySettings) -> Path:
    """Write and check the repository; return its folder."""
    check_settings(settings)
    out = Path(out)
    package = load_package(package_dir, verify=True)
    if settings.backend == "tensorrt" and package.generator_form == "regions":
        raise PackageError(f"cannot export {package.root} for TensorRT: {REGIONS_NOT_FOR_TENSORRT}")
    _check_destination(out, package.root)
    models = model_configs(package, settings)
    # _check_destination again when moving in: another export may have finished meanwhile
    with building_folder(out, check=lambda: _check_destination(out, package.root)) as built:
        places = package_places(package, settings.backend, ModelNames.of(settings.name))
        _write(built, package, settings, models, places)
        check_repository(built, models)
    return out


def check_repository_package(root: Path, facts: dict[str, Any]) -> None:
    """The package's files in a repository lie where sean-triton.json's package_files says, which is where an
    export for its backend puts them (package_places), and still have the sha256 its manifest records: they
    are hard links to the exported package's where the file system allows, so a package changed in place
    changes them too."""
    again = "export the repository again with `sean export-triton`"
    fix = f"the package it was exported from was changed in place: {again}"
    places = facts.get("package_files")
    if not isinstance(places, dict):
        raise PackageError(f"{root}: {REPOSITORY_FILE} does not say where the package's files are (written by an "
                           f"earlier sean-deploy): {again}")
    name = facts.get("name", DEFAULT_NAME)
    if not valid_name(name):
        raise PackageError(f"{root}: {REPOSITORY_FILE} names no model Triton serves ({name!r}; it was edited): {again}")
    names = ModelNames.of(name)

    def changed(exc: PackageError) -> PackageError:
        return PackageError(f"{root}: its package no longer matches its manifest ({first_sentence(exc)}); {fix}")

    try:
        package = load_package(root / _package_folder(names), verify=True, graphs=())
    except PackageError as exc:
        raise changed(exc) from None
    backend = facts.get("backend")
    if backend not in BACKENDS or places != package_places(package, backend, names):
        raise PackageError(f"{root}: {REPOSITORY_FILE} does not say where a repository for the {backend} backend "
                           f"holds the package's files (it was edited): {again}")
    hashes = package.manifest["files"]
    try:
        for folder in sorted(set(places.values())):
            verify_files(root / folder, {name: hashes[name] for name, place in places.items() if place == folder})
    except PackageError as exc:
        raise changed(exc) from None
    # the manifest is a link too: another package copied over the source passes the check above, not this one
    if hashes != facts.get("package_sha256"):
        problem = f"its package is not the one exported ({REPOSITORY_FILE} records other files)"
        raise PackageError(f"{root}: {problem}; {fix}")


def read_repository(root: str | Path) -> dict[str, Any]:
    """The sean-triton.json of a repository, with one-line errors for a folder that is not one."""
    root = Path(root)
    if not (root / REPOSITORY_FILE).is_file():
        raise PackageError(f"{root} is not a repository written by `sean export-triton` (no {REPOSITORY_FILE})")
    data = read_json(root / REPOSITORY_FILE, PackageError, "export it again with `sean export-triton PKG -o REPO`")
    if not isinstance(data, dict) or data.get("format") != REPOSITORY_FORMAT:
        raise PackageError(f"{root / REPOSITORY_FILE} is not a sean-triton repository manifest")
    return data
