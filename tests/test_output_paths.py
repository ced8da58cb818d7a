"""Outputs of `sean publish -o`, `sean inspect --plot`, `sean eval --json`, `sean bf16-check --json` and
`sean bench --json`: never an input or a folder that holds one, an existing file only with --force, the suffix
of what is written, and a destination that cannot be written refused before the work (one usage line, exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sean_core.checkpoint_files import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE
from sean_core.cli import main
from sean_core.format import BranchMix
from tests.helpers import write_package

UNWRITABLE = "/proc/sean-test-output"  # a folder in which nothing can be created, even by root


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes: what a refused command must leave exactly as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(args: list[str], *words: str) -> str:
    """Run `sean ARGS`, expect a usage error (exit 2) whose error line holds `words`; return that line."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and all(word in errors[0] for word in words), result.output
    assert "Traceback" not in result.output
    return errors[0]


def never(*_args, **_kwargs):
    raise AssertionError("the work started before the output path was checked")


@pytest.fixture
def run(tmp_path, tiny_export_checkpoint) -> Path:
    """A training run folder: RUN/checkpoints/step_00000100 (model + optimizer state), log.jsonl, run.json."""
    root = tmp_path / "run"
    step = shutil.copytree(tiny_export_checkpoint, root / "checkpoints" / "step_00000100")
    (step / "training.json").write_text("{}")
    (step / "training.safetensors").write_bytes(b"optimizer state")
    (root / "log.jsonl").write_text('{"step": 100}\n')
    (root / "run.json").write_text("{}")
    return root


@pytest.mark.parametrize("where", [".", "checkpoints", "checkpoints/step_00000100",
                                   "checkpoints/step_00000100/published"])
def test_publish_never_replaces_the_checkpoint_or_a_folder_that_holds_it_even_with_force(run, where):
    before = snapshot(run)
    line = refused(["publish", str(run), "-o", str(run / where), "--force"], "-o", "write the output elsewhere")
    assert "step_00000100" in line
    assert snapshot(run) == before


def test_publish_sees_through_a_symbolic_link_to_the_run(run, tmp_path):
    (tmp_path / "link").symlink_to(run / "checkpoints")
    before = snapshot(run)
    refused(["publish", str(run), "-o", str(tmp_path / "link"), "--force"], "holds the input")
    assert snapshot(run) == before


def test_a_folder_output_that_is_a_symbolic_link_is_refused_naming_its_target(run, tmp_path, tiny_package):
    """publish, export and export-triton replace their -o folder whole; given a link, they replaced the link
    with a folder and left its target as it was. Refused in one line naming the target, before the work."""
    from sean_core.files import output_problem
    from sean_export.onnx_export import ExportError
    from sean_export.package import check_destination
    from sean_runtime.triton.repository import _check_destination

    target = tmp_path / "models" / "v3"
    done = CliRunner().invoke(main, ["publish", str(run), "-o", str(target)])  # an earlier publish
    assert done.exit_code == 0, done.output
    before = snapshot(target)
    link = tmp_path / "current"
    link.symlink_to(target)
    message = (f"is a symbolic link to {target}: the output would replace the link with a new folder, not write "
               f"into {target}; give the target as the output folder, or remove the link")
    refused(["publish", str(run), "-o", str(link), "--force"], f"-o {link} {message}")
    with pytest.raises(ExportError, match="is a symbolic link to"):
        check_destination(link)
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "to-empty").symlink_to(empty)
    with pytest.raises(Exception, match="is a symbolic link to"):
        _check_destination(tmp_path / "to-empty", tiny_package)
    assert link.is_symlink() and snapshot(target) == before
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    assert output_problem(tmp_path / "dangling", force=True, folder=True) == message.replace(
        str(target), str(tmp_path / "nothing"))


