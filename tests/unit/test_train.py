"""VAE training: the loop is plain Adam on the -ELBO, deterministic, resumable after SIGKILL,
and stops with one message when it diverges."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from benchmarks.bench import generated_images
from prml_pipeline.errors import PipelineError
from prml_pipeline.sheet.data import binarize
from prml_pipeline.sheet.vae import train
from prml_pipeline.sheet.vae.loss import negative_elbo
from prml_pipeline.sheet.vae.model import VAE
from prml_pipeline.sheet.vae.train import DivergenceError, TrainSettings

REPO = Path(__file__).resolve().parents[2]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}
SETTINGS = TrainSettings(hidden=(20,), epochs=2, batch_size=50, learning_rate=1e-3, seed=3,
                         name="tiny")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """510 binarized structured images: 10 full batches of 50 and a partial one of 10."""
    return binarize(generated_images(510, seed=0), 0.1307)


def fit(images, checkpoint_dir=None, threads=1, log=None, **overrides):
    return train.train_vae(images, replace(SETTINGS, **overrides), threads=threads,
                           checkpoint_dir=checkpoint_dir, progress_file=log or io.StringIO())


def assert_same_weights(a: VAE, b: VAE) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def test_settings_from_the_config_subset():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    vae, model = config["vae"], config["vae"]["models"]["fullcov"]
    cfg = {  # what workflow/rules/common.smk's train_cfg passes the job
        "dataset": config["dataset"], "hidden": model["hidden"], "epochs": model["epochs"],
        "full_covariance": model["full_covariance"], "latent_dim": vae["latent_dim"],
        "batch_size": vae["batch_size"], "learning_rate": vae["learning_rate"],
        "seed": vae["seed"], "eval_seed": vae["eval_seed"],
    }
    settings = TrainSettings.from_config(cfg, name="fullcov")
    assert settings == TrainSettings(hidden=(300, 60, 10), epochs=20, full_covariance=True,
                                     latent_dim=2, batch_size=50, learning_rate=0.001, seed=42,
                                     eval_seed=0, name="fullcov")


@pytest.mark.parametrize("full", [False, True])
def test_training_equals_a_plain_adam_loop(images, full):
    """Same init, order, noise and partial last batch: textbook Adam (not fused) agrees."""
    result = fit(images, full_covariance=full)
    torch.manual_seed(SETTINGS.seed)
    model = VAE(list(SETTINGS.hidden), full_covariance=full)
    optimizer = torch.optim.Adam(model.parameters(), lr=SETTINGS.learning_rate, foreach=False)
    data = torch.from_numpy(images).float()
    losses = []
    for epoch in range(2):
        order, noise = train.epoch_draws(len(data), 2, SETTINGS.seed, epoch)
        total = 0.0
        for start in range(0, len(data), 50):
            x = data[order[start : start + 50]]
            logits, mean, scale = model(x, noise[start : start + 50])
            loss = negative_elbo(logits, x, mean, scale)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(data))
    np.testing.assert_allclose(result.epoch_losses, losses, rtol=1e-5)
    for a, b in zip(result.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_training_is_train_step_over_the_epoch_draws(images):
    """train_vae is train_step over each epoch's batches (bit for bit); the step returns the
    batch's loss before the update."""
    result = fit(images, epochs=1)  # at one thread, denormals flushed
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        torch.manual_seed(SETTINGS.seed)
        model = VAE(list(SETTINGS.hidden))
        optimizer = torch.optim.Adam(model.parameters(), lr=SETTINGS.learning_rate, fused=True)
        data = torch.from_numpy(images)
        order, noise = train.epoch_draws(len(data), 2, SETTINGS.seed, 0)
        x = data[order[:50]].float()
        with torch.no_grad():
            logits, mean, scale = model(x, noise[:50])
            before = negative_elbo(logits, x, mean, scale)
        assert train.train_step(model, optimizer, x, noise[:50]).item() == before.item()
        for start in range(50, len(data), 50):
            train.train_step(model, optimizer, data[order[start:start + 50]].float(),
                             noise[start:start + 50])
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
    assert_same_weights(result.model, model)


def test_epoch_draws_depend_on_seed_and_epoch_only():
    order, noise = train.epoch_draws(100, 2, seed=1, epoch=3)
    again = train.epoch_draws(100, 2, seed=1, epoch=3)
    assert torch.equal(order, again[0]) and torch.equal(noise, again[1])
    assert sorted(order.tolist()) == list(range(100)) and noise.shape == (100, 2)
    for other in (train.epoch_draws(100, 2, 1, 4), train.epoch_draws(100, 2, 2, 3)):
        assert not torch.equal(order, other[0]) and not torch.equal(noise, other[1])


def test_same_seed_same_weights_other_seed_other_weights(images):
    a, b, c = fit(images), fit(images), fit(images, seed=4)
    assert_same_weights(a.model, b.model)
    assert a.epoch_losses == b.epoch_losses
    assert not torch.equal(a.model.encoder[0].weight, c.model.encoder[0].weight)
    assert a.device == "cpu" and a.resumed_from_epoch == 0 and not a.model.training
    assert len(a.epoch_seconds) == 2 and all(s > 0 for s in a.epoch_seconds)


