"""Benchmark: the sheet's training loop against :func:`prml_pipeline.train.train_vae`.

``python -m benchmarks.bench`` (from the repository root; ``make bench``) trains each VAE of the
config both ways in one process, on the same data, machine, seed, batch size and number of Adam
steps, one epoch of each path in turn (so that the machine's drift in speed falls on both), and
prints per model: seconds per epoch (median of the timed epochs after one warm-up
epoch, which also absorbs the sheet's ``model.compile()``), the speedup, the test-set negative
ELBO of both after the same number of epochs with their difference and twice its standard
error over the paired test images (a difference within it is the test set's noise), and how
close our epoch comes to this core's matrix-multiply speed: the model's matrix-multiply FLOPs
per epoch over our epoch time, as a fraction of the GFLOP/s that ``torch.mm`` reaches on the
same shapes, measured in the same run. The line before last says whether ours is equal or
better on every model; the last line is ``speedup: min <x>x over sizes``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from benchmarks.sheet_loop import (
    NORMALIZE_MEAN,
    sheet_loader,
    sheet_setup,
    sheet_test_negative_elbo,
    sheet_train_epoch,
)
from prml_pipeline.sheet.data import binarize, md5sum, read_idx
from prml_pipeline.sheet.vae.loss import kl_divergence, log_likelihood
from prml_pipeline.sheet.vae.model import VAE
from prml_pipeline.sheet.vae.train import TrainSettings, train_vae

# The config's models (config/config.yaml, vae.models): hidden sizes and full covariance.
MODELS: dict[str, tuple[list[int], bool]] = {
    "small": ([10], False),
    "medium": ([100, 10], False),
    "large": ([300, 60, 10], False),
    "fullcov": ([300, 60, 10], True),
}
BATCH, LATENT, PIXELS = 50, 2, 784
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
PIPELINE_RAW = Path("results/data/raw")
STANDARD_NAMES = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
PIPELINE_NAMES = ("train_images.gz", "test_images.gz")
QUICK_TRAIN, QUICK_TEST = 2000, 500
# MD5 of known training-image files: the published ones and Debian's recompressed copy.
KNOWN_TRAIN_IMAGES = {
    "f68b3c2dcbeaaa9fbdd348bbdeb94873": "MNIST",
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d": "Fashion-MNIST",
    "cf8536b0aa1a6ac5fa3f23001093305c": "Fashion-MNIST",
}


@dataclass
class PathResult:
    """One training path on one model."""

    epoch_seconds: list[float]  # warm-up epoch first
    test_neg_elbo_per_image: np.ndarray  # single-sample -ELBO of each test image, nats

    @property
    def test_neg_elbo(self) -> float:
        return float(self.test_neg_elbo_per_image.mean())

    @property
    def timed_median(self) -> float:
        return statistics.median(self.epoch_seconds[1:])


def generated_images(n: int, seed: int) -> np.ndarray:
    """Random-structured uint8 images (n, 28, 28): a few soft blobs and strokes per image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    images = np.zeros((n, 28, 28), dtype=np.float32)
    for _ in range(4):
        cy, cx = rng.uniform(6, 22, size=(2, n, 1, 1)).astype(np.float32)
        width = rng.uniform(1.5, 4.0, size=(n, 1, 1)).astype(np.float32)
        images += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return (np.clip(images, 0, 1) * 255).astype(np.uint8)


def load_data(
    kind: str, data_dir: Path | None, seed: int, n_train: int = 60000, n_test: int = 10000
) -> tuple[str, np.ndarray, np.ndarray]:
    """(description, raw uint8 train images, raw uint8 test images), at most n_train / n_test."""
    candidates: list[tuple[str, Path, tuple[str, str]]] = []
    if data_dir is not None:
        names = STANDARD_NAMES if (data_dir / STANDARD_NAMES[0]).is_file() else PIPELINE_NAMES
        candidates.append((f"IDX files in {data_dir}", data_dir, names))
    if kind in ("auto", "mnist"):
        candidates.append((f"the workflow's {PIPELINE_RAW}", PIPELINE_RAW, PIPELINE_NAMES))
    if kind in ("auto", "fashion-mnist"):
        candidates.append(("the Debian package", DEBIAN_FASHION_MNIST, STANDARD_NAMES))
    if kind != "generated":
        for description, folder, (train_name, test_name) in candidates:
            if (folder / train_name).is_file() and (folder / test_name).is_file():
                name = KNOWN_TRAIN_IMAGES.get(md5sum(folder / train_name), "unrecognised data")
                description = f"{name} from {description}"
                train = read_idx(folder / train_name)[:n_train]
                return description, train, read_idx(folder / test_name)[:n_test]
        if kind != "auto":
            tried = ", ".join(str(folder) for _, folder, _ in candidates) or "(none)"
            raise SystemExit(f"no {kind} data found (looked in {tried}); pass --data-dir")
    return "generated", generated_images(n_train, seed), generated_images(n_test, seed + 1)