def test_publish_replaces_an_earlier_publish_with_force_but_not_a_folder_of_other_things(run, tmp_path):
    out = run / "published"  # inside the run folder but outside the checkpoint: allowed
    done = CliRunner().invoke(main, ["publish", str(run), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == [CARD_FILE, CONFIG_FILE, WEIGHTS_FILE]
    refused(["publish", str(run), "-o", str(out)], "exists", "--force")
    again = CliRunner().invoke(main, ["publish", str(run), "-o", str(out), "--force"])  # its model card is its own
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in out.iterdir()) == [CARD_FILE, CONFIG_FILE, WEIGHTS_FILE]
    (out / CARD_FILE).write_text("# My model\n\nWhat I wrote about it.\n")  # a hand-written one is the user's
    refused(["publish", str(run), "-o", str(out), "--force"], f"holds {CARD_FILE}", "not an earlier model folder")
    assert (out / CARD_FILE).read_text() == "# My model\n\nWhat I wrote about it.\n"
    documents = tmp_path / "documents"
    (documents / "notes").mkdir(parents=True)
    (documents / "notes" / "a.txt").write_text("mine")
    refused(["publish", str(run), "-o", str(documents), "--force"], "holds notes", "not an earlier model folder")
    assert (documents / "notes" / "a.txt").read_text() == "mine"
    project = tmp_path / "project"  # a config.json alone does not make a folder a publish
    (project / "src").mkdir(parents=True)
    (project / CONFIG_FILE).write_text("{}")
    (project / "src" / "main.py").write_text("mine")
    refused(["publish", str(run), "-o", str(project), "--force"], "holds src", "not an earlier model folder")
    assert (project / "src" / "main.py").read_text() == "mine"
    other = shutil.copytree(run / "checkpoints" / "step_00000100", tmp_path / "other-run" / "step_00000200")
    refused(["publish", str(run), "-o", str(other), "--force"], "training.safetensors")  # a training checkpoint
    assert (other / "training.safetensors").read_bytes() == b"optimizer state"


def test_publish_checks_the_destination_before_loading_the_checkpoint(run, monkeypatch, tmp_path):
    import sean_train.commands.publish as publish

    monkeypatch.setattr(publish, "load_checkpoint", never)
    refused(["publish", str(run), "-o", f"{UNWRITABLE}/model"], "cannot be written")
    (tmp_path / "outer" / "here").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "outer" / "here")
    for out in (".", ".."):
        refused(["publish", str(run), "-o", out, "--force"], "is the current folder or holds it")


def test_inspect_plot_is_a_new_png_outside_the_inputs(tiny_checkpoint, tmp_path):
    before = snapshot(tiny_checkpoint)
    for force in ([], ["--force"]):
        refused(["inspect", str(tiny_checkpoint), "--plot", str(tiny_checkpoint / WEIGHTS_FILE), *force],
                "input", "write the output elsewhere")
    refused(["inspect", str(tiny_checkpoint), "--plot", str(tiny_checkpoint / "mix.png")], "inside the input folder")
    assert snapshot(tiny_checkpoint) == before
    refused(["inspect", str(tiny_checkpoint), "--plot", str(tmp_path / "mix.gif")], "not a .png file")
    assert not (tmp_path / "mix.gif").exists()
    plot = tmp_path / "mix.png"
    plot.write_bytes(b"someone's picture")
    refused(["inspect", str(tiny_checkpoint), "--plot", str(plot)], "exists", "--force")
    assert plot.read_bytes() == b"someone's picture"
    forced = CliRunner().invoke(main, ["inspect", str(tiny_checkpoint), "--plot", str(plot), "--force"])
    assert forced.exit_code == 0, forced.output
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_inspect_plot_never_replaces_a_packages_manifest_and_is_checked_before_the_work(tmp_path, monkeypatch):
    import sean_train.commands.inspect_model as inspect_model

    mix = [BranchMix("head_0.norm_0", 0.25, 0.75).to_manifest()]
    package = write_package(tmp_path / "pkg", branch_mix=mix, parameters={"encoder": 10})
    before = snapshot(package)
    monkeypatch.setattr(inspect_model, "package_facts", never)
    for force in ([], ["--force"]):
        refused(["inspect", str(package), "--plot", str(package / "manifest.json"), *force], "--plot", "input")
    refused(["inspect", str(package), "--plot", f"{UNWRITABLE}/mix.png"], "cannot be written")
    assert snapshot(package) == before


