"""Fast VAE training: exact gradients, determinism, resume after SIGKILL, artifacts, benchmark."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from prml_pipeline import train
from prml_pipeline.bench import generated_images
from prml_pipeline.data import binarize
from prml_pipeline.sheet_loop import SheetImages
from prml_pipeline.vae import VAE, negative_elbo

SETTINGS = dict(
    hidden=[20], full_covariance=False, batch_size=50, learning_rate=1e-3, seed=3, threads=1
)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """510 binarized structured images: 10 full batches of 50 and a partial one of 10."""
    return binarize(generated_images(510, seed=0), 0.1307)


def fit(images, epochs=2, **overrides):
    kwargs = {**SETTINGS, **overrides}
    return train.train_vae(images, epochs=epochs, progress_file=io.StringIO(), **kwargs)


def assert_same_weights(a: VAE, b: VAE) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize(
    "hidden,full", [([10], False), ([30, 7], False), ([10], True), ([30, 7], True)]
)
def test_hand_written_gradients_equal_autograd(hidden, full):
    torch.manual_seed(0)
    model = VAE(hidden, full_covariance=full)
    reference = VAE(hidden, full_covariance=full)
    reference.load_state_dict(model.state_dict())
    trainer = train._FlatAdamTrainer(model, 1e-3, torch.device("cpu"))
    x = (torch.rand(13, 784) > 0.6).to(torch.uint8)
    noise = torch.randn(13, 2)

    loss = negative_elbo(reference, x, noise=noise)
    loss.backward()
    trainer.forward_backward(x, noise)

    assert trainer.epoch_loss_sum(13) == pytest.approx(loss.item(), rel=1e-5)
    # The model's parameters are views of the flat buffer; the gradients sit at the same offsets.
    for (name, param), ref in zip(model.named_parameters(), reference.parameters(), strict=True):
        offset = (param.data_ptr() - trainer.params.data_ptr()) // param.element_size()
        grad = trainer.grads[offset : offset + param.numel()].view_as(param)
        torch.testing.assert_close(grad, ref.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_flat_adam_is_torch_adam():
    torch.manual_seed(1)
    model = VAE([12])
    reference = VAE([12])
    reference.load_state_dict(model.state_dict())
    trainer = train._FlatAdamTrainer(model, 1e-2, torch.device("cpu"))
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2, fused=True)
    for step in range(3):
        x = (torch.rand(20, 784, generator=torch.Generator().manual_seed(step)) > 0.5).float()
        noise = torch.randn(20, 2, generator=torch.Generator().manual_seed(100 + step))
        trainer.step(x.to(torch.uint8), noise)
        optimizer.zero_grad()
        negative_elbo(reference, x, noise=noise).backward()
        optimizer.step()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("full", [False, True])
def test_training_equals_autograd_reference_loop(images, full):
    """Same init, order, noise and partial last batch: a plain autograd + Adam loop agrees."""
    result = fit(images, epochs=2, full_covariance=full)
    torch.manual_seed(SETTINGS["seed"])
    model = VAE(SETTINGS["hidden"], full_covariance=full)
    optimizer = torch.optim.Adam(model.parameters(), lr=SETTINGS["learning_rate"])
    noise_rng = torch.Generator().manual_seed(
        train._derived_seed(SETTINGS["seed"], train._NOISE_STREAM)
    )
    data = torch.from_numpy(images).float()
    losses = []
    for epoch in range(2):
        order = train._epoch_order(len(data), SETTINGS["seed"], epoch)
        x_all, noise = data[order], torch.randn(len(data), 2, generator=noise_rng)
        total = 0.0
        for start in range(0, len(data), 50):
            loss = negative_elbo(model, x_all[start : start + 50], noise[start : start + 50])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(data))
    np.testing.assert_allclose(result.epoch_losses, losses, rtol=1e-5)
    for a, b in zip(result.model.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_same_seed_same_weights_other_seed_other_weights(images):
    a, b, c = fit(images), fit(images), fit(images, seed=4)
    assert_same_weights(a.model, b.model)
    assert a.epoch_losses == b.epoch_losses
    assert not torch.equal(a.model.encoder[0].weight, c.model.encoder[0].weight)
    assert a.device == "cpu" and a.resumed_from_epoch == 0
    assert len(a.epoch_seconds) == 2 and all(s > 0 for s in a.epoch_seconds)


def test_loss_decreases(images):
    losses = fit(images, epochs=3, learning_rate=3e-3).epoch_losses
    assert losses[0] > losses[1] > losses[2]
    assert 100 < losses[-1] < 600  # nats per 784-pixel image, far below 784 log 2 = 543 start


def test_resume_from_checkpoint_in_process(images, tmp_path):
    log = io.StringIO()
    first = train.train_vae(
        images, epochs=2, checkpoint_dir=tmp_path, progress_file=log, **SETTINGS
    )
    resumed = train.train_vae(
        images, epochs=4, checkpoint_dir=tmp_path, progress_file=log, **SETTINGS
    )
    straight = fit(images, epochs=4)
    assert "resuming from epoch 2" in log.getvalue()
    assert resumed.resumed_from_epoch == 2
    assert_same_weights(resumed.model, straight.model)
    assert resumed.epoch_losses[:2] == first.epoch_losses
    assert resumed.epoch_losses == straight.epoch_losses


def test_checkpoint_for_other_settings_is_ignored(images, tmp_path):
    fit(images, epochs=2, checkpoint_dir=tmp_path)
    log = io.StringIO()
    other = train.train_vae(
        images,
        epochs=2,
        checkpoint_dir=tmp_path,
        progress_file=log,
        **{**SETTINGS, "learning_rate": 2e-3},
    )
    assert "other settings" in log.getvalue() and other.resumed_from_epoch == 0
    assert_same_weights(other.model, fit(images, epochs=2, learning_rate=2e-3).model)


def test_corrupt_checkpoint_starts_fresh(images, tmp_path):
    (tmp_path / train.CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 not a checkpoint")
    log = io.StringIO()
    result = train.train_vae(
        images, epochs=1, checkpoint_dir=tmp_path, progress_file=log, **SETTINGS
    )
    assert "unreadable" in log.getvalue() and result.resumed_from_epoch == 0
    assert_same_weights(result.model, fit(images, epochs=1).model)


CHILD = """
import sys, time
from pathlib import Path
import numpy as np
from prml_pipeline import train