def matmul_shapes(hidden: list[int], full_covariance: bool) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product in one training step of the VAE, batch ``BATCH``.

    Each affine layer in -> out costs a forward product (B, in) x (in, out), a weight gradient
    (out, B) x (B, in) and, except the first layer (whose input is data), an input gradient
    (B, out) x (out, in).
    """
    scale_size = LATENT * (LATENT + 1) // 2 if full_covariance else LATENT
    layers = list(pairwise([PIXELS, *hidden]))
    layers += [(hidden[-1], LATENT), (hidden[-1], scale_size)]
    layers += list(pairwise([LATENT, *reversed(hidden), PIXELS]))
    shapes = []
    for index, (fan_in, fan_out) in enumerate(layers):
        shapes += [(BATCH, fan_in, fan_out), (fan_out, BATCH, fan_in)]
        if index > 0:
            shapes.append((BATCH, fan_out, fan_in))
    return shapes


def mm_seconds(m: int, k: int, n: int, device: str, min_time: float = 0.05) -> float:
    """Best seconds of one ``torch.mm`` of (m, k) x (k, n) float32 on ``device``."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    out = torch.empty(m, n, device=device)

    def timed(reps: int) -> float:
        began = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - began

    reps = 1
    while (elapsed := timed(reps)) < min_time:
        reps *= 4
    return min(elapsed, timed(reps), timed(reps)) / reps


def matmul_floor(
    hidden: list[int], full_covariance: bool, steps: int, device: str
) -> tuple[float, float]:
    """(FLOPs, seconds) of an epoch's matrix products run as bare ``torch.mm`` calls."""
    shapes = matmul_shapes(hidden, full_covariance)
    timing = {shape: mm_seconds(*shape, device) for shape in set(shapes)}
    flops = sum(2 * m * k * n for m, k, n in shapes)
    return steps * flops, steps * sum(timing[shape] for shape in shapes)


def run_both(
    train_raw: np.ndarray,
    train_bin: np.ndarray,
    test_bin: np.ndarray,
    hidden: list[int],
    full_covariance: bool,
    epochs: int,
    seed: int,
    device: str,
) -> tuple[PathResult, PathResult]:
    """(sheet, ours): both paths trained side by side, one epoch of each in turn.

    The sheet's loop is its per-sample transforms, DataLoader, compiled LazyLinear VAE and Adam;
    ours is :func:`train_vae` with the sheet's settings (batch 50, Adam lr 1e-3), called once per
    epoch and resuming from its checkpoint (bit-identical to one uninterrupted call). Which path
    goes first alternates from epoch to epoch, so that a drift in the machine's speed falls on
    both alike instead of on whichever ran later.
    """
    loader = sheet_loader(train_raw)
    sheet_model, sheet_optimizer = sheet_setup(
        loader, hidden, seed=seed, multivariate=full_covariance, device=device
    )
    settings = TrainSettings(
        hidden=tuple(hidden), epochs=epochs, full_covariance=full_covariance, seed=seed
    )
    sheet_seconds: list[float] = []
    ours = None
    with tempfile.TemporaryDirectory() as checkpoints, open(os.devnull, "w") as devnull:

        def sheet_epoch(epoch: int) -> None:
            began = time.perf_counter()
            sheet_train_epoch(sheet_model, sheet_optimizer, loader, epoch, device=device)
            sheet_seconds.append(time.perf_counter() - began)

        def our_epoch(epoch: int) -> None:
            nonlocal ours
            ours = train_vae(train_bin, replace(settings, epochs=epoch + 1), device=device,
                             checkpoint_dir=Path(checkpoints), progress_file=devnull)

        for epoch in range(epochs):
            for run in (sheet_epoch, our_epoch) if epoch % 2 == 0 else (our_epoch, sheet_epoch):
                run(epoch)
    assert ours is not None
    sheet_scores = sheet_test_negative_elbo(sheet_model.cpu(), test_bin, 1000, seed)
    return (
        PathResult(sheet_seconds, sheet_scores),
        PathResult(ours.epoch_seconds, negative_elbo_per_image(ours.model, test_bin, seed)),
    )


def negative_elbo_per_image(model: VAE, images: np.ndarray, seed: int) -> np.ndarray:
    """Single-sample -ELBO in nats of each image, with the noise of ``mean_negative_elbo``."""
    generator = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), -1))
    per_image = []
    with torch.no_grad():
        for x in torch.split(data, 1000):
            logits, mean, scale = model(x, torch.randn(len(x), model.latent_dim,
                                                       generator=generator))
            per_image.append((kl_divergence(mean, scale) - log_likelihood(logits, x)).double())
    return torch.cat(per_image).numpy()


