"""The GPU path, checked without a GPU (issue 26): slots leased from fake device counts and
``CUDA_VISIBLE_DEVICES`` masks, waits bounded by the job's runtime, the CUDA settings a
lease pins, every network method on its leased device, resuming a state saved with two
CUDA generators on the CPU, mixed precision that cannot overflow (CPU autocast), the
finite-values check, the precision in the feature cache key, and the GPU resources of the
plan. The few checks that need a real GPU are skipped without one."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from highlight_pipeline import cli, gpu_slots
from highlight_pipeline.config import (
    execution_slice,
    features_slice,
    precision_slice,
    slice_hash,
    validate_config,
)
from highlight_pipeline.errors import ConfigError, NumericsError, PipelineError
from highlight_pipeline.features.backbones.cnn14 import build_cnn14, panns_models
from highlight_pipeline.features.neural import NeuralExtractor, check_finite
from highlight_pipeline.gpu_slots import (
    acquire_device,
    configure_cuda,
    default_lock_dir,
    lease_for_process,
    runtime_wait_seconds,
)
from highlight_pipeline.methods import avph, chd, hpcl, pld
from highlight_pipeline.methods.inputs import MethodInputs
from highlight_pipeline.methods.models import load_model, place_model, runs_network
from highlight_pipeline.methods.optim import Adam
from highlight_pipeline.methods.random_baseline import RandomScores
from highlight_pipeline.methods.registry import BUILTIN
from highlight_pipeline.methods.resume import EpochCheckpoint
from highlight_pipeline.provenance import provenance
from highlight_pipeline.runs import resolve_run, run_slice
from tests.test_chd import chd_run
from tests.test_hpcl import separable_inputs, small_run
from tests.test_neural import row_of
from tests.workflow_helpers import CI_CONFIG, new_workdir, snakemake

ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "HLP_FAKE_GPUS",
    "HLP_GPU_LOCK_DIR",
    "HLP_RUNTIME_MIN",
    "SLURM_JOB_ID",
)
CUDNN, MATMUL = torch.backends.cudnn, torch.backends.cuda.matmul


@pytest.fixture(autouse=True)
def clean_slots(monkeypatch, tmp_path):
    """No inherited device settings; fresh per-process leases, released afterwards."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HLP_GPU_LOCK_DIR", str(tmp_path / "locks"))
    leases: dict = {}
    monkeypatch.setattr(gpu_slots, "_process_leases", leases)
    yield
    for lease in leases.values():
        lease.release()


@pytest.fixture
def fake_cuda(monkeypatch):
    """``fake_cuda(n)``: torch reports n CUDA devices, named ``Fake GPU <index>`` (the name
    of torch's *current* device, asked without an index, is ``Fake GPU current``)."""

    def install(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)

        def name(device=None) -> str:
            return (
                "Fake GPU current" if device is None else f"Fake GPU {torch.device(device).index}"
            )

        monkeypatch.setattr(torch.cuda, "get_device_name", name)

    return install