save = train._save_checkpoint
def save_then_linger(*args, **kwargs):  # widen the window between epochs for the kill
    save(*args, **kwargs)
    time.sleep(0.5)
train._save_checkpoint = save_then_linger
train.train_vae(np.load(sys.argv[1]), epochs=4, checkpoint_dir=Path(sys.argv[2]), **{settings})
print("finished")
"""


def test_resume_after_sigkill_is_bit_identical(images, tmp_path):
    data_path, checkpoints = tmp_path / "images.npy", tmp_path / "ckpt"
    np.save(data_path, images)
    script = textwrap.dedent(CHILD).replace("{settings}", repr(SETTINGS))
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(data_path), str(checkpoints)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
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
    resumed = train.train_vae(
        images, epochs=4, checkpoint_dir=checkpoints, progress_file=log, **SETTINGS
    )
    assert f"resuming from epoch {killed_at}" in log.getvalue()
    straight = fit(images, epochs=4)
    assert_same_weights(resumed.model, straight.model)
    assert resumed.epoch_losses == straight.epoch_losses


def test_checkpoint_past_requested_epochs_starts_fresh(images, tmp_path):
    fit(images, epochs=3, checkpoint_dir=tmp_path)
    log = io.StringIO()
    result = train.train_vae(
        images, epochs=2, checkpoint_dir=tmp_path, progress_file=log, **SETTINGS
    )
    assert "starting fresh" in log.getvalue() and result.resumed_from_epoch == 0
    assert_same_weights(result.model, fit(images, epochs=2).model)


SAVE = """
import sys, torch
from prml_pipeline.train import save_weights
from prml_pipeline.vae import VAE
torch.manual_seed(7)
save_weights(VAE([16, 8], full_covariance=True), sys.argv[1])
"""


def test_save_weights_bytes_are_deterministic_across_processes(tmp_path):
    paths = [tmp_path / "a.pt", tmp_path / "nested" / "b.pt"]
    for path in paths:
        subprocess.run([sys.executable, "-c", SAVE, str(path)], check=True)
    torch.manual_seed(7)
    model = VAE([16, 8], full_covariance=True)
    train.save_weights(model, tmp_path / "c.pt")
    blobs = {p.read_bytes() for p in [*paths, tmp_path / "c.pt"]}
    assert len(blobs) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "c.pt", "nested"]  # no temps
    loaded = train.load_model(paths[1], [16, 8], full_covariance=True)
    assert_same_weights(loaded, model)
    assert not loaded.training


def test_trained_weights_round_trip(images, tmp_path):
    model = fit(images, epochs=1).model
    train.save_weights(model, tmp_path / "w.pt")
    assert_same_weights(train.load_model(tmp_path / "w.pt", SETTINGS["hidden"], False), model)


@pytest.mark.parametrize("cut", [0, 10, 0.5])
def test_load_model_rejects_truncated_file(tmp_path, cut):
    path = tmp_path / "weights.pt"
    train.save_weights(VAE([8]), path)
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * cut) if isinstance(cut, float) else cut])
    with pytest.raises(ValueError, match="weights.pt") as err:
        train.load_model(path, [8], full_covariance=False)
    assert "--forcerun train_vae" in str(err.value)


def test_load_model_rejects_other_architecture(tmp_path):
    path = tmp_path / "weights.pt"
    train.save_weights(VAE([8]), path)
    with pytest.raises(ValueError, match="hidden=\\[9\\]"):
        train.load_model(path, [9], full_covariance=False)


def test_test_negative_elbo_is_deterministic_in_seed(images):
    model = fit(images, epochs=1).model
    a = train.test_negative_elbo(model, images[:120], batch_size=50, seed=0)
    b = train.test_negative_elbo(model, images[:120], batch_size=50, seed=0)
    c = train.test_negative_elbo(model, images[:120], batch_size=50, seed=1)
    assert a == b != c
    generator = torch.Generator().manual_seed(0)
    expected = sum(
        negative_elbo(
            model,
            torch.from_numpy(images[start : min(start + 50, 120)]),
            noise=torch.randn(min(50, 120 - start), 2, generator=generator),
        ).item()
        for start in range(0, 120, 50)
    )
    assert a == pytest.approx(expected / 120, rel=1e-6)


def test_latent_means_and_decode_grid(images):
    model = fit(images, epochs=1).model
    means = train.latent_means(model, images[:25], batch_size=10)
    assert means.shape == (25, 2) and means.dtype == np.float32
    np.testing.assert_allclose(
        means, model.encode(torch.from_numpy(images[:25]).float())[0].detach().numpy(), rtol=1e-6
    )
    grid = train.decode_grid(model, grid_size=3, quantile_low=0.1, quantile_high=0.9)
    assert grid.shape == (9, 28, 28) and grid.min() >= 0 and grid.max() <= 1
    lo, hi = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.1, 0.9])).tolist()
    # The sheet's ordering: row-major, z1 increasing along a row, z2 decreasing down rows.
    for index, z in [(0, [lo, hi]), (2, [hi, hi]), (4, [0.0, 0.0]), (6, [lo, lo]), (8, [hi, lo])]:
        expected = model.decode(torch.tensor([z])).reshape(28, 28).detach().numpy()
        np.testing.assert_allclose(grid[index], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_bench_quick_smoke():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "prml_pipeline.bench",
            "--quick",
            "--epochs",
            "1",
            "--sizes",
            "small",
            "--data",
            "generated",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("speedup: min ") and lines[-1].endswith("x over sizes")
    assert float(lines[-1].split()[2].rstrip("x")) > 1
    assert any(line.startswith("small ") for line in lines)


def test_checkpoint_from_other_thread_count_is_not_resumed(images, tmp_path):
    fit(images, epochs=1, checkpoint_dir=tmp_path, threads=2)
    log = io.StringIO()
    result = train.train_vae(
        images, epochs=2, checkpoint_dir=tmp_path, progress_file=log, **SETTINGS
    )
    assert "other settings" in log.getvalue() and result.resumed_from_epoch == 0


def test_training_and_loading_leave_the_global_rng_alone(images, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    result = fit(images, epochs=1)
    train.save_weights(result.model, tmp_path / "w.pt")
    train.load_model(tmp_path / "w.pt", SETTINGS["hidden"], full_covariance=False)
    assert torch.equal(torch.rand(3), expected)


def test_sheet_transform_is_the_pixel_threshold():
    """The baseline's per-sample transform yields exactly the binarized images we train on."""
    raw = generated_images(40, seed=5)
    raw[0, 0, :3] = [33, 34, 35]  # around the threshold: 33/255 < 0.1307 < 34/255
    dataset = SheetImages(raw)
    sheet = torch.stack([dataset[i][0] for i in range(len(dataset))])
    assert sheet.shape == (40, 1, 28, 28) and sheet.dtype == torch.float32
    np.testing.assert_array_equal(sheet.reshape(40, 784).numpy(), binarize(raw, 0.1307))
    assert sheet[0, 0, 0, :3].tolist() == [0.0, 1.0, 1.0]
