"""docs/package-format.md against the code that writes and reads packages: a reader in another language has
only the document, so its graph table and manifest example must name what an export writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sean_core.format import BATCH, BRANCH_MIX, GRAPH_NAMES, PARAMETERS, ModelShape, graph_spec

DOC = Path(__file__).resolve().parents[1] / "docs" / "package-format.md"
# Sizes that differ from each other, so that each dimension of a spec maps back to one symbol of the table.
SIZES = {"H": 11, "W": 13, "K": 5, "S": 7, "N": 17, "E": 2}


def _section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _table_rows() -> list[tuple[str, str, str, str, str]]:
    """(graph, "in" / "out", name, dtype, shape) of each row of the graph I/O table."""
    rows = []
    for line in _section("Graphs").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[1].startswith("`"):
            continue
        graph, arrow = cells[0].split(" ")[0], "out" if "→" in cells[0] else "in"
        rows.append((graph, arrow, cells[1].strip("`"), cells[2], cells[3].replace(" ", "")))
    return rows


def test_the_graph_table_is_the_formats():
    symbol = {size: name for name, size in SIZES.items()} | {3: "3"}  # 3: the RGB axis
    shape = ModelShape(height=SIZES["H"], width=SIZES["W"], num_classes=SIZES["K"], style_dim=SIZES["S"],
                       noise_numel=SIZES["N"], extra_channels=SIZES["E"])
    expected = []
    for name in GRAPH_NAMES:
        spec = graph_spec(shape, name)
        for direction, tensors in (("in", spec.inputs), ("out", spec.outputs)):
            for t in tensors:
                dims = ["B" if d == BATCH else symbol[d] for d in t.shape]
                expected.append((name, direction, t.name, t.dtype, f"[{','.join(dims)}]"))
    assert _table_rows() == expected


def _manifest_example() -> dict:
    block = re.search(r"```json\n(.*?)```", _section("manifest.json"), re.S)
    return json.loads(block.group(1))


def test_the_manifest_example_and_metadata_list_name_what_an_export_writes(tmp_path):
    from sean_export.manifest import ExportSettings, build_manifest, graph_metadata, tool_versions
    from sean_train.config import ModelConfig

    config = ModelConfig(num_classes=3, style_dim=4, ngf=2, encoder_ngf=2, spade_hidden=4, height=32, width=32)
    files = {}
    for name in GRAPH_NAMES:
        (tmp_path / f"{name}.onnx").write_bytes(b"graph")
        files[name] = [tmp_path / f"{name}.onnx"]
    specs = {name: graph_spec(ModelShape(32, 32, 3, 4, 5), name) for name in GRAPH_NAMES}
    settings = ExportSettings(generator_form="regions")  # the example shows edge_form too
    written = build_manifest(config, {PARAMETERS: [], BRANCH_MIX: []}, specs, files, settings, tmp_path, "0" * 64,
                             {"encoder": {}, "generator": {}})
    example = _manifest_example()
    assert sorted(example) == sorted(written)
    for key in ("noise", "source_checkpoint"):
        assert sorted(example[key]) == sorted(written[key]), key
    assert sorted(example["graphs"]["encoder"]) == sorted(written["graphs"]["encoder"])
    assert sorted(example["tools"]) == sorted(tool_versions())

    text = " ".join(_section("manifest.json").split())
    listed = re.search(r"\(JSON for lists and objects\): (.*?), and for the generator `noise`", text).group(1)
    names = [re.sub(r"\(.*?\)", "", name).strip() for name in listed.split(",")]
    generator = set(graph_metadata(config, "generator", settings, "0" * 64))
    assert {f"sean.{name}" for name in names} | {"sean.noise"} == generator