@pytest.fixture
def torch_flags(monkeypatch):
    """Restore torch's global CUDA settings (and CUBLAS_WORKSPACE_CONFIG) after the test."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "unset-marker")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    saved = (
        CUDNN.deterministic,
        CUDNN.benchmark,
        CUDNN.allow_tf32,
        MATMUL.allow_tf32,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    yield
    CUDNN.deterministic, CUDNN.benchmark, CUDNN.allow_tf32, MATMUL.allow_tf32 = saved[:4]
    torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])


def _flags() -> tuple:
    return (
        CUDNN.deterministic,
        CUDNN.benchmark,
        CUDNN.allow_tf32,
        MATMUL.allow_tf32,
        torch.are_deterministic_algorithms_enabled(),
    )


# ----------------------------------------------------------------------------- slots


def test_a_mask_of_several_devices_is_a_pool_numbered_as_cuda_numbers_it(
    tmp_path, fake_cuda, monkeypatch
):
    fake_cuda(2)  # CUDA numbers the listed devices 0 and 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    first = acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    second = acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    assert (first.device, first.index, first.ident) == ("cuda:0", 0, "3")
    assert (second.device, second.index, second.ident) == ("cuda:1", 1, "5")
    assert first.lock_path == tmp_path / "gpu3.lock" and second.lock_path == tmp_path / "gpu5.lock"
    assert "CUDA_VISIBLE_DEVICES='3,5'" in first.reason
    with pytest.raises(PipelineError, match="2 GPU slots"):  # both held: a third job waits
        acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    second.release()
    third = acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    assert (third.device, third.ident) == ("cuda:1", "5")
    first.release()
    third.release()


def test_a_mask_of_one_device_is_that_device_and_jobs_with_other_masks_share_its_lock(
    tmp_path, fake_cuda, monkeypatch
):
    fake_cuda(1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    only = acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    assert (only.device, only.index, only.lock_path) == ("cuda:0", 0, tmp_path / "gpu2.lock")
    with pytest.raises(PipelineError):  # --resources gpu=2 on one device: the second waits
        acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    # a job that sees devices 2 and 0 (in that order) finds 2 taken: its cuda:1 is device 0
    fake_cuda(2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    other = acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    assert (other.device, other.ident, other.lock_path) == ("cuda:1", "0", tmp_path / "gpu0.lock")
    # and an unmasked job on the same machine: its cuda:0 and cuda:2 are taken, cuda:1 free
    fake_cuda(3)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    free = acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    assert (free.device, free.lock_path) == ("cuda:1", tmp_path / "gpu1.lock")
    for lease in (only, other, free):
        lease.release()


def test_mask_entries_past_the_devices_cuda_found_are_not_slots(tmp_path, fake_cuda, monkeypatch):
    fake_cuda(1)  # CUDA stops at the first entry it cannot use
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7")
    lease = acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    assert (lease.device, lease.ident) == ("cuda:0", "1")
    with pytest.raises(PipelineError, match="all 1 GPU slots"):
        acquire_device("auto", lock_dir=tmp_path, wait_seconds=0)
    lease.release()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # hides every device
    fake_cuda(0)
    assert acquire_device("auto", lock_dir=tmp_path).device == "cpu"
    with pytest.raises(ConfigError, match="no CUDA device"):
        acquire_device("cuda", lock_dir=tmp_path)


def test_a_job_waits_as_long_as_its_runtime_allows_and_says_so_every_minute(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("HLP_FAKE_GPUS", "1")
    monkeypatch.setenv("HLP_RUNTIME_MIN", "0.01")  # 0.6 s
    monkeypatch.setattr(gpu_slots, "_process_age", lambda: 0.0)
    held = acquire_device(lock_dir=tmp_path, wait_seconds=0)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger=gpu_slots.__name__):
        with pytest.raises(PipelineError, match="runtime allows no longer") as info:
            acquire_device(lock_dir=tmp_path, poll_seconds=0.02, log_every=0.1)
    waited = time.monotonic() - t0
    assert 0.55 <= waited < 3, waited
    assert "pid " in str(info.value) and "\n" not in str(info.value)  # names the holder
    lines = [r.getMessage() for r in caplog.records if r.name == gpu_slots.__name__]
    assert "waiting up to 0.6 s" in lines[0]
    assert sum("still waiting for a GPU slot" in line for line in lines) >= 3
    held.release()


def test_the_wait_is_the_rules_runtime_less_the_time_the_job_has_run(monkeypatch):
    assert runtime_wait_seconds() is None  # by hand: no limit
    monkeypatch.setenv("HLP_RUNTIME_MIN", "60")
    monkeypatch.setattr(gpu_slots, "_process_age", lambda: 30.0)
    assert runtime_wait_seconds() == 3570.0
    assert 0.0 <= gpu_slots._process_age() < 3600 * 24 * 365  # this process's own age
    monkeypatch.setenv("HLP_RUNTIME_MIN", "soon")
    with pytest.raises(ConfigError, match="HLP_RUNTIME_MIN"):
        runtime_wait_seconds()


def test_slurm_jobs_lease_from_a_folder_of_their_own(monkeypatch, tmp_path):
    monkeypatch.delenv("HLP_GPU_LOCK_DIR")
    plain = default_lock_dir()
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    assert default_lock_dir() == plain.with_name(plain.name + "-slurm4711")
    monkeypatch.setenv("HLP_GPU_LOCK_DIR", str(tmp_path))
    assert default_lock_dir() == tmp_path


# ----------------------------------------------------------------------------- CUDA settings


def test_a_cuda_lease_pins_deterministic_cudnn_no_tf32_and_names_the_leased_gpu(
    tmp_path, fake_cuda, monkeypatch, torch_flags
):
    fake_cuda(2)
    CUDNN.deterministic, CUDNN.benchmark, CUDNN.allow_tf32, MATMUL.allow_tf32 = (
        False,
        True,
        True,
        True,
    )
    blocker = acquire_device("auto", lock_dir=tmp_path / "locks")  # another job on cuda:0
    lease = lease_for_process("auto")
    assert lease.device == "cuda:1"
    assert _flags() == (True, False, False, False, True)
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    record = lease.record()
    assert record["name"] == "cuda:Fake GPU 1"  # the leased device, not torch's current one
    assert (record["device"], record["slot"], record["id"]) == ("cuda:1", 1, "1")
    assert record["cuda"] == {
        "deterministic": True,
        "tf32": False,
        "cudnn_benchmark": False,
        "cublas_workspace": ":4096:8",
    }
    assert provenance("cuda:1")["device"] == "cuda:Fake GPU 1"
    blocker.release()


def test_config_cuda_allows_autotuning_and_tf32(torch_flags):
    applied = configure_cuda({"deterministic": False, "tf32": True})
    assert _flags() == (False, True, True, True, False)
    assert applied["deterministic"] is False and applied["tf32"] is True
    with pytest.raises(ConfigError, match="unknown"):
        configure_cuda({"benchmark": True})
    config = validate_config({"run_datasets": ["s"], "datasets": {"s": {"reader": "synthetic"}}})
    assert config["cuda"] == {"deterministic": True, "tf32": False}
    assert execution_slice(config, "r3d34")["cuda"] == config["cuda"]


def test_config_cuda_passes_the_fast_paths_switch_to_the_networks_not_to_torch(torch_flags):
    """``cuda.cpu_fast_paths`` is the networks' (features/backbones/fast_paths.py): the lease
    takes it without complaint and pins torch as without it."""
    applied = configure_cuda({"cpu_fast_paths": True})
    assert _flags() == (True, False, False, False, True)
    assert set(applied) == {"deterministic", "tf32", "cudnn_benchmark", "cublas_workspace"}
    with pytest.raises(ConfigError, match="unknown"):
        configure_cuda({"cpu_fast_path": True})  # a misspelt key is still refused


def test_a_cpu_lease_changes_no_torch_setting(tmp_path, torch_flags, caplog):
    if torch.cuda.is_available():
        pytest.skip("this test needs a machine without CUDA")
    CUDNN.allow_tf32 = True  # torch's own default: a CPU job must leave it alone
    before = _flags()
    with caplog.at_level(logging.INFO, logger=gpu_slots.__name__):
        lease = lease_for_process("auto", {"deterministic": False, "tf32": True})
    assert lease.device == "cpu" and lease.cuda is None
    assert _flags() == before
    assert list(lease.record()) == ["device", "name"]
    # the CPU fallback says so in one line
    lines = [r.getMessage() for r in caplog.records if r.name == gpu_slots.__name__]
    assert len(lines) == 1 and "running on CPU" in lines[0]


# ----------------------------------------------------------------------------- methods


def test_every_network_method_takes_a_gpu_and_the_baseline_none():
    config = validate_config(
        {
            "run_datasets": ["s"],
            "datasets": {"s": {"reader": "synthetic"}},
            "evaluation": {
                "runs": {
                    "avph": ["av-ph", "pseudo-highlights-as-predictions"],
                    "chd": ["full"],
                    "hpcl": ["co-av"],
                    "pld": ["tased-full"],
                    "random": ["uniform"],
                }
            },
        }
    )
    uses = {
        (spec.name, variant): spec.gpu(resolve_run(config, "s", spec.name, variant))
        for spec in BUILTIN
        for variant in config["evaluation"]["runs"][spec.name]
    }
    assert uses == {
        ("avph", "av-ph"): True,
        ("avph", "pseudo-highlights-as-predictions"): False,  # no network
        ("chd", "full"): True,
        ("hpcl", "co-av"): True,
        ("pld", "tased-full"): True,
        ("random", "uniform"): False,
    }
    assert runs_network({"method": "chd", "run": {}})  # an old file: the method's answer
    assert not runs_network({"method": "random", "run": {"settings": {}}})


def _train_args(method: str, variant: str, run: dict, tmp_path: Path, device="auto"):
    files = {name: tmp_path / f"{name}.csv" for name in ("manifest", "clips")}
    files["visual"] = tmp_path / "visual.h5"
    for path in files.values():
        path.write_text("")
    extra = ["--visual", str(files["visual"])] if method != "random" else []
    argv = ["train", "--method", method, "--variant", variant, "--run", json.dumps(run)]
    argv += ["--manifest", str(files["manifest"]), "--clips", str(files["clips"]), *extra]
    argv += ["--device", device, "--out", str(tmp_path / f"{method}.pt")]
    return cli.build_parser().parse_args(argv), files


@pytest.fixture
def fake_dataset(monkeypatch):
    """`hlp train`/`score` read these videos (separable features) instead of files."""
    data = separable_inputs()

    def load(manifest, clips, splits, features, *args, **kwargs) -> MethodInputs:
        return MethodInputs(data.videos, files=dict(features))

    monkeypatch.setattr("highlight_pipeline.methods.inputs.load_method_inputs", load)
    monkeypatch.setattr(
        "highlight_pipeline.methods.steps.feature_recipe",
        lambda clips, files: {"features": {}, "clip_seconds": 1.0},
    )
    monkeypatch.setattr("highlight_pipeline.methods.inputs.InputFiles.split_of", lambda self: {})
    return data


def _next_process() -> None:
    """What a new job process starts with: no lease (this one's are given back)."""
    for lease in gpu_slots._process_leases.values():
        lease.release()
    gpu_slots._process_leases.clear()


@pytest.mark.usefixtures("one_torch_thread")
def test_hlp_train_and_score_lease_a_slot_for_a_network_and_record_it(
    tmp_path, monkeypatch, fake_dataset
):
    monkeypatch.setenv("HLP_FAKE_GPUS", "1")  # one slot; the job still runs on the CPU
    locks = tmp_path / "locks"
    run = run_slice(chd_run())
    args, _ = _train_args("chd", "full", run, tmp_path)
    cli.cmd_train(args)
    with pytest.raises(PipelineError):  # the job holds its slot while it runs
        acquire_device(lock_dir=locks, wait_seconds=0)
    model, checkpoint = load_model(tmp_path / "chd.pt")
    assert checkpoint["device"]["slot"] == 0 and checkpoint["device"]["device"] == "cpu"
    assert checkpoint["device"]["name"].startswith("cpu:")

    _next_process()  # the scoring job
    scores, devices = tmp_path / "s.jsonl", tmp_path / "d.json"
    argv = ["score", "--model", str(tmp_path / "chd.pt"), "--manifest", "m", "--clips", "c"]
    argv += ["--out", str(scores), "--devices", str(devices)]
    cli.cmd_score(cli.build_parser().parse_args(argv))
    record = json.loads(devices.read_text())
    assert record["train"] == checkpoint["device"] and record["score"]["slot"] == 0
    assert len(scores.read_text().splitlines()) == len(fake_dataset.videos)

    # the random baseline runs no network: no slot, no lock (its request is "cpu")
    _next_process()
    held = acquire_device(lock_dir=locks, wait_seconds=0)  # the only slot is taken ...
    args, _ = _train_args("random", "uniform", {"settings": {}}, tmp_path)
    cli.cmd_train(args)  # ... and the baseline does not wait for it
    _, baseline = load_model(tmp_path / "random.pt")
    assert "slot" not in baseline["device"] and baseline["device"]["device"] == "cpu"
    held.release()


@pytest.mark.usefixtures("one_torch_thread")
def test_hlp_train_with_scores_scores_as_hlp_score_on_its_one_slot(
    tmp_path, monkeypatch, fake_dataset
):
    """The train rule's job (`hlp train --scores --devices`): one process, one slot for
    training and scoring, and the scores file byte-equal to `hlp score` of the model."""
    monkeypatch.setenv("HLP_FAKE_GPUS", "1")
    args, _ = _train_args("chd", "full", run_slice(chd_run()), tmp_path)
    scores, devices = tmp_path / "train.scores.jsonl", tmp_path / "train.devices.json"
    args.scores, args.devices = str(scores), str(devices)
    cli.cmd_train(args)
    record = json.loads(devices.read_text())
    assert record["train"]["slot"] == record["score"]["slot"] == 0  # the one slot, kept
    assert not (tmp_path / "chd.pt.resume").exists()  # removed once the scores are written

    _next_process()
    alone = tmp_path / "score.scores.jsonl"
    argv = ["score", "--model", str(tmp_path / "chd.pt"), "--manifest", "m", "--clips", "c"]
    cli.cmd_score(cli.build_parser().parse_args([*argv, "--out", str(alone)]))
    assert scores.read_bytes() == alone.read_bytes()
    assert len(scores.read_text().splitlines()) == len(fake_dataset.videos)

    args.scores = None  # --devices alone records nothing: refused, not ignored
    with pytest.raises(PipelineError, match="--scores"):
        cli.cmd_train(args)


@pytest.mark.usefixtures("one_torch_thread")
def test_hlp_score_puts_a_network_model_on_its_leased_gpu(
    tmp_path, monkeypatch, fake_dataset, fake_cuda, torch_flags
):
    args, _ = _train_args("chd", "full", run_slice(chd_run()), tmp_path, device="cpu")
    cli.cmd_train(args)  # trained on the CPU: no slot
    fake_cuda(2)
    blocker = acquire_device("auto", lock_dir=tmp_path / "locks")  # cuda:0 is taken
    moved = []
    monkeypatch.setattr(chd.CHDModel, "to", lambda self, device: moved.append(device) or self)
    devices = tmp_path / "d.json"
    argv = ["score", "--model", str(tmp_path / "chd.pt"), "--manifest", "m", "--clips", "c"]
    argv += ["--out", str(tmp_path / "s.jsonl"), "--devices", str(devices)]
    cli.cmd_score(cli.build_parser().parse_args(argv))
    assert moved == ["cuda:1"]  # the model scores on the job's device
    record = json.loads(devices.read_text())
    assert record["train"]["device"] == "cpu" and "slot" not in record["train"]
    assert record["score"]["device"] == "cuda:1" and record["score"]["name"] == "cuda:Fake GPU 1"
    assert record["score"]["cuda"]["deterministic"] is True
    blocker.release()


def test_the_metrics_name_the_device_that_trained_the_run(tmp_path, monkeypatch):
    devices = {
        "train": {"device": "cuda:1", "name": "cuda:Fake GPU 1", "slot": 1, "id": "1"},
        "score": {"device": "cuda:0", "name": "cuda:Fake GPU 0", "slot": 0, "id": "0"},
    }
    found = provenance(devices=devices)
    assert found["device"] == "cuda:Fake GPU 1" and found["devices"] == devices
    assert provenance()["device"].startswith("cpu:") and "devices" not in provenance()
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(devices))
    seen = {}

    def evaluate_run(*args, also=()):
        seen["devices"] = args[-1]
        return {"metric": "mAP", "average": 0.5}

    monkeypatch.setattr("highlight_pipeline.evaluate.evaluate_run", evaluate_run)
    monkeypatch.setattr("highlight_pipeline.evaluate.write_metrics", lambda *a: None)
    monkeypatch.setattr("highlight_pipeline.predictions.read_predictions", lambda p: {})
    monkeypatch.setattr(cli, "_splits", lambda args: {})
    argv = ["evaluate", "--predictions", "p", "--manifest", "m", "--clips", "c"]
    argv += ["--dataset", "d", "--method", "chd", "--variant", "full", "--features", "f"]
    argv += ["--seed", "0", "--devices", str(path), "--out", str(tmp_path / "m.json")]
    cli.cmd_evaluate(cli.build_parser().parse_args(argv))
    assert seen["devices"] == devices


