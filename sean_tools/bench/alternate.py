"""Alternating rounds (`sean bench --alternate`): the selected rows timed in one process, in turns
A B C A B C ..., so that a shared machine's drift falls on every row alike; each row's medians and the
median of its paired ratios to the first row.

The parent plans the rows as the table does (plan.planned_rows: the same path keys, class counts and
label layouts) and starts one process, `python -m sean_tools.bench.alternate < payload.json`, that loads
every row's runner (worker.make_runner), runs each once (warm-up, and the image compared), then times
encode + synthesize at batch 1 for `rounds` rounds. Peak memory is not reported: the rows share the process.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sean_tools.bench.inputs import timed_inputs
from sean_tools.bench.process import run_process
from sean_tools.bench.spec import PathSpec, WorkerSpec
from sean_tools.bench.worker import make_runner

OPERATIONS = ("encode", "synthesize", "both")


# --- the process that alternates --------------------------------------------------------------------------
def alternate(specs: list[WorkerSpec], rounds: int) -> list[dict[str, Any]]:
    """Per spec: its times in seconds per round for each operation (and what its runner reports), or
    {"error": why} when it did not load or run. Each spec's batch-1 image is saved to spec.outputs (.npy)."""
    cases: list[dict[str, Any]] = []
    live = []
    for spec in specs:
        try:
            runner, about = make_runner(spec)
            about.pop("codes_of", None)
            inputs = timed_inputs(spec, 1)
            encode, generate = runner
            image = generate(inputs["labels"], encode(inputs["image"], inputs["labels"]), inputs["noise"])
        except Exception as exc:  # a row that does not load is a result of the run, not the end of it
            cases.append({"error": f"{type(exc).__name__}: {exc}"})
            continue
        if spec.outputs:
            np.save(spec.outputs, image)
        case: dict[str, Any] = {**about, "times_s": {op: [] for op in OPERATIONS}}
        cases.append(case)
        live.append((case, runner, inputs))
    for _ in range(rounds):
        for case, (encode, generate), inputs in live:
            t0 = time.perf_counter()
            codes = encode(inputs["image"], inputs["labels"])
            t1 = time.perf_counter()
            generate(inputs["labels"], codes, inputs["noise"])
            t2 = time.perf_counter()
            for op, seconds in zip(OPERATIONS, (t1 - t0, t2 - t1, t2 - t0), strict=True):
                case["times_s"][op].append(seconds)
    return cases


def main() -> None:
    payload = json.loads(sys.stdin.read())
    specs = [WorkerSpec.from_json(json.dumps(spec)) for spec in payload["cases"]]
    print(json.dumps({"cases": alternate(specs, payload["rounds"])}))


# --- the parent -----------------------------------------------------------------------------------------
def run_alternating(
    rows: list[tuple[int, PathSpec]], common: WorkerSpec, rounds: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Alternate the rows (class count, path) in one process; one result row each (alternating_rows)."""
    with tempfile.TemporaryDirectory(prefix="sean-bench-alternate-") as tmp:
        specs = [path.worker(common).replace(num_classes=classes, outputs=str(Path(tmp) / f"{i}.npy"))
                 for i, (classes, path) in enumerate(rows)]
        payload = json.dumps({"rounds": rounds, "cases": [json.loads(spec.to_json()) for spec in specs]})
        done = run_process("sean_tools.bench.alternate", payload, common.threads, timeout_s)
        if "error" in done:
            return [{"classes": classes, "path": path.key, "label": path.label, "form": path.form, **done}
                    for classes, path in rows]
        images = [np.load(spec.outputs) if spec.outputs and Path(spec.outputs).is_file() else None for spec in specs]
    return alternating_rows(rows, done["cases"], images)


def alternating_rows(
    rows: list[tuple[int, PathSpec]], cases: list[dict[str, Any]], images: list[np.ndarray | None]
) -> list[dict[str, Any]]:
    """Medians, minimum and paired ratios of each row: to the first row that ran ("ratio_to_first") and to
    the first row that ran at the same class count ("ratio_to_first_same_classes", with the largest
    |image difference| from it: the same model's images)."""
    timed = [i for i, case in enumerate(cases) if "times_s" in case]
    out: list[dict[str, Any]] = []
    for i, ((classes, path), case) in enumerate(zip(rows, cases, strict=True)):
        row: dict[str, Any] = {"classes": classes, "path": path.key, "label": path.label, "form": path.form, **case}
        out.append(row)
        if i not in timed:
            continue
        both = case["times_s"]["both"]
        row["median_s"] = {op: statistics.median(case["times_s"][op]) for op in OPERATIONS}
        row["min_s"] = min(both)
        row["finite"] = bool(images[i] is not None and np.isfinite(images[i]).all())
        first = timed[0]
        same = next(j for j in timed if rows[j][0] == classes)
        row["ratio_to_first"] = paired_ratio(both, cases[first]["times_s"]["both"])
        row["first_same_classes"] = rows[same][1].key
        row["ratio_to_first_same_classes"] = paired_ratio(both, cases[same]["times_s"]["both"])
        if images[i] is not None and images[same] is not None:
            row["image_max_abs_vs_first_same_classes"] = float(np.max(np.abs(
                images[i].astype(np.float64) - images[same])))
    return out


def paired_ratio(times: list[float], reference: list[float]) -> float:
    """The median over rounds of time / the reference's time in the same round."""
    return statistics.median(a / b for a, b in zip(times, reference, strict=True))


if __name__ == "__main__":
    main()
