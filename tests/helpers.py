"""Helpers shared by the test modules (fixtures live in conftest.py; tests import helpers from here)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import struct
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sean_core.install import missing_module_message
from sean_runtime.backends.gpu import GpuInfo

# A tiny shapes model: builds and runs in milliseconds on a CPU.
TINY = dict(
    num_classes=8,
    style_dim=16,
    ngf=4,
    encoder_ngf=4,
    spade_hidden=8,
    height=64,
    width=64,
    domain="shapes",
)


def tiny_run_config(**train: Any) -> dict:
    """A tiny shapes run: 4 generated training images, batch 2, 2 + 2 epochs = 8 steps."""
    model = {k: v for k, v in TINY.items()}
    settings = dict(
        batch_size=2, epochs=2, epochs_decay=2, lambda_vgg=0.0, lambda_l1=1.0, checkpoint_every=2,
        keep_last=2, sample_every=4, val_samples=2, synthetic_train_size=4, seed=3,
    )
    settings.update(train)
    return {"model": model, "discriminator": {"ndf": 4}, "train": settings}


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to `count` inside, and back to what they were after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def write_config(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# Why an OpenVINO test skips: the one-line message with the pip command that works for this installation.
OPENVINO_MISSING = missing_module_message("openvino", "this test")
# What `sean demo` writes for every model (and a swaps/ image per swapped class and pair).
DEMO_OUTPUTS = ("contact_sheet.png", "interpolation.png", "reconstructions/00.png", "swap_matrix.png")

H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", (9, 0))
A10 = GpuInfo(0, "NVIDIA A10", (8, 6))
L4 = GpuInfo(0, "NVIDIA L4", (8, 9))


K, S, H, W, N = 3, 4, 8, 8, 20  # sizes of write_package's placeholder package


def tensor(name: str, dtype: str, shape: list) -> dict:
    return {"name": name, "dtype": dtype, "shape": shape}


def write_package(root: Path, **changes: Any) -> Path:
    """A package folder whose graph files are placeholder bytes (hashes are all that load_package reads)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "encoder.onnx").write_bytes(b"encoder graph")
    (root / "generator.onnx").write_bytes(b"generator graph")
    manifest = {
        "format": "sean-package",
        "format_version": 1,
        "domain": "toy",
        "class_names": ["a", "b", "c"],
        "num_classes": K,
        "extra_mask_channels": 0,
        "style_dim": S,
        "height": H,
        "width": W,
        "precision": "fp32",
        "graphs": {
            "encoder": {
                "file": "encoder.onnx",
                "external_data": None,
                "inputs": [tensor("image", "float32", ["batch", 3, H, W]), tensor("labels", "int32", ["batch", H, W])],
                "outputs": [tensor("codes", "float32", ["batch", K, S]), tensor("area", "float32", ["batch", K])],
            },
            "generator": {
                "file": "generator.onnx",
                "external_data": None,
                "inputs": [
                    tensor("labels", "int32", ["batch", H, W]),
                    tensor("codes", "float32", ["batch", K, S]),
                    tensor("noise", "float32", ["batch", N]),
                ],
                "outputs": [tensor("image", "float32", ["batch", 3, H, W])],
            },
        },
        "noise": {"input": "noise", "numel": N, "slots": []},
        "files": {name: _sha256(root / name) for name in ("encoder.onnx", "generator.onnx")},
        "source_checkpoint": {"path": "ckpt", "sha256": "0" * 64},
    }
    manifest.update(changes)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _sha256(path: Path) -> str:
    from sean_core.files import sha256_file

    return sha256_file(path)


def make_random_model(config: Any, seed: int = 0, scale: float = 0.2) -> Any:
    """sean_train.weight_init.random_model with every parameter N(0, scale): no path is trivially zero."""
    from sean_train.weight_init import random_model

    return random_model(config, seed=seed, scale=scale)


def centre_pil(n_in: int, n_out: int) -> Any:
    """Source index of each of n_out pixels resized from n_in by PIL's NEAREST (what SPADE / SEAN use):
    start half a source step in, add one step (a float64) per output pixel, truncate. numpy int array."""
    import numpy as np

    step, position, index = n_in / n_out, 0.5 * (n_in / n_out), []
    for _ in range(n_out):
        index.append(int(position))
        position += step
    return np.array(index)