def paired_difference(ours: PathResult, sheet: PathResult) -> tuple[float, float]:
    """Mean difference ours - sheet of the per-image -ELBO and twice its standard error: the
    test set's own noise, within which the two are equal."""
    difference = ours.test_neg_elbo_per_image - sheet.test_neg_elbo_per_image
    return float(difference.mean()), float(2 * difference.std(ddof=1) / np.sqrt(len(difference)))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both benchmarks take: --models, --data, --threads, --device."""
    parser.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated models of the config"
    )
    parser.add_argument(
        "--data", choices=("auto", "fashion-mnist", "mnist", "generated"), default="auto"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1, as each training job gets in the workflow)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")


def chosen_models(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The models of --models, after checking them and --device (parser.error otherwise)."""
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in MODELS]
    if unknown or not models:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")
    return models


HEADER = (
    f"{'model':8} {'hidden':13} {'sheet s/ep':>10} {'ours s/ep':>9} {'speedup':>7} "
    f"{'sheet -ELBO':>11} {'ours -ELBO':>10} {'diff':>6} {'2 SE':>5} {'ours GFLOP/s':>12} "
    f"{'mm GFLOP/s':>10} {'of mm':>5}"
)
LEGEND = (
    "(s/ep: median seconds per timed epoch; -ELBO: test-set negative ELBO, nats per image; "
    "diff: ours - sheet, per image, with 2 SE its test-set standard error (paired over "
    "images) twice; GFLOP/s: matrix-multiply FLOPs per epoch over the epoch time (ours) or "
    "over the time of the same products as bare torch.mm calls on this core (mm); of mm: "
    "their ratio)"
)


def parse_arguments(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after 1 warm-up")
    add_common_arguments(parser)
    parser.add_argument("--data-dir", type=Path, help="folder with the IDX .gz files")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_TRAIN} training / {QUICK_TEST} test images"
    )
    args = parser.parse_args(argv)
    models = chosen_models(parser, args)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args, models


def compare_model(name: str, data: tuple[np.ndarray, np.ndarray, np.ndarray], steps: int,
                  args: argparse.Namespace) -> tuple[str, float, bool]:
    """One model's row: both loops in turns; returns (row, speedup, ours not worse)."""
    train_raw, train_bin, test_bin = data
    hidden, full = MODELS[name]
    print(f"{name}: the sheet's loop and ours, one epoch of each in turn ...", flush=True)
    sheet, ours = run_both(train_raw, train_bin, test_bin, hidden, full, 1 + args.epochs,
                           args.seed, args.device)
    speedup = sheet.timed_median / ours.timed_median
    flops, floor = matmul_floor(hidden, full, steps, args.device)
    difference, noise = paired_difference(ours, sheet)
    row = (
        f"{name:8} {str(hidden):13} {sheet.timed_median:10.2f} {ours.timed_median:9.2f} "
        f"{speedup:6.1f}x {sheet.test_neg_elbo:11.2f} {ours.test_neg_elbo:10.2f} "
        f"{difference:+6.2f} {noise:5.2f} "
        f"{flops / ours.timed_median / 1e9:12.1f} {flops / floor / 1e9:10.1f} "
        f"{floor / ours.timed_median:5.0%}"
    )
    print(
        f"{name}: epoch seconds sheet {[round(t, 2) for t in sheet.epoch_seconds]}, "
        f"ours {[round(t, 3) for t in ours.epoch_seconds]}",
        flush=True,
    )
    return row, speedup, difference <= noise


def main(argv: list[str] | None = None) -> float:
    args, models = parse_arguments(argv)
    torch.set_num_threads(args.threads)
    counts = (QUICK_TRAIN, QUICK_TEST) if args.quick else (60000, 10000)
    description, train_raw, test_raw = load_data(args.data, args.data_dir, args.seed, *counts)
    data = (train_raw, binarize(train_raw, NORMALIZE_MEAN), binarize(test_raw, NORMALIZE_MEAN))
    steps = -(-len(data[1]) // BATCH)
    print(
        f"data: {description}, {len(data[1])} train / {len(data[2])} test images; "
        f"device {args.device}, {torch.get_num_threads()} thread(s); batch {BATCH}, "
        f"{steps} Adam steps per epoch; median of {args.epochs} epoch(s) after 1 warm-up",
        flush=True,
    )
    results = [compare_model(name, data, steps, args) for name in models]
    print(HEADER)
    for row, _, _ in results:
        print(row)
    print(LEGEND)
    worse = [name for name, (_, _, ok) in zip(models, results, strict=True) if not ok]
    print("-ELBO: ours equal or better on every model (diff below 2 SE)" if not worse else
          f"-ELBO: ours worse beyond 2 SE on {', '.join(worse)}")
    speedups = [speedup for _, speedup, _ in results]
    print(f"speedup: min {min(speedups):.1f}x over sizes")
    return min(speedups)


if __name__ == "__main__":
    main(sys.argv[1:])
