"""The region form of the folded generator (networks.regions): class rows inside regions, exact rows at edges."""

from __future__ import annotations

import pytest
import torch

from sean_runtime.backends.openvino import compile_config, new_core
from sean_train.config import ModelConfig
from sean_train.networks.generator import noise_layout
from sean_train.networks.inference import fold_for_inference
from sean_train.networks.ops import lookup_taps, one_hot, table_ids
from sean_train.networks.regions import present_classes, region_maps
from tests.helpers import TINY, make_random_model


def region_inputs(config: ModelConfig, batch: int = 2, seed: int = 0):
    """Labels with large regions (so most pixels are interior), a strip of per-pixel random ids, ids in
    no class (-1 and K + 3) covering whole interiors, and codes / noise in float64."""
    g = torch.Generator().manual_seed(seed)
    h, w, k = config.height, config.width, config.num_classes
    labels = torch.zeros(batch, h, w, dtype=torch.int64)
    labels[:, : h // 2] = 1
    labels[:, :, w // 3 :] = 2
    labels[0, h // 4 : h // 2, w // 5 : w // 2] = 3
    labels[-1, 10:30, 10:40] = -1
    labels[-1, 40:50, 5:20] = k + 3
    labels[:, h // 2 : h // 2 + 6] = torch.randint(0, k, (batch, 6, w), generator=g)
    codes = torch.rand(batch, k, config.style_dim, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(batch, noise_layout(config).numel, generator=g, dtype=torch.float64)
    return labels, codes, noise


def _window_is_one_class(ids: torch.Tensor, radius: int) -> torch.Tensor:
    """Brute force: [B, H, W] bool, the (2 radius + 1)^2 window inside the image and of one id."""
    b, h, w = ids.shape
    out = torch.zeros(b, h, w, dtype=torch.bool)
    for i in range(b):
        for y in range(radius, h - radius):
            for x in range(radius, w - radius):
                window = ids[i, y - radius : y + radius + 1, x - radius : x + radius + 1]
                out[i, y, x] = bool((window == window[0, 0]).all())
    return out


@pytest.mark.parametrize("layout,size", [("normal", (128, 128)), ("more", (64, 128))])
def test_region_form_equals_training_form(layout, size):
    """Every layer in region form, with either form of edge rows (and the auto choices): the training
    form's image, in float64."""
    config = ModelConfig(**{**TINY, "height": size[0], "width": size[1], "layout": layout})
    generator = make_random_model(config, scale=0.08).double().generator
    labels, codes, noise = region_inputs(config)
    with torch.no_grad():
        expected = generator(one_hot(labels, config.num_classes).double(), codes, noise)
        for mode, edges in (("regions", "rows"), ("regions", "windows"), ("auto", "auto")):
            style = "lookup" if mode == "regions" else None
            folded = fold_for_inference(generator, style, region_mode=mode, edge_mode=edges)
            norms = [m for m in folded.modules() if hasattr(m, "regions")]
            forms = [m.form for m in norms]
            # auto: the region form on the maps of forms.REGION_MIN_PIXELS and more (128 x 128 only)
            assert forms.count("regions") == (len(forms) if mode == "regions" else 3 * (size == (128, 128)))
            region_norms = [m.regions for m in norms if m.regions is not None]
            # auto: window products on maps up to forms.EDGE_WINDOW_MAX_PIXELS (64 x 64): none in region form here
            auto_edges = {"rows"} if region_norms else set()
            assert {r.edges for r in region_norms} == ({edges} if mode == "regions" else auto_edges)
            actual = folded(labels, codes, noise)
            assert expected.std() > 0.02
            assert (actual - expected).abs().max().item() < 1e-12
            styles = [m.style for m in norms if m.regions is not None and m.style is not None]
            assert all(s.all_classes for s in styles)  # TINY's few classes: the FC over all of them
            assert styles or mode == "auto"
            for s in styles:  # the FC of the present classes alone, as in models of many classes
                s.all_classes = False
            assert (folded(labels, codes, noise) - expected).abs().max().item() < 1e-12
            for s in styles:
                s.all_classes = True
            blocks = list(folded.blocks.values())
            region_blocks = [b for b in blocks if b.norm_0.form == "regions"]
            assert all(b.channels_last for b in region_blocks) and not any(b.channels_last for b in blocks
                                                                           if b not in region_blocks)
            for block in region_blocks:  # the channels-first path of a region norm (a block of mixed forms)
                block.channels_last = False
            assert (folded(labels, codes, noise) - expected).abs().max().item() < 1e-12


def test_region_maps_find_the_edge_pixels_and_rank_their_rows():
    config = ModelConfig(**TINY)
    labels, _, _ = region_inputs(config)
    labels[:, 32:38] = 5  # over the random strip: classes 0, 1, 2, 3, 5 and ids in no class
    k = config.num_classes
    present = present_classes(labels, k)
    assert present.classes.tolist() == [0, 1, 2, 3, 5]
    assert present.rows.tolist() == [0, 1, 2, 3, 4, 6]
    assert present.compact[present.rows].tolist() == [0, 1, 2, 3, 4, 5]
    small = labels[:, ::2, ::2]  # [2, 32, 32], as the 32 x 32 layers read them
    ids = table_ids(small, k)
    maps = region_maps(ids, lookup_taps(small, k), k, present)
    interior = _window_is_one_class(ids, 2).reshape(-1)
    edges = int((~interior).sum())
    assert 0 < edges < interior.numel()  # both kinds of pixel
    classes = len(present.rows)
    image = torch.arange(2).repeat_interleave(32 * 32)
    compact = present.compact[ids].reshape(-1)
    assert torch.equal(maps.rows[interior], image[interior] * classes + compact[interior])
    near = ~_window_is_one_class(ids, 1).reshape(-1)
    # [B H W, 9] with zero padding (as the one-hot taps), [B H W, 25] with the border an id of its own
    windows3, windows5 = _windows(ids, 1, outside=0), _windows(ids, 2, outside=k + 1)
    # An edge pixel's row: one per distinct (image, 5x5 window), after the class rows.
    pair = maps.rows[~interior] - 2 * classes  # [N]
    image_windows = torch.cat([image[:, None], windows5], 1)[~interior]  # [N, 26]
    distinct_pairs, pair_of_pixel = torch.unique(image_windows, dim=0, return_inverse=True)
    assert maps.edge_windows.shape[0] == len(distinct_pairs) < edges
    assert sorted(set(pair.tolist())) == list(range(len(distinct_pairs)))
    # Both numberings have V values and V combinations: the same pixels share a row as share a pair.
    assert len(set(zip(pair.tolist(), pair_of_pixel.tolist(), strict=True))) == len(distinct_pairs)
    # One activation row per distinct 3x3 window of the near pixels, one product per distinct 5x5 window.
    distinct3 = torch.unique(windows3[near], dim=0)
    assert maps.near_taps.shape == distinct3.shape
    tap_starts = torch.arange(9) * (k + 1)
    assert torch.equal(torch.unique(maps.near_taps - tap_starts, dim=0), distinct3)
    assert maps.edge_patches.shape[0] == len(torch.unique(windows5[~interior], dim=0))
    # Every edge pixel's product reads activations of its own neighbours' 3x3 windows.
    head = k + 2  # activation rows before the exact ones: zero padding, then K + 1 class rows
    act = maps.edge_patches[maps.edge_windows[pair]]  # [N, 9]
    exact = act >= head
    neighbour = windows3[_windows(torch.arange(2 * 32 * 32).view(2, 32, 32), 1, outside=-1)[~interior]]
    assert torch.equal((maps.near_taps - tap_starts)[act[exact] - head], neighbour[exact])
    assert torch.equal(act[~exact & (act > 0)], 1 + neighbour[~exact & (act > 0)][:, 4])
    # An edge pixel's style row: its class's row unless its 3x3 window is not one class, then a row per
    # image and distinct window.
    edge_near = near[~interior]
    style_rows = maps.edge_style_rows[pair]  # [N]
    assert torch.equal(style_rows[~edge_near], (image * classes + compact)[~interior][~edge_near])
    rows = style_rows[edge_near] - 2 * classes
    assert maps.near_image_taps.shape[0] == len(torch.unique(torch.cat([image[near, None], windows3[near]], 1), dim=0))
    image_taps = (maps.near_image_taps[rows] - (image[~interior][edge_near] * 9 * classes).unsqueeze(1)) % classes
    assert torch.equal(image_taps, present.compact[windows3[~interior][edge_near]])


def _windows(ids: torch.Tensor, radius: int, outside: int) -> torch.Tensor:
    """Brute force: ids [B, H, W] -> each pixel's (2 radius + 1)^2 window of ids, row-major, `outside`
    beyond the image: [B H W, (2 radius + 1)^2]."""
    padded = torch.nn.functional.pad(ids, (radius,) * 4, value=outside)
    side = 2 * radius + 1
    h, w = ids.shape[1:]
    taps = [padded[:, dy : dy + h, dx : dx + w] for dy in range(side) for dx in range(side)]
    return torch.stack(taps, -1).reshape(-1, side * side)


def test_region_form_is_exact_on_a_map_with_no_interior():
    """Per-pixel random ids: every pixel an edge pixel, the products over all of them."""
    config = ModelConfig(**TINY)
    generator = make_random_model(config, scale=0.08).double().generator
    _, codes, noise = region_inputs(config)
    labels = torch.randint(-1, config.num_classes + 1, (2, config.height, config.width))
    with torch.no_grad():
        expected = generator(one_hot(labels, config.num_classes).double(), codes, noise)
        actual = fold_for_inference(generator, "lookup", region_mode="regions")(labels, codes, noise)
    assert (actual - expected).abs().max().item() < 1e-12


def test_region_form_refuses_what_it_cannot_compute():
    generator = make_random_model(ModelConfig(**{**TINY, "extra_mask_channels": 1})).generator
    with pytest.raises(ValueError, match="no extra mask channels"):
        fold_for_inference(generator, "lookup", region_mode="regions")
    assert {m.form for m in fold_for_inference(generator).modules() if hasattr(m, "regions")} == {"dense"}
    plain = make_random_model(ModelConfig(**TINY)).generator
    with pytest.raises(ValueError, match="lookup style form"):
        fold_for_inference(plain, "direct", region_mode="regions")
    with pytest.raises(ValueError, match="region_mode"):
        fold_for_inference(plain, region_mode="sparse")
    with pytest.raises(ValueError, match="edge_mode"):
        fold_for_inference(plain, edge_mode="pixels")


@pytest.mark.slow
def test_region_form_exports_and_onnx_runtime_matches_it():
    """The generator graph of a region-form package (region form where it applies, NonZero-sized edge
    rows) through ONNX Runtime, batches of two different maps and of one."""
    ort = pytest.importorskip("onnxruntime")
    from sean_export.graphs import graph_module, graph_spec
    from sean_export.onnx_export import export_to_onnx
    from sean_export.opsets import DEFAULT_OPSET
    from sean_export.tensorrt_ops import UnsupportedOperatorError, check_tensorrt_ops

    config = ModelConfig(**{**TINY, "height": 128, "width": 128})  # region form from forms.REGION_MIN_PIXELS
    model = make_random_model(config, scale=0.08)
    assert {m.form for m in graph_module(model, "generator", inference=True).modules() if hasattr(m, "regions")} == {
        "dense"
    }
    module = graph_module(model, "generator", inference=True, regions=True)
    assert "regions" in {m.form for m in module.modules() if hasattr(m, "regions")}
    labels, codes, noise = region_inputs(config)
    labels, codes, noise = labels.int(), codes.float(), noise.float()
    proto = export_to_onnx(module, graph_spec(config, "generator"), (labels, codes, noise), DEFAULT_OPSET)
    # Within TensorRT's operator and type list; NonZero, forbidden in static graphs, only in this form.
    assert check_tensorrt_ops(proto, "generator", data_dependent=True)["NonZero"] > 0
    with pytest.raises(UnsupportedOperatorError, match="NonZero"):
        check_tensorrt_ops(proto, "generator")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (2, 1):
        feeds = {"labels": labels[:batch].numpy(), "codes": codes[:batch].numpy(), "noise": noise[:batch].numpy()}
        (image,) = session.run(None, feeds)
        with torch.no_grad():
            expected = model.generator(one_hot(labels[:batch], config.num_classes), codes[:batch], noise[:batch])
        assert abs(image - expected.numpy()).max() < 1e-4


@pytest.fixture(scope="module")
def region_packages(tmp_path_factory):
    """A tiny 128 x 128 model exported with --form dense, with `sean export`'s default, which writes an
    fp32 package of such a model in region form (validated against PyTorch on export), and with
    --edges windows (the region form with one product per distinct edge window)."""
    from click.testing import CliRunner

    from sean_export import export_package
    from sean_export.commands import export
    from sean_train.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("regions")
    config = ModelConfig(**{**TINY, "height": 128, "width": 128})
    checkpoint = save_checkpoint(make_random_model(config, scale=0.08), folder / "checkpoint")
    dense = export_package(checkpoint, folder / "dense", progress=False, validate=False, form="dense")
    result = CliRunner().invoke(export, [str(checkpoint), "-o", str(folder / "regions"), "-q"])
    assert result.exit_code == 0 and "(fp32, regions generator," in result.output, result.output
    windows = folder / "windows"
    result = CliRunner().invoke(export, [str(checkpoint), "-o", str(windows), "--edges", "windows", "-q"])
    assert result.exit_code == 0 and "(fp32, regions generator," in result.output, result.output
    return config, dense, folder / "regions", windows


@pytest.mark.slow
def test_the_profile_puts_every_region_layer_node_in_its_part(region_packages):
    """`sean bench --profile` on a region package: the exporter numbers a block's region modules (regions_1,
    ...) and names the channels-last SEAN arithmetic and shortcut under the block; none of those nodes is
    "other" (29% of the official-size generator's time was)."""
    import re

    import numpy as np

    from sean_runtime.backends.feeds import generator_feeds
    from sean_runtime.package import load_package
    from sean_tools.bench.inputs import face_labels
    from sean_tools.bench.profile import grouped, onnxruntime_nodes, part_of

    config, _, regions, _ = region_packages
    package = load_package(regions)
    labels = face_labels(np.random.default_rng(0), 1, config.num_classes, config.height, config.width)
    codes = np.zeros((1, config.num_classes, config.style_dim), np.float32)
    noise = np.zeros((1, package.manifest["noise"]["numel"]), np.float32)
    nodes, _, _ = onnxruntime_nodes(package.generator.file, generator_feeds(labels, codes, noise, None), 1, 1)
    numbered = [name for name, _, _ in nodes if re.search(r"/regions_\d+/", name)]
    assert numbered, "the package has numbered region modules (the case this test is about)"
    for name, op, _ in nodes:
        if "/regions" in name or re.search(r"/generator/(head|middle|up)_\d+/[A-Z]", name):
            assert part_of(name, op) != "other", (name, op)
        if re.search(r"/generator/(head|middle|up)_\d+/MatMul", name):  # the shortcut's product
            assert part_of(name, op) == "ResBlk convs", name
        if "/shared/" in name:
            assert part_of(name, op) == "mask branch: shared conv on the one-hot", name
    parts = dict(grouped(nodes, 1)["part"])
    assert parts["gamma/beta at region edges (products)"] > 0 and parts["SEAN layers: gathers, element-wise ops"] > 0


@pytest.mark.slow
def test_a_region_package_synthesizes_the_dense_packages_images(region_packages):
    """The region form (`sean export`'s default here): manifest and graph say so; ONNX Runtime, OpenVINO and
    the C++ runtime give the dense package's images; TensorRT declines it with the reason."""
    import json

    import numpy as np
    import onnx

    from sean_core.format import REGIONS_NOT_FOR_TENSORRT
    from sean_runtime.backends.tensorrt import tensorrt_problem
    from sean_runtime.package import load_package
    from sean_runtime.synthesizer import Synthesizer
    from sean_tools.bench.inputs import face_labels

    config, dense, regions, windows = region_packages
    assert json.loads((regions / "manifest.json").read_text())["generator_form"] == "regions"
    assert load_package(dense).generator_form == "dense"
    package = load_package(regions)
    assert package.generator_form == "regions"
    # The edge form `sean export --edges` chose, in the manifest and each graph's metadata.
    assert (package.edge_form, load_package(windows).edge_form, load_package(dense).edge_form) == (
        "auto", "windows", None
    )
    graph = onnx.load(str(windows / "generator.onnx"), load_external_data=False)
    metadata = {entry.key: entry.value for entry in graph.metadata_props}
    assert metadata["sean.edge_form"] == "windows"
    assert tensorrt_problem(package) == REGIONS_NOT_FOR_TENSORRT
    assert "NonZero" in {n.op_type for n in onnx.load(str(regions / "generator.onnx")).graph.node}
    assert "NonZero" not in {n.op_type for n in onnx.load(str(dense / "generator.onnx")).graph.node}

    labels = face_labels(np.random.default_rng(0), 2, config.num_classes, 128, 128)
    images = np.random.default_rng(1).integers(0, 256, (2, 128, 128, 3), dtype=np.uint8)
    reference = Synthesizer.load(dense, backend="onnxruntime")
    styles = reference.encode(images, labels)
    expected = reference.render(labels, styles, seed=3).astype(np.float64)
    backends = ["onnxruntime"] + (["openvino"] if _installed("openvino") else [])
    for backend in backends:
        for package in (regions, windows):
            with Synthesizer.load(package, backend=backend) as synth:
                assert np.abs(synth.render(labels, styles, seed=3) - expected).max() < 1e-4, (backend, package)
    # The two edge forms are two graphs: the windows package's products read the activation patches.
    sums = [
        sum(n.op_type == "ReduceSum" for n in onnx.load(str(package / "generator.onnx")).graph.node)
        for package in (regions, windows)
    ]
    assert sums[0] > sums[1]
    library = _cpp_library()
    if library is not None:  # the C++ runtime (OpenVINO) on the region package, within one level
        from sean_runtime.cpp.binding import CppRuntime

        cpp = CppRuntime(library, regions, threads=1)
        try:
            image = cpp.synthesize(labels[:1], cpp.select(cpp.encode(images, labels), 0), seed=3)
        finally:
            cpp.close()
        want = reference.synthesize(labels[:1], styles[0], seed=3)
        assert np.abs(image.astype(int) - want).max() <= 1
        # and equal to the Python OpenVINO backend's, which compiles the same rewritten graphs
        with Synthesizer.load(regions, backend="openvino", threads=1) as python:
            own = python.encode(images, labels)[0]
            np.testing.assert_array_equal(image, python.synthesize(labels[:1], own, seed=3))


@pytest.mark.slow
def test_the_bench_times_a_given_package_as_the_form_it_has(region_packages):
    """`sean bench PKG`: a region package's rows say "region form" and count the region form's FLOPs."""
    import numpy as np

    from sean_tools.bench.inputs import face_labels, given_package_key
    from sean_tools.bench.plan import counted_gflop

    config, dense, regions, windows = region_packages
    assert given_package_key(regions) == given_package_key(windows) == "regions"
    # FLOPs in the edge form the package records: window products cost more multiply-adds here.
    labels = face_labels(np.random.default_rng(0), 1, config.num_classes, 128, 128)
    counted = {p.name: counted_gflop(config, "regions", labels, str(p))["synthesize"] for p in (regions, windows)}
    assert counted["windows"] > counted["regions"] > 0
    assert given_package_key(dense) == "fp32"


def _cpp_library():
    """libsean.so of the C++ runtime's release build (built by test_cpp_runtime; None without its tools)."""
    from pathlib import Path

    from sean_runtime.cpp import binding

    try:
        build = binding.cmake_build(Path(__file__).resolve().parents[1] / "build" / "pytest-release",
                                    "-DCMAKE_BUILD_TYPE=Release")
    except binding.BuildError as exc:
        if exc.missing:
            return None
        raise
    return build / "libsean.so"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_region_packages_are_fp32_only(tmp_path):
    from sean_core.errors import SeanError
    from sean_export import export_package

    with pytest.raises(SeanError, match="region-form packages are fp32"):
        export_package(tmp_path / "no-checkpoint", tmp_path / "out", precision="fp16", form="regions")
    for precision, form in (("fp16", "auto"), ("fp32", "dense")):  # before the checkpoint is read
        with pytest.raises(SeanError, match=r"edges 'windows' is for the region form.*; leave --edges out$"):
            export_package(tmp_path / "no-checkpoint", tmp_path / "out", precision=precision, form=form,
                           edges="windows")
    with pytest.raises(SeanError, match="edges must be one of"):
        export_package(tmp_path / "no-checkpoint", tmp_path / "out", edges="pixels")


def test_an_edge_form_on_a_model_whose_package_is_dense_is_refused_in_one_line(tmp_path):
    from click.testing import CliRunner

    from sean_export.commands import export
    from sean_train.checkpoint import save_checkpoint

    checkpoint = save_checkpoint(make_random_model(ModelConfig(**TINY)), tmp_path / "checkpoint")  # 64 x 64
    result = CliRunner().invoke(export, [str(checkpoint), "-o", str(tmp_path / "out"), "--edges", "rows", "-q"])
    assert result.exit_code != 0 and "no layer of this 64x64 model takes it, so its package is dense" in result.output
    assert result.output.rstrip().endswith("; leave --edges out")  # what to do: it said "is dense", and no more
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_auto_form_is_regions_for_fp32_models_with_a_region_layer_and_dense_otherwise():
    """`sean export --form auto` (the default): fp16 packages stay dense (TensorRT's static graph), as does a
    model without a region layer; an explicit form is kept."""
    from sean_export.package import generator_form

    large, small = (ModelConfig(**{**TINY, "height": side, "width": side}) for side in (128, 64))
    assert generator_form(large, "fp32", "auto") == "regions"
    assert generator_form(large, "fp16", "auto") == "dense"
    assert generator_form(large, "fp32", "dense") == "dense"
    assert generator_form(small, "fp32", "auto") == "dense"
    assert generator_form(small, "fp16", "dense") == "dense"


def test_regions_on_a_model_without_a_region_layer_is_a_one_line_error(tmp_path):
    """64 x 64 and 8 classes: every map below 128² and the dense styles factorized, so no region layer."""
    from click.testing import CliRunner

    from sean_export.commands import export
    from sean_train.checkpoint import save_checkpoint

    checkpoint = save_checkpoint(make_random_model(ModelConfig(**TINY)), tmp_path / "checkpoint")
    result = CliRunner().invoke(export, [str(checkpoint), "-o", str(tmp_path / "out"), "--form", "regions", "-q"])
    assert result.exit_code != 0 and "export it with --form dense or auto" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_folded_layers_list_the_forms_the_folded_model_has():
    from sean_train.networks.costs import FoldModes
    from sean_train.networks.inference import FoldedNorm, folded_layers, has_region_layers

    for size in (64, 128):
        config = ModelConfig(**{**TINY, "height": size, "width": size})
        folded = fold_for_inference(make_random_model(config).generator)
        norms = [m for m in folded.modules() if isinstance(m, FoldedNorm)]
        listed = folded_layers(config, FoldModes(style=config.style_conv))
        assert [(n.rows, n.form == "regions") for n in norms] == [(rows, f.regions) for _, rows, f in listed]
        assert has_region_layers(config) == (size == 128)
    # Every layer in region form: the edge rows by map size (forms.layer_edge_form), as listed.
    folded = fold_for_inference(make_random_model(config).generator, "lookup", region_mode="regions")
    norms = [m for m in folded.modules() if isinstance(m, FoldedNorm)]
    listed = folded_layers(config, FoldModes(style="lookup", regions="regions"))
    assert [n.regions.edges for n in norms] == [f.edges for _, _, f in listed]
    sizes = [spec.height * spec.width for spec, _, _ in listed]
    assert [f.edges for _, _, f in listed] == ["windows" if px <= 64 * 64 else "rows" for px in sizes]
    assert "rows" in [f.edges for _, _, f in listed] and "windows" in [f.edges for _, _, f in listed]


def _distinct_module():
    from sean_train.networks.regions import distinct_windows

    class Distinct(torch.nn.Module):
        def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return distinct_windows(windows, 21)  # 7 entries of 21 values to a key: keys up to 21^7 - 1

    return Distinct()


def _check_distinct(windows: torch.Tensor, ids, first) -> None:
    ids, first = torch.as_tensor(ids), torch.as_tensor(first)
    assert torch.equal(windows[first][ids], windows)  # an id's row is the row itself
    assert len(first) == len(torch.unique(windows, dim=0))  # and equal rows share it


def test_distinct_windows_number_equal_rows_alike_on_every_backend():
    """25 entries of 21 values: four keys of up to 21^7, combined pairwise; the backends number the rows
    in their own order. OpenVINO computes int64 in int32: the zero row and the row whose 14 leading
    entries are 2^32 in base 21 were one key there while 14 entries went to a key."""
    import io

    g = torch.Generator().manual_seed(0)
    windows = torch.randint(0, 21, (300, 25), generator=g)
    windows[0] = 0
    windows[1] = 0
    windows[1, 6:14] = torch.tensor([(2**32 // 21**d) % 21 for d in range(7, -1, -1)])
    windows = torch.cat([windows, windows[torch.randint(0, 300, (700,), generator=g)]])  # 300 distinct
    _check_distinct(windows, *_distinct_module()(windows))
    graph = io.BytesIO()
    torch.onnx.export(
        _distinct_module(), (windows,), graph, input_names=["windows"], dynamic_axes={"windows": {0: "n"}}, dynamo=False
    )
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(graph.getvalue(), providers=["CPUExecutionProvider"])
    _check_distinct(windows, *session.run(None, {"windows": windows.numpy()}))
    pytest.importorskip("openvino")
    config = compile_config("f32", "LATENCY", None)  # OpenVINO's default on bf16-capable CPUs is bf16
    compiled = new_core().compile_model(new_core().read_model(graph.getvalue(), b""), "CPU", config)
    _check_distinct(windows, *compiled(windows.numpy()).values())


def test_distinct_windows_keep_rows_apart_where_a_combined_key_could_overflow():
    """Two chunks of 7 entries with 50000 distinct values each: their ids combined would pass 2^31, so
    every row keeps an id of its own (exact, only not shared), the 10 repeated rows too."""
    index = torch.cat([torch.arange(50000), torch.arange(10)])
    digits = torch.stack([(index // 21**d) % 21 for d in range(7)], 1)  # [50010, 7]
    windows = torch.cat([digits, digits.flip(1)], 1)  # [50010, 14]
    ids, first = _distinct_module()(windows)
    assert torch.equal(windows[first][ids], windows)
    assert len(first) == len(windows)


@pytest.mark.slow
def test_openvino_sums_the_edge_rows_as_bags(region_packages):
    """The OpenVINO backend compiles the region form's nine-row sums (Gather + ReduceSum) as embedding bags
    (backends.openvino.sum_gathered_rows_as_bags): every such sum of the graph, and the images stay those
    of ONNX Runtime (test_a_region_package_synthesizes_the_dense_packages_images)."""
    pytest.importorskip("openvino")
    from collections import Counter

    from sean_runtime.backends.openvino import OpenVinoBackend, sum_gathered_rows_as_bags
    from sean_runtime.package import load_package

    _, dense, regions, windows = region_packages
    sums = {p.name: sum_gathered_rows_as_bags(new_core().read_model(str(p / "generator.onnx")))
            for p in (dense, regions, windows)}
    assert sums["regions"] > sums["windows"] and sums["dense"] == 0, sums
    backend = OpenVinoBackend(load_package(regions), "f32", threads=1)
    ops = backend.generator.get_runtime_model().get_ordered_ops()
    layers = Counter(op.get_rt_info()["layerType"].astype(str) for op in ops)
    assert layers["EmbeddingBagPacked"] == sums["regions"], layers
