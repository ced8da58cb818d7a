"""`sean bench-serve --start PACKAGE`: servers started on loopback in rounds that compare one `sean serve`
option, summarized, soaked, and always stopped. Structure and finite numbers only, never timings."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sean_core.cli import main
from sean_core.errors import BackendError
from sean_runtime.remote import RemoteSynthesizer
from sean_tools.serve_load.launch import started_server


def servers_of(package: Path) -> list[int]:
    """Live `sean serve` processes of this package (any parent), by pid."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or one that ended meanwhile
            continue
        if b"serve" in words and str(package).encode() in words:
            found.append(int(entry.name))
    return found


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@pytest.mark.slow
def test_start_compares_servers_in_rounds_and_stops_them(shapes_package, tmp_path):
    out = tmp_path / "serve.json"
    done = CliRunner().invoke(main, [
        "bench-serve", "--start", str(shapes_package), "--compare", "max-batch=1,2", "--rounds", "2",
        "--kind", "image,styles", "--concurrency", "1,2", "--requests", "4", "--serve-args", "--threads 1",
        "--soak-s", "2", "--soak-warmup-s", "0", "--json", str(out),
    ])
    assert done.exit_code == 0, done.output
    result = json.loads(out.read_text())
    assert result["compare"] == {"option": "max-batch", "values": ["1", "2"]}
    assert result["serve_args"] == ["--threads", "1"]
    # Each server ran with its compared value.
    assert {value: facts["max_batch"] for value, facts in result["servers"].items()} == {"1": 1, "2": 2}
    cells = [(r["round"], r["server"], r["kind"], r["concurrency"]) for r in result["runs"]]
    assert cells == [(n, s, k, c) for n in (0, 1) for s in ("1", "2") for k in ("image", "styles") for c in (1, 2)]
    assert all((r["requests"], r["errors"]) == (4, 0) for r in result["runs"])
    summary = result["summary"]
    assert [(r["server"], r["kind"], r["clients"]) for r in summary] == [c[1:] for c in cells[:8]]
    for row in summary:
        assert row["rounds"] == 2 and (row["requests"], row["errors"]) == (8, 0)
        numbers = [row[k] for k in ("throughput", "p50_ms", "p90_ms", "p99_ms", "p99_over_p50", "vs_first_level",
                                    "vs_first_server", "images_per_call", "server_rss_mb")]
        assert all(finite(v) and v > 0 for v in numbers), row
        assert row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
    # A ratio to itself within a round is exactly 1: the first level of each server, the first server's rows.
    assert all(r["vs_first_level"] == 1.0 for r in summary if r["clients"] == 1)
    assert all(r["vs_first_server"] == 1.0 for r in summary if r["server"] == "1")
    assert all(r["images_per_call"] == 1.0 for r in summary if r["server"] == "1")  # --max-batch 1: no batching
    soak = result["soak"]
    assert (soak["server"], soak["kind"], soak["concurrency"], soak["errors"]) == ("2", "image", 2, 0)
    assert soak["requests"] > 0 and all(finite(t) and rss > 10 for t, rss in soak["rss_mb"])
    assert all(finite(v) for v in (*result["load_average"]["start"], *result["load_average"]["end"]))
    assert "vs max-batch 1" in done.output and "soak: 2 clients" in done.output
    assert servers_of(shapes_package) == []


@pytest.mark.slow
def test_a_started_server_is_stopped_on_ctrl_c_and_a_failed_start_is_one_line(shapes_package, tmp_path):
    with pytest.raises(KeyboardInterrupt), started_server(shapes_package, ["--threads", "1"]) as url:
        assert url.startswith("http://127.0.0.1:")
        RemoteSynthesizer(url, retries=0).close()  # it answers
        raise KeyboardInterrupt
    assert servers_of(shapes_package) == []
    with pytest.raises(BackendError):
        RemoteSynthesizer(url, retries=0, timeout=5)
    done = CliRunner().invoke(main, ["bench-serve", "--start", str(tmp_path), "--requests", "1"])
    assert done.exit_code == 1
    (line,) = [line for line in done.output.splitlines() if line.startswith("Error: ")]
    assert "did not start (exit 1)" in line and "manifest.json is missing" in line


@pytest.mark.slow
def test_sigterm_to_bench_serve_stops_its_server(shapes_package):
    command = [sys.executable, "-m", "sean_core.cli", "bench-serve", "--start", str(shapes_package), "--concurrency",
               "2", "--requests", "100000", "--seconds", "120", "--serve-args", "--threads 1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not servers_of(shapes_package) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert servers_of(shapes_package), process.stderr.read() if process.poll() is not None else "no server"
        time.sleep(1)  # into the load
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 1  # click's "Aborted!"
    finally:
        process.kill()
    assert servers_of(shapes_package) == []


@pytest.mark.parametrize(("args", "message"), [
    ([], "give the URL of a running server, or --start PACKAGE"),
    (["http://127.0.0.1:9", "--start", "pkg"], "give the URL of a running server, or --start PACKAGE"),
    (["http://127.0.0.1:9", "--rounds", "2", "--compare", "max-batch=1,8"], "--compare, --rounds: options of --start"),
    (["--start", "pkg", "--triton"], "a Triton server starts with `sean triton`"),
    (["--start", "pkg", "--compare", "max-batch"], "like max-batch=1,8"),
    (["--start", "pkg", "--compare", "port=1,2"], "compare another option"),
    (["--start", "pkg", "--compare", "threads=" + ",".join(map(str, range(1, 10)))], "at most 8 values"),
    (["--start", "pkg", "--serve-args", "--port 9000"], "leave out --port"),
    (["--start", "pkg", "--compare", "max-batch=1,8", "--serve-args", "--max-batch=4"], "leave out --max-batch"),
    (["--start", "pkg", "--compare", "max-batch=1,0"], "Invalid value for '--max-batch': 0 is not in the range"),
    (["--start", "pkg", "--compare", "max-bach=1,2"], "No such option '--max-bach'"),
    (["--start", "pkg", "--rounds", "101"], "101 is not in the range 1..100"),
    (["http://127.0.0.1:9", "--kind", "image,video"], "give image or styles"),
])
def test_wrong_options_are_one_line_before_any_server_starts(args, message):
    done = CliRunner().invoke(main, ["bench-serve", *args])
    assert done.exit_code in (1, 2) and "Traceback" not in done.output
    (line,) = [line for line in done.output.splitlines() if line.startswith("Error: ")]
    assert message in line, line


def test_the_json_output_is_checked_before_any_load(tmp_path):
    # an unreachable server: a --json that passes its check would fail on the connection instead
    def bench(*args: str):
        return CliRunner().invoke(main, ["bench-serve", "http://127.0.0.1:1", "--requests", "1", *args])

    (tmp_path / "old.json").write_text("{}")
    for args, words in ((["--json", str(tmp_path / "old.json")], "exists; pass --force"),
                        (["--json", str(tmp_path / "x.txt")], "is not a .json file"),
                        (["--json", str(tmp_path / "old.json" / "x.json")], "is not a folder")):  # fmt: skip
        done = bench(*args)
        assert done.exit_code == 2 and words in done.output, done.output
    assert (tmp_path / "old.json").read_text() == "{}"
    forced = bench("--json", str(tmp_path / "old.json"), "--force")
    assert forced.exit_code != 2 and "127.0.0.1:1" in forced.output  # past the check, to the connection