def write_plan(package: Any, name: str, plan: bytes = b"plan bytes", gpu: GpuInfo = H100, **changes: Any) -> Any:
    """Plan bytes for graph `name` and a sidecar as `sean build-engine` writes them (TensorRT 10.8.0 on `gpu`),
    with `changes` to the sidecar's fields."""
    from sean_core.files import sha256_file
    from sean_core.format import PlanSidecar
    from sean_runtime.backends.plans import capability_text, write_sidecar

    spec = package.graph(name)
    spec.plan.write_bytes(plan)
    sidecar = PlanSidecar(
        graph=name,
        plan_file=spec.plan.name,
        plan_sha256=sha256_file(spec.plan),
        onnx_file=spec.file.name,
        onnx_sha256=package.file_sha256(spec.file.name),
        tensorrt_version="10.8.0",
        gpu_name=gpu.name,
        compute_capability=capability_text(gpu.compute_capability),
        precision=package.precision,
        profile={"min_batch": 1, "opt_batch": 1, "max_batch": 8, "shapes": {}},
        workspace_bytes=2**30,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    sidecar = dataclasses.replace(sidecar, **changes)
    write_sidecar(spec.plan_sidecar, sidecar)
    return sidecar


def symlink_loop(path: Path) -> Path:
    """Make `path` one of two symbolic links that point at each other (path -> path~ -> path)."""
    other = path.with_name(path.name + "~")
    other.symlink_to(path.name)
    path.symlink_to(other.name)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def exif_orientation_block(orientation: int, big_endian: bool = False) -> bytes:
    """A TIFF structure (the body of an EXIF block) whose IFD0 holds one entry: Orientation (0x0112, SHORT)."""
    order = ">" if big_endian else "<"
    head = (b"MM" if big_endian else b"II") + struct.pack(order + "HI", 42, 8)
    entry = struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
    return head + struct.pack(order + "H", 1) + entry + struct.pack(order + "I", 0)


def with_exif_orientation(image_file: bytes, orientation: int, big_endian: bool = False) -> bytes:
    """A JPEG or PNG file with an Orientation tag: an APP1 "Exif" segment after a JPEG's SOI, an eXIf chunk
    after a PNG's IHDR."""
    block = exif_orientation_block(orientation, big_endian)
    if image_file[:2] == b"\xff\xd8":
        app1 = b"Exif\0\0" + block
        return image_file[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + image_file[2:]
    ihdr_end = 8 + 12 + 13
    return image_file[:ihdr_end] + png_chunk(b"eXIf", block) + image_file[ihdr_end:]


# The first eight colours of the Pascal VOC label palette: a palette that no domain here uses.
VOC_PALETTE = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
               (128, 128, 128)]


def palette_png(ids: np.ndarray, palette: list[tuple[int, int, int]]) -> bytes:
    """An 8-bit indexed-colour PNG of `ids` [H, W] (indices into `palette`)."""
    rows = b"".join(b"\x00" + row.tobytes() for row in ids.astype(np.uint8))
    plte = bytes(channel for colour in palette for channel in colour)
    return png_file(ids.shape[1], ids.shape[0], 3, 8, rows, [(b"PLTE", plte)])


def packed_grey_rows(values: np.ndarray, depth: int) -> bytes:
    """[H, W] values below 2**depth -> the IDAT rows of a grey PNG of 1, 2 or 4 bits per pixel (filter byte
    0, the first pixel in the high bits, a row's last byte padded with zero bits)."""
    height, width = values.shape
    per_byte = 8 // depth
    padded = np.zeros((height, -(-width // per_byte) * per_byte), np.uint8)
    padded[:, :width] = values
    groups = padded.reshape(height, -1, per_byte).astype(np.uint16)
    shifts = np.arange(per_byte - 1, -1, -1, dtype=np.uint16) * depth
    packed = (groups << shifts).sum(axis=2).astype(np.uint8)
    return b"".join(b"\x00" + row.tobytes() for row in packed)


def png_file(width: int, height: int, colour_type: int, depth: int, rows: bytes, chunks=()) -> bytes:
    """A PNG of one IDAT holding `rows` (each row starts with its filter byte), with extra chunks before it."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + b"".join(png_chunk(k, d) for k, d in chunks)
            + png_chunk(b"IDAT", zlib.compress(rows, 9)) + png_chunk(b"IEND", b""))


# The end of a script (run with `python -c`) that imports os, sys and time and defines encoded(), which opens
# a model, runs it and returns it: the parent closes one, then forks a child that opens and runs its own and
# leaves as multiprocessing's workers do (os._exit), and one that exits normally without; it prints how each
# child ended, or that it hung.
FORK_CHILDREN = """
encoded().close()
for child_loads in (True, False):
    child = os.fork()
    if child == 0:
        if child_loads:
            encoded()
            os._exit(0)
        sys.exit(0)
    for _ in range(600):
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            print("child ended", os.waitstatus_to_exitcode(status), flush=True)
            break
        time.sleep(0.05)
    else:
        os.kill(child, 9)
        os.waitpid(child, 0)
        print("child hung", flush=True)
"""

# The end of a script (run with `python -c`) that imports os and signal: a Ctrl-C sent to itself, which prints
# "interrupted" where Python's handler takes it (a process whose signal stack is gone dies of SIGSEGV).
INTERRUPTED = """
try:
    os.kill(os.getpid(), signal.SIGINT)
    signal.pause()
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""