def test_network_models_move_with_to_and_others_stay():
    class Spy:
        def __init__(self) -> None:
            self.moved = []

        def to(self, device):
            self.moved.append(device)
            return self

    spy, baseline = Spy(), RandomScores(0)
    assert place_model(spy, "cpu") is spy and spy.moved == []  # the CPU: nothing happens
    assert place_model(spy, "cuda:1") is spy and spy.moved == ["cuda:1"]
    assert place_model(baseline, "cuda:1") is baseline  # no network, no `to`
    for model_class in (avph.AVPHModel, chd.CHDModel, hpcl.HPCLModel, pld.PLDModel):
        assert callable(getattr(model_class, "to", None)), model_class


@pytest.mark.usefixtures("one_torch_thread")
def test_scores_on_the_cpu_are_the_same_after_placing_the_model():
    data = separable_inputs()
    test = data.videos[-1]
    for model in (
        chd.fit(data, chd_run(), 0, progress=False),
        hpcl.fit(data, small_run(epochs=2), 0, progress=False),
    ):
        before = model.score(test)
        np.testing.assert_array_equal(place_model(model, "cpu").score(test), before)
        np.testing.assert_array_equal(model.to("cpu").score(test), before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.usefixtures("one_torch_thread")
def test_models_score_on_a_gpu_as_on_the_cpu():
    data = separable_inputs()
    models = [
        chd.fit(data, chd_run(), 0, progress=False),
        hpcl.fit(data, small_run(epochs=2), 0, progress=False),
    ]
    rng = np.random.default_rng(0)
    visual = [rng.normal(size=(n, 5)).astype(np.float32) for n in (9, 12, 7)]
    audio = [rng.normal(size=(len(v), 3)).astype(np.float32) for v in visual]
    targets = [(rng.random(len(v)) < 0.5).astype(np.float32) for v in visual]
    settings = {"lr": 1e-2, "epochs": 2, "batch_size": 2, "hidden": 8, "heads": 2}
    settings.update(dropout=0.1, self_attention_layers=1, fc_layers=2, weight_decay=0.0)
    trained, _ = avph.train_avph(visual, audio, targets, settings, 0, False, "cuda:0")
    on_cpu = [m.score(data.videos[-1]) for m in models]
    on_gpu = [place_model(m, "cuda:0").score(data.videos[-1]) for m in models]
    for a, b in zip(on_cpu, on_gpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert np.isfinite(trained.to("cuda:0").score_clips([visual[0]], [audio[0]])[0]).all()


# ----------------------------------------------------------------------------- resume


def test_a_state_saved_with_two_cuda_generators_resumes_on_the_cpu(tmp_path, monkeypatch):
    net = torch.nn.Linear(3, 1)
    optimiser = Adam(net.parameters())
    rng = np.random.default_rng(5)
    cuda_states = [torch.full((16,), 1, dtype=torch.uint8), torch.full((16,), 2, dtype=torch.uint8)]
    with monkeypatch.context() as saving:  # the attempt that saved it saw two GPUs
        saving.setattr(torch.cuda, "is_initialized", lambda: True)
        saving.setattr(torch.cuda, "get_rng_state_all", lambda: cuda_states)
        checkpoint = EpochCheckpoint(tmp_path / "m.resume", "key", every_seconds=0)
        checkpoint.save(3, net, optimiser, rng, [0.5, 0.4, 0.3])
    saved = torch.load(checkpoint.path, weights_only=True)
    assert len(saved["cuda_rng"]) == 2
    expected_draw = np.random.default_rng(5).random()  # rng's state when saved

    restored = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d: restored.append((d, s)))
    for devices, calls in ((0, 0), (1, 1), (2, 2), (4, 2)):  # 0: a machine without CUDA
        monkeypatch.setattr(torch.cuda, "is_available", lambda n=devices: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda n=devices: n)
        restored.clear()
        fresh = torch.nn.Linear(3, 1)
        other = np.random.default_rng(99)
        epoch, losses = EpochCheckpoint(checkpoint.path, "key").restore(
            fresh, Adam(fresh.parameters()), other
        )
        assert (epoch, losses) == (3, [0.5, 0.4, 0.3]), devices
        assert torch.equal(fresh.weight, net.weight)
        assert other.random() == expected_draw
        # one state per device present, in device order; none on a machine without CUDA
        assert [d for d, _ in restored] == list(range(calls)), devices
        for device, state in restored:
            assert torch.equal(state, cuda_states[device])


# ----------------------------------------------------------------------------- precision


def _tone_and_silence() -> torch.Tensor:
    t = np.arange(32000) / 32000
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)  # full scale: peak 1.0
    return torch.from_numpy(np.stack([tone, np.zeros_like(tone)]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cnn14_front_end_stays_float32_under_autocast(dtype):
    torch.manual_seed(0)
    model = build_cnn14().eval()
    x = _tone_and_silence()
    with torch.no_grad():
        reference = model.extract(x)
        mel = model.logmel_extractor(model.spectrogram_extractor(x))
        with torch.autocast("cpu", dtype=dtype):
            mixed = model.extract(x)
            mel_mixed = model.logmel_extractor(model.spectrogram_extractor(x))
    assert mel_mixed.dtype == torch.float32 and torch.equal(mel_mixed, mel)
    assert torch.isfinite(mixed).all()  # float16 power of the tone passes 65504 otherwise
    scale = float(reference.abs().max())
    assert float((mixed.float() - reference).abs().max()) <= 0.02 * scale


def test_cnn14_without_autocast_is_the_packages_own_network():
    torch.manual_seed(0)
    ours = build_cnn14().eval()
    theirs = panns_models().Cnn14(32000, 1024, 320, 64, 50, 14000, 527).eval()
    theirs.load_state_dict(ours.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = _tone_and_silence()
    with torch.no_grad():
        assert torch.equal(ours.extract(x), theirs(x, None)["embedding"])


def test_non_finite_features_stop_the_job_naming_the_video(make_video, tmp_path):
    path = make_video("tone.mp4", seconds=2.0, fps=10)
    extractor = NeuralExtractor(
        {"extractor": "cnn14", "window_seconds": 1.0, "stride_seconds": 1.0},
        tmp_path,
        "random",
        "cpu",
        batch_size=4,
    )
    real = extractor.model.extract

    def overflowing(x):
        out = real(x)
        out[0, 3] = float("inf")
        return out

    extractor.model.extract = overflowing
    with pytest.raises(NumericsError, match=re.escape(str(path))) as info:
        extractor.extract(path, row_of(path))
    assert "cnn14" in str(info.value) and "1 non-finite" in str(info.value)
    assert not isinstance(info.value, ValueError)  # not taken for a bad video by the shard
    with pytest.raises(NumericsError, match="set features.amp: false"):
        check_finite(np.array([[np.nan, 1.0]]), "v.mp4", "r3d34", amp=True)
    values = np.ones((2, 3), np.float32)
    assert check_finite(values, "v.mp4", "r3d34", amp=False) is values


# Today's default feature slices and their hashes (the keys of existing feature caches).
DEFAULT_HASHES = {
    "colormotion": "ceef62053a64",
    "logmel": "92f726fdbdca",
    "spectral": "6ef0520212bc",
    "r3d34": "acb0f65cb748",
    "c3d": "c2b5315c58b6",
    "i3d": "3f5fbcd604c0",
    "cnn14": "dc9e05a2fc9f",
    "tased": "ef620dc6dbd7",
}
MODALITY = {"colormotion": "visual", "logmel": "audio", "spectral": "saliency", "cnn14": "audio"}


def _default_config(**changes) -> dict:
    raw = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    for key, value in changes.items():
        section, _, name = key.partition("__")
        raw.setdefault(section, {})[name] = value
    return validate_config(raw)


def _hashes(config: dict) -> dict[str, str]:
    return {
        name: slice_hash(features_slice(config, MODALITY.get(name, "visual"), name))
        for name in DEFAULT_HASHES
    }


def test_precision_keys_the_network_features_only_when_it_is_not_float32():
    assert _hashes(_default_config()) == DEFAULT_HASHES  # existing caches stay valid
    amp = _default_config(features__amp=True)
    assert precision_slice(amp) == {"amp": "float16"}
    assert features_slice(amp, "audio", "cnn14")["precision"] == {"amp": "float16"}
    changed = {k for k, v in _hashes(amp).items() if v != DEFAULT_HASHES[k]}
    assert changed == {"r3d34", "c3d", "i3d", "cnn14", "tased"}  # never the weight-free ones
    tf32 = _default_config(cuda__tf32=True)
    assert features_slice(tf32, "visual", "i3d")["precision"] == {"tf32": True}
    # device: cpu computes in float32 whatever amp and tf32 say: the default keys
    cpu = _default_config(features__amp=True, cuda__tf32=True)
    cpu["device"] = "cpu"
    assert precision_slice(cpu) == {} and _hashes(cpu) == DEFAULT_HASHES


# ----------------------------------------------------------------------------- the plan


def _plan(workdir: Path, overrides: dict) -> list[dict[str, str]]:
    from tests.test_profiles import dry_run_jobs

    path = workdir / f"gpu-{len(list(workdir.glob('gpu-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(overrides))
    args = ("-n", "-p", "--forceall", "--configfile", str(CI_CONFIG), str(path))
    return dry_run_jobs(snakemake(workdir, *args).stdout)


def _resources(job: dict[str, str]) -> dict[str, str]:
    return dict(
        item.split("=", 1) for item in job["resources"].removeprefix("resources: ").split(", ")
    )


@pytest.mark.integration
def test_the_plan_asks_for_gpus_where_a_network_runs_and_passes_the_runtime(tmp_path):
    workdir = new_workdir(tmp_path / "plan")
    neural = {"weights": "random", "features": {"visual": "r3d34"}}
    for job in _plan(workdir, {**neural, "device": "cpu"}):
        if job["rule"] != "all":  # device: cpu: no job holds back a CPU-only run
            assert _resources(job).get("gpu", "0") == "0", job
    jobs = _plan(workdir, {**neural, "device": "auto"})
    seen = set()
    for job in jobs:
        rule = job["rule"]
        if rule in ("features", "saliency"):
            network = "/r3d34/" in job["shell"]
            assert _resources(job)["gpu"] == str(int(network)), job
        elif rule in ("train", "explain"):
            method = re.search(r"models/(\w+)/", job["shell"])[1]
            network = method != "random"
            seen.add((rule, method))
            assert _resources(job)["gpu"] == str(int(network)), job
            assert f"--device {'auto' if network else 'cpu'} " in job["shell"], job
            assert '--cuda \'{"deterministic":true,"tf32":false}\'' in job["shell"], job
        else:
            continue
        runtime = _resources(job)["runtime"]
        assert job["shell"].startswith(f"HLP_MEM_MB={_resources(job)['mem_mb']} HLP_ATTEMPT=1 ")
        # decoding jobs: their numeric libraries keep one thread (docs/slurm.md)
        pins = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 HLP_DECODE_THREADS=1 "
        pins = pins if rule in ("features", "saliency") else ""
        assert f" HLP_RUNTIME_MIN={runtime} {pins}hlp " in job["shell"], job
    assert {("train", m) for m in ("avph", "chd", "hpcl", "pld", "random")} <= seen
    assert ("train", "random") in seen and ("explain", "pld") in seen
    assert all(".devices.json" in job["shell"] for job in jobs if job["rule"] == "train")
    evaluate = [job for job in jobs if job["rule"] == "evaluate"]
    assert evaluate and all(".devices.json --out " in job["shell"] for job in evaluate)