def test_loss_decreases(images):
    losses = fit(images, epochs=3, learning_rate=3e-3).epoch_losses
    assert losses[0] > losses[1] > losses[2]
    assert 100 < losses[-1] < 600  # nats per 784-pixel image, far below 784 log 2 = 543 start


def test_progress_bar_goes_to_the_log(images):
    log = io.StringIO()
    fit(images, log=log)
    text = log.getvalue()
    assert "VAE tiny [20]" in text and "2/2" in text and "loss=" in text


@pytest.mark.parametrize("full", [False, True])
def test_divergence_stops_with_one_message(images, full):
    log = io.StringIO()
    with pytest.raises(DivergenceError) as error:
        fit(images, epochs=3, learning_rate=50.0, full_covariance=full, log=log)
    message = str(error.value)
    assert message.startswith("training of model 'tiny' (seed 3) diverged in epoch 1 of 3")
    assert "vae.learning_rate (now 50" in message and "\n" not in message
    assert isinstance(error.value, PipelineError)  # shown without a traceback


def test_resume_from_checkpoint_in_process(images, tmp_path):
    log = io.StringIO()
    first = fit(images, checkpoint_dir=tmp_path, log=log)
    resumed = fit(images, epochs=4, checkpoint_dir=tmp_path, log=log)
    straight = fit(images, epochs=4)
    assert "resuming from epoch 2" in log.getvalue()
    assert resumed.resumed_from_epoch == 2
    assert_same_weights(resumed.model, straight.model)
    assert resumed.epoch_losses[:2] == first.epoch_losses
    assert resumed.epoch_losses == straight.epoch_losses


def test_checkpoint_for_other_settings_is_ignored(images, tmp_path):
    fit(images, checkpoint_dir=tmp_path)
    log = io.StringIO()
    other = fit(images, checkpoint_dir=tmp_path, log=log, learning_rate=2e-3)
    assert "other settings" in log.getvalue() and other.resumed_from_epoch == 0
    assert_same_weights(other.model, fit(images, learning_rate=2e-3).model)


def test_checkpoint_from_other_thread_count_is_not_resumed(images, tmp_path):
    fit(images, epochs=1, checkpoint_dir=tmp_path, threads=2)
    log = io.StringIO()
    result = fit(images, checkpoint_dir=tmp_path, log=log)
    assert "other settings" in log.getvalue() and result.resumed_from_epoch == 0


def test_corrupt_checkpoint_starts_fresh(images, tmp_path):
    (tmp_path / train.CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 not a checkpoint")
    log = io.StringIO()
    result = fit(images, epochs=1, checkpoint_dir=tmp_path, log=log)
    assert "unreadable" in log.getvalue() and result.resumed_from_epoch == 0
    assert_same_weights(result.model, fit(images, epochs=1).model)


def test_checkpoint_past_requested_epochs_starts_fresh(images, tmp_path):
    fit(images, epochs=3, checkpoint_dir=tmp_path)
    log = io.StringIO()
    result = fit(images, checkpoint_dir=tmp_path, log=log)
    assert "starting fresh" in log.getvalue() and result.resumed_from_epoch == 0
    assert_same_weights(result.model, fit(images).model)


CHILD = """
import sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np
from prml_pipeline.sheet.vae import train

save = train._save_checkpoint
def save_then_linger(*args, **kwargs):  # widen the window between epochs for the kill
    save(*args, **kwargs)
    time.sleep(0.5)
train._save_checkpoint = save_then_linger
settings = replace(train.TrainSettings(**{settings}), epochs=4)
train.train_vae(np.load(sys.argv[1]), settings, threads=1, checkpoint_dir=Path(sys.argv[2]))
print("finished")
"""


def test_resume_after_sigkill_is_bit_identical(images, tmp_path):
    data_path, checkpoints = tmp_path / "images.npy", tmp_path / "ckpt"
    np.save(data_path, images)
    fields = {key: getattr(SETTINGS, key) for key in SETTINGS.__dataclass_fields__}
    script = textwrap.dedent(CHILD).replace("{settings}", repr(fields))
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(data_path), str(checkpoints)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=CHILD_ENV,
    )
    checkpoint = checkpoints / train.CHECKPOINT_NAME
    deadline = time.monotonic() + 60
    epoch = 0
    while epoch < 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
        if checkpoint.is_file():
            epoch = torch.load(checkpoint, weights_only=True)["epoch"]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL and b"finished" not in child.stdout.read()
    killed_at = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 2 <= killed_at < 4

    log = io.StringIO()
    resumed = fit(images, epochs=4, checkpoint_dir=checkpoints, log=log)
    assert f"resuming from epoch {killed_at}" in log.getvalue()
    straight = fit(images, epochs=4)
    assert_same_weights(resumed.model, straight.model)
    assert resumed.epoch_losses == straight.epoch_losses


def test_training_leaves_the_global_rng_alone(images):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(images, epochs=1)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda_and_records_the_device(images):
    result = train.train_vae(images, SETTINGS, device="cuda", progress_file=io.StringIO())
    assert result.device.startswith("cuda:") and len(result.epoch_losses) == 2
    assert next(result.model.parameters()).device.type == "cpu"