def test_eval_json_is_checked_before_the_evaluation(tiny_checkpoint, tmp_path, monkeypatch):
    import sean_train.evaluate as evaluate

    monkeypatch.setattr(evaluate, "evaluate_model", never)
    before = snapshot(tiny_checkpoint)
    for force in ([], ["--force"]):
        refused(["eval", str(tiny_checkpoint), "--json", str(tiny_checkpoint / CONFIG_FILE), *force],
                "input", "write the output elsewhere")
    refused(["eval", str(tiny_checkpoint), "--json", str(tiny_checkpoint / "mine.json")], "inside the input folder")
    assert snapshot(tiny_checkpoint) == before
    refused(["eval", str(tiny_checkpoint), "--json", f"{UNWRITABLE}/x.json"], "cannot be written")
    refused(["eval", str(tiny_checkpoint), "--json", str(tmp_path / "results.txt")], "not a .json file")
    (tmp_path / "file").write_text("")
    refused(["eval", str(tiny_checkpoint), "--json", str(tmp_path / "file" / "x.json")], "is not a folder")
    (tmp_path / "old.json").write_text("{}")
    refused(["eval", str(tiny_checkpoint), "--json", str(tmp_path / "old.json")], "exists", "--force")
    assert (tmp_path / "old.json").read_text() == "{}"


def test_eval_with_force_replaces_an_earlier_result(tiny_checkpoint, tmp_path):
    out = tmp_path / "eval.json"
    out.write_text("{}")
    args = ["eval", str(tiny_checkpoint), "--limit", "2", "--batch-size", "2", "--device", "cpu", "--quiet",
            "--json", str(out), "--force"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["results"]["trained"]["images"] == 2


def test_bf16_check_json_is_checked_before_the_model_runs(tiny_checkpoint, tmp_path, monkeypatch):
    import sean_tools.bf16.emulation as emulation

    monkeypatch.setattr(emulation, "bf16_quality", never)
    before = snapshot(tiny_checkpoint)
    for force in ([], ["--force"]):
        refused(["bf16-check", str(tiny_checkpoint), "--json", str(tiny_checkpoint / CONFIG_FILE), *force],
                "input", "write the output elsewhere")
    assert snapshot(tiny_checkpoint) == before
    refused(["bf16-check", str(tiny_checkpoint), "--json", f"{UNWRITABLE}/x.json"], "cannot be written")
    (tmp_path / "old.json").write_text("{}")
    refused(["bf16-check", str(tiny_checkpoint), "--json", str(tmp_path / "old.json")], "exists", "--force")


def test_bench_json_is_checked_before_anything_is_exported_or_timed(tiny_checkpoint, tmp_path, monkeypatch):
    import sean_tools.bench.cli as bench_cli

    monkeypatch.setattr(bench_cli, "resolve_inputs", never)
    base = ["bench", "--checkpoint", str(tiny_checkpoint), "--workdir", str(tmp_path / "work")]
    refused([*base, "--json", f"{UNWRITABLE}/x.json"], "cannot be written")
    refused([*base, "--json", str(tiny_checkpoint / CONFIG_FILE), "--force"], "input", "write the output elsewhere")
    refused([*base, "--json", str(tmp_path / "bench.png")], "not a .json file")
    (tmp_path / "bench.json").write_text("{}")
    refused([*base, "--json", str(tmp_path / "bench.json")], "exists", "--force")
    assert (tmp_path / "bench.json").read_text() == "{}"
    assert not (tmp_path / "work").exists()
