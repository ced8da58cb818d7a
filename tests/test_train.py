"""Training: a few steps of a tiny model, exact resume (in process and after kill -9), 2 processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sean_core.checkpoint_files import latest_checkpoint, list_checkpoints, read_best
from sean_core.domains import get_domain
from sean_train.checkpoint import load_checkpoint
from sean_train.data import BatchOrder, RawSample, flip_sample
from sean_train.state import load_training_checkpoint
from sean_train.train_config import RunConfig, bind_domain
from sean_train.trainer import Trainer
from tests.helpers import tiny_run_config, write_config

REPO = Path(__file__).resolve().parents[1]


def make_trainer(run_dir: Path, data: dict | None = None) -> Trainer:
    config, domain = bind_domain(RunConfig.from_dict(data or tiny_run_config()))
    run_dir.mkdir(parents=True, exist_ok=True)
    return Trainer(run_dir, config, domain, device="cpu", progress=False)


def training_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    """Everything of the latest training state except the RNG bytes."""
    state = load_training_checkpoint(latest_checkpoint(run_dir))
    return {k: v for k, v in state.tensors.items() if not k.startswith("rng/")}


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].numel())
    assert worst <= 1e-6, f"states differ by {worst}"


# --- data order and flips ---------------------------------------------------------------------------

def test_batch_order_shards_are_disjoint_and_cover_each_epoch():
    order = BatchOrder(num_samples=24, global_batch=6, seed=5, flip=True, world_size=3)
    assert order.local_batch == 2 and order.steps_per_epoch == 4
    for epoch in range(2):
        seen = []
        for step in range(epoch * 4, epoch * 4 + 4):
            shards = [order.batch(step, rank) for rank in range(3)]
            flat = [draw.index for shard in shards for draw in shard]
            assert len(set(flat)) == 6  # no sample on two processes
            seen += flat
        assert sorted(seen) == list(range(24))  # each sample once per epoch
    again = BatchOrder(24, 6, 5, True, 3)
    assert again.batch(5, 1) == order.batch(5, 1)  # a pure function of (seed, step, rank)
    assert order.batch(0, 0) != order.batch(4, 0)  # epochs are reshuffled
    assert any(draw.flip for step in range(4) for draw in order.batch(step, 0))


def test_batch_order_rejects_indivisible_batch():
    with pytest.raises(ValueError, match="not divisible"):
        BatchOrder(10, 3, 0, False, world_size=2)


def test_flip_mirrors_and_swaps_left_right_classes():
    domain = get_domain("shapes")
    left, right = domain.class_id("left_dot"), domain.class_id("right_dot")
    labels = np.zeros((4, 6), dtype=np.int64)
    labels[1, 0] = left
    labels[2, 5] = right
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    flipped = flip_sample(RawSample(image, labels, None), domain.flip_permutation())
    assert flipped.labels[1, 5] == right and flipped.labels[2, 0] == left
    assert np.array_equal(flipped.image, image[:, ::-1])


# --- a few steps ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_few_steps_write_logs_samples_and_loadable_checkpoints(tmp_path):
    trainer = make_trainer(tmp_path / "run")
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.total_steps == 8
    assert trainer.run(until_step=4) == 4

    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, start[k])]
    assert any("encoder" in k for k in changed) and any("conv_img" in k for k in changed)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert all(np.isfinite(r[k]) for r in records for k in ("g_gan", "g_feat", "g_l1", "d_fake", "d_real"))
    assert all(r["img_per_s"] > 0 for r in records)
    assert (tmp_path / "run" / "samples" / "step_00000004.png").is_file()

    steps = [step for step, _ in list_checkpoints(tmp_path / "run")]
    assert steps == [2, 4]
    best = read_best(tmp_path / "run")
    assert best is not None and best["step"] in steps
    model = load_checkpoint(latest_checkpoint(tmp_path / "run"))  # folded, plain convs
    assert not any("parametrizations" in k for k in model.state_dict())
    trained = trainer.model.eval()
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.nn.functional.one_hot(torch.randint(0, 8, (1, 64, 64)), 8).permute(0, 3, 1, 2).float()
    noise = torch.zeros(1, trained.generator.noise_layout.numel)
    with torch.no_grad():
        torch.testing.assert_close(model(image, mask, noise), trained(image, mask, noise), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_trains_from_a_dataset_folder(tmp_path):
    domain = get_domain("shapes")
    domain.write_split(tmp_path / "data", "train", 4, progress=False)
    domain.write_split(tmp_path / "data", "test", 2, progress=False)
    config, domain = bind_domain(RunConfig.from_dict(tiny_run_config(epochs=1, epochs_decay=0)))
    trainer = Trainer(tmp_path / "run", config, domain, data=tmp_path / "data", device="cpu", progress=False)
    assert len(trainer.dataset) == 4 and len(trainer.val_source) == 2
    assert trainer.run() == 2
    state = load_training_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert state.meta["val_psnr_db"] > 0  # scored on the folder's test split


@pytest.mark.slow
def test_keep_last_and_best_are_kept(tmp_path):
    trainer = make_trainer(tmp_path / "run", tiny_run_config(checkpoint_every=1, keep_last=2))
    trainer.run()
    steps = [step for step, _ in list_checkpoints(tmp_path / "run")]
    best = read_best(tmp_path / "run")["step"]
    assert set(steps) == {7, 8} | {best}


def test_learning_rate_is_constant_then_decays_linearly(tmp_path):
    trainer = make_trainer(tmp_path / "run")  # 4 constant steps, then 4 decaying
    factors = [trainer.learning_rate_factor(s) for s in range(8)]
    assert factors[:4] == [1.0] * 4
    assert factors[4:] == pytest.approx([1.0, 0.75, 0.5, 0.25])


@pytest.mark.slow
def test_resume_in_process_equals_uninterrupted_run(tmp_path, one_thread):
    whole = make_trainer(tmp_path / "whole")
    whole.run()
    first = make_trainer(tmp_path / "split")
    first.run(until_step=3)  # not on a checkpoint boundary: the stop itself checkpoints
    del first
    second = make_trainer(tmp_path / "split")
    second.resume(latest_checkpoint(tmp_path / "split"))
    assert second.step == 3
    second.run()
    assert_same_state(training_tensors(tmp_path / "whole"), training_tensors(tmp_path / "split"))
    log = [json.loads(line)["step"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 9))


@pytest.mark.slow
def test_bf16_autocast_changes_the_arithmetic_and_still_resumes_exactly(tmp_path, one_thread):
    # 1 + 1 epochs of 2 steps (bf16 is emulated on CPUs without bf16 units: slow), split inside the decay epoch.
    amp = tiny_run_config(amp="bf16", epochs=1, epochs_decay=1)
    whole = make_trainer(tmp_path / "whole", amp)
    whole.run()
    first = make_trainer(tmp_path / "split", amp)
    first.run(until_step=3)
    del first
    second = make_trainer(tmp_path / "split", amp)
    second.resume(latest_checkpoint(tmp_path / "split"))
    second.run()
    assert_same_state(training_tensors(tmp_path / "whole"), training_tensors(tmp_path / "split"))

    # The first step's losses come from the same weights and batch: bf16 rounding apart, the same values.
    make_trainer(tmp_path / "fp32").run(until_step=1)
    fp32, bf16 = (json.loads((tmp_path / run / "log.jsonl").read_text().splitlines()[0]) for run in ("fp32", "whole"))
    names = ("g_gan", "g_feat", "g_l1", "d_fake", "d_real")
    assert any(fp32[name] != bf16[name] for name in names)  # autocast was on
    for name in names:
        assert bf16[name] == pytest.approx(fp32[name], rel=0.05, abs=0.02), (name, fp32[name], bf16[name])
    logged = [json.loads(line) for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(row["g_total"]) and np.isfinite(row["d_real"]) for row in logged)


def test_amp_is_off_or_bf16():
    from sean_train.config import ConfigError

    assert RunConfig.from_dict(tiny_run_config()).train.amp == "off"
    with pytest.raises(ConfigError, match=r"train\.amp must be one of off, bf16, got 'fp16'"):
        RunConfig.from_dict(tiny_run_config(amp="fp16"))


ZEN3_FLAGS = "fpu sse2 avx avx2 fma sha_ni"  # an x86 CPU without bf16 units (AMD Zen 3)


def write_cpuinfo(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"processor\t: {cpu}\n" + "".join(f"{line}\n" for line in lines) + "\n"
                            for cpu in range(2)))
    return path


def test_cpu_flags_are_the_first_processors_and_unknown_where_linux_lists_none(tmp_path, monkeypatch):
    from sean_core import cpu

    monkeypatch.setattr(cpu, "CPUINFO", write_cpuinfo(tmp_path / "x86", "model name\t: AMD EPYC 7B13",
                                                      f"flags\t\t: {ZEN3_FLAGS} avx512_bf16"))
    assert cpu.cpu_flags() == {*ZEN3_FLAGS.split(), "avx512_bf16"} and cpu.cpu_name() == "AMD EPYC 7B13"
    monkeypatch.setattr(cpu, "CPUINFO", write_cpuinfo(tmp_path / "arm", "Features\t: fp asimd bf16"))
    assert cpu.cpu_flags() is None  # another architecture: unknown, not a CPU without units
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "absent")
    assert cpu.cpu_flags() is None


@pytest.mark.parametrize(("amp", "device", "flags", "noted"), [
    ("bf16", "cpu", ZEN3_FLAGS, True),
    ("bf16", "cpu", f"{ZEN3_FLAGS} avx512f avx512_bf16", False),  # Cooper Lake, Zen 4
    ("bf16", "cpu", f"{ZEN3_FLAGS} amx_tile amx_bf16", False),  # Sapphire Rapids
    ("bf16", "cpu", None, False),  # flags unknown
    ("bf16", "cuda", ZEN3_FLAGS, False),  # the GPU computes; the host's CPU does not matter
    ("off", "cpu", ZEN3_FLAGS, False),
])
def test_bf16_autocast_is_noted_only_where_a_cpu_without_bf16_units_emulates_it(amp, device, flags, noted):
    from sean_train.trainer import emulated_bf16

    lines = emulated_bf16(amp, device, None if flags is None else frozenset(flags.split()))
    assert len(lines) == int(noted)
    if noted:
        assert "emulated on this CPU" in lines[0] and "much slower than in fp32" in lines[0]
        assert "without --amp (train.amp: off)" in lines[0] and "\n" not in lines[0]


def test_a_bf16_run_on_a_cpu_without_bf16_units_says_so_and_keeps_its_setting(tmp_path, monkeypatch):
    from sean_core import cpu

    monkeypatch.setattr(cpu, "CPUINFO", write_cpuinfo(tmp_path / "cpuinfo", f"flags\t\t: {ZEN3_FLAGS}"))
    trainer = make_trainer(tmp_path / "run", tiny_run_config(amp="bf16"))
    assert [note for note in trainer.notes if "bf16 autocast" in note] == trainer.notes[:1]
    assert trainer.config.train.amp == "bf16"


# --- the command line -------------------------------------------------------------------------------

def _train_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sean_train.commands.train", "--threads", "1", "--quiet", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_kill_9_and_resume_equals_uninterrupted_run(tmp_path, one_thread):
    config = write_config(tmp_path / "tiny.yaml", tiny_run_config(checkpoint_every=1, epochs=4, epochs_decay=4))
    # Checkpoints and sample grids do not perturb training, so the reference writes only the last one.
    reference = make_trainer(tmp_path / "reference", tiny_run_config(checkpoint_every=16, sample_every=16,
                                                                      epochs=4, epochs_decay=4))
    reference.run()

    run = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd("--config", str(config), "--out", str(run)), env=_env(), cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline and not any(step >= 5 for step, _ in list_checkpoints(run)):
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = list_checkpoints(run)[-1][0]
    assert 5 <= killed_at < 16

    done = subprocess.run(_train_cmd("--resume", str(run)), env=_env(), cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"resuming at step {killed_at}" in done.stderr
    assert_same_state(training_tensors(tmp_path / "reference"), training_tensors(run))
    assert not any(p.name.startswith(".") for p in (run / "checkpoints").iterdir())


@pytest.mark.slow
def test_two_processes_with_gloo(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", tiny_run_config(synthetic_train_size=8, batch_size=4))
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "sean_train.commands.train", "--config", str(config), "--out", str(run), "--threads", "1",
           "--quiet", "--device", "cpu"]
    done = subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "over 2 process(es)" in done.stderr
    state = load_training_checkpoint(latest_checkpoint(run))
    assert state.step == 8 and state.meta["world_size"] == 2
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 9))  # only process 0 writes
    assert load_checkpoint(latest_checkpoint(run)) is not None


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _two_process_training(folder: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    """A 2-process run of a tiny config that checkpoints every step, started under torchrun: (launcher, run)."""
    config = write_config(folder / "tiny.yaml", tiny_run_config(synthetic_train_size=8, batch_size=4, epochs=20,
                                                                checkpoint_every=1, sample_every=100))
    run = folder / "ddp"
    launcher = subprocess.Popen(
        _torchrun("-m", "sean_train.commands.train", "--config", str(config), "--out", str(run), "--threads", "1",
                  "--quiet", "--device", "cpu"),
        env={**_env(), **env}, cwd=REPO, stderr=subprocess.PIPE, text=True,
    )
    return launcher, run


def _workers_once_checkpointed(launcher: subprocess.Popen, run: Path) -> list[int]:
    """The worker processes of a _two_process_training launch, once its first checkpoint is written."""
    deadline = time.time() + 120
    while time.time() < deadline and not list_checkpoints(run):
        assert launcher.poll() is None, "training ended before its first checkpoint"
        time.sleep(0.05)
    return _children(launcher.pid)


@pytest.mark.slow
def test_two_processes_one_killed_the_other_says_how_the_run_continues(tmp_path):
    launcher, run = _two_process_training(tmp_path)
    workers = _workers_once_checkpointed(launcher, run)
    os.kill(workers[1], signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode != 0
    # process 0 says what happened and the command that continues with as many processes, not gloo's traceback
    assert "another process of this run stopped (killed, or its error is above)" in stderr, stderr[-3000:]
    assert f"torchrun --standalone --nproc_per_node 2 -m sean_train.commands.train --resume {run}" in stderr
    assert "]: Traceback" not in stderr and "gloo" not in stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


@pytest.mark.slow
@pytest.mark.parametrize("other", ["other-lr", "missing"])
def test_two_processes_that_disagree_are_refused_before_any_step(tmp_path, other):
    """A node with another copy of the config trains nothing (its weights parted from process 0's only at the
    first checkpoint); a process failing its own option check leaves no run folder behind."""
    tiny = tiny_run_config(synthetic_train_size=8, batch_size=4)
    config = write_config(tmp_path / "tiny.yaml", tiny)
    write_config(tmp_path / "other-lr.yaml", {**tiny, "train": {**tiny["train"], "lr_g": 0.01}})
    run = tmp_path / "ddp"
    script = tmp_path / "per_rank.sh"  # process 1 is given another --config, as a node with its own copy
    script.write_text(f'config={config}; [ "$RANK" = 1 ] && config={tmp_path / other}.yaml\n'
                      f'exec {sys.executable} -m sean_train.commands.train --config "$config" --out {run} '
                      f'--threads 1 --quiet --device cpu\n')
    done = subprocess.run(_torchrun("--no-python", "sh", str(script)), env=_env(), cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    if other == "other-lr":
        assert ("Error: the processes of this run differ from process 0: process 1 (train.lr_g: 0.0001 -> 0.01)"
                in done.stderr), done.stderr[-3000:]
    else:
        assert "Error: process 1 of 2: Invalid value for '--config'" in done.stderr, done.stderr[-3000:]
    assert "]: Traceback" not in done.stderr  # torchrun prefixes a process's traceback with [rankN]
    assert not run.exists()


def test_errors_of_a_process_other_than_0_are_named():
    from sean_train.commands.train import train

    env = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    option = CliRunner().invoke(train, ["--config", "no-such-config.yaml", "--out", "x"], env=env)
    assert option.exit_code == 2
    assert "Error: process 1 of 2: Invalid value for '--config'" in option.output
    usage = CliRunner().invoke(train, ["--restart"], env=env)
    assert "Error: process 1 of 2: give either --config" in usage.output
    main = CliRunner().invoke(train, ["--restart"], env={**env, "RANK": "0", "LOCAL_RANK": "0"})
    assert "Error: give either --config" in main.output


@pytest.mark.slow
def test_two_processes_one_stuck_the_other_stops_after_the_timeout_and_says_why(tmp_path):
    """A process that hangs without dying (here SIGSTOP'd) ends the run after $SEAN_DIST_TIMEOUT_S, not after
    gloo's 30 min, in one line naming the likely cause and the command that continues the run."""
    launcher, run = _two_process_training(tmp_path, SEAN_DIST_TIMEOUT_S="8")
    workers: list[int] = []
    try:
        workers = _workers_once_checkpointed(launcher, run)
        os.kill(workers[1], signal.SIGSTOP)
        deadline = time.time() + 60  # process 0 ends after the timeout; torchrun then waits for the stopped one
        while time.time() < deadline and _alive(workers[0]):
            time.sleep(0.1)
        assert not _alive(workers[0]), "process 0 still waits for the stopped process"
    finally:
        for pid in workers[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode != 0
    assert ("Error: another process of this run did not answer for 8 s (stuck: a hung data read" in stderr), \
        stderr[-3000:]
    assert f"torchrun --standalone --nproc_per_node 2 -m sean_train.commands.train --resume {run}" in stderr
    assert "set SEAN_DIST_TIMEOUT_S to more seconds" in stderr
    assert "]: Traceback" not in stderr and "gloo" not in stderr


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not yet waited for by torchrun, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_two_processes_whose_weights_part_ways_stop_in_one_line_before_saving(tmp_path):
    """Weights that differ at a checkpoint (DDP keeps them equal) stop the run in process 0's one line naming
    the process and how the run continues from its last checkpoint, and the step is not saved."""
    config = write_config(tmp_path / "tiny.yaml", tiny_run_config(synthetic_train_size=8, batch_size=4, epochs=20,
                                                                  checkpoint_every=1, sample_every=100))
    run = tmp_path / "ddp"
    script = tmp_path / "parting.py"  # process 1's generator weights change before the checkpoint of step 2
    script.write_text(
        "import os\nimport torch\nfrom sean_train.commands.train import train\nfrom sean_train.trainer import Trainer\n"
        "score = Trainer._score\n"
        "def _score(self):\n"
        "    if os.environ['RANK'] == '1' and self.step == 2:\n"
        "        with torch.no_grad():\n"
        "            next(self.model.parameters()).add_(1.0)\n"
        "    return score(self)\n"
        "Trainer._score = _score\n"
        "train(prog_name='sean train')\n"
    )
    done = subprocess.run(
        _torchrun(str(script), "--config", str(config), "--out", str(run), "--threads", "1", "--quiet",
                  "--device", "cpu"),
        env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    assert ("Error: the weights of process 1 (generator) differ from process 0's at step 2, so its checkpoint is "
            "not written" in done.stderr), done.stderr[-3000:]
    assert (f"it continues from step_00000001 with `torchrun --standalone --nproc_per_node 2 -m "
            f"sean_train.commands.train --resume {run}`") in done.stderr
    assert "]: Traceback" not in done.stderr and "Error: process 1 of 2" not in done.stderr
    assert [step for step, _ in list_checkpoints(run)] == [1]


def test_a_bad_collective_timeout_is_one_line_before_the_run_folder_is_made(tmp_path):
    from sean_train.commands.train import train

    config = write_config(tmp_path / "tiny.yaml", tiny_run_config())
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "SEAN_DIST_TIMEOUT_S": "10 min"}
    done = CliRunner().invoke(train, ["--config", str(config), "--out", str(tmp_path / "run"), "--device", "cpu"],
                              env=env)
    assert done.exit_code == 1
    assert done.output == ("Error: SEAN_DIST_TIMEOUT_S is '10 min', not a number of seconds above 0; set it to "
                           "e.g. 1800 or unset it (default 600)\n")
    assert not (tmp_path / "run").exists()


def test_the_resume_command_of_a_launch_over_several_nodes_names_the_nodes(tmp_path, monkeypatch):
    """torchrun --standalone starts one node's processes only: a launch over several continues with as many
    nodes and processes per node, and the first launch's rendezvous options."""
    from sean_train.distributed import from_environment

    run = tmp_path / "r"
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert from_environment().resume_command(run) == (
        f"torchrun --nnodes 2 --nproc_per_node 4 <each node's rendezvous options as in the first launch> "
        f"-m sean_train.commands.train --resume {run} --restart"
    )
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # one node
    assert from_environment().resume_command(run) == (
        f"torchrun --standalone --nproc_per_node 8 -m sean_train.commands.train --resume {run} --restart"
    )


def test_an_out_that_holds_a_run_of_several_processes_names_the_torchrun_command(tmp_path, monkeypatch):
    """`--config ... --out RUN` on a run folder under torchrun advised `sean train --resume RUN`, which continues
    with one process."""
    from sean_train.commands.train import already_a_run
    from sean_train.distributed import from_environment

    run = tmp_path / "r"
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    assert already_a_run(run, str(tmp_path / "other"), from_environment()) == (
        f"{run} already holds a run: continue it with `torchrun --standalone --nproc_per_node 2 -m "
        f"sean_train.commands.train --resume {run} --data {tmp_path / 'other'} --restart` or choose another --out"
    )


def test_resume_command_of_several_processes_is_torchrun_with_as_many(tmp_path):
    from sean_core.checkpoint_files import resume_command

    assert resume_command(tmp_path / "r") == f"sean train --resume {tmp_path / 'r'} --restart"
    assert resume_command(tmp_path / "r", processes=4) == (
        f"torchrun --standalone --nproc_per_node 4 -m sean_train.commands.train --resume {tmp_path / 'r'} --restart"
    )


def test_cli_refuses_to_overwrite_a_run_and_needs_a_run_to_resume(tmp_path):
    from sean_train.commands.train import train

    config = write_config(tmp_path / "tiny.yaml", tiny_run_config(epochs=1, epochs_decay=0))
    runner = CliRunner()
    start = ["--config", str(config), "--out", str(tmp_path / "run"), "--device", "cpu"]
    first = runner.invoke(train, [*start, "--quiet"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(train, start)
    assert again.exit_code != 0 and "--resume" in again.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = runner.invoke(train, ["--resume", str(empty)])
    assert missing.exit_code != 0 and "not a run folder" in missing.output
    both = runner.invoke(train, ["--resume", str(tmp_path / "run"), "--config", str(config)])
    assert both.exit_code != 0
