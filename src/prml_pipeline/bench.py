"""Benchmark: the sheet's training loop against :func:`prml_pipeline.train.train_vae`.

``python -m prml_pipeline.bench`` trains each VAE size both ways in one process, on the same
data, machine, seed, batch size and number of Adam steps, and prints per-epoch seconds (median
of the timed epochs after one warm-up epoch, which also absorbs the sheet's ``model.compile()``),
peak memory and the test-set negative ELBO after the same number of epochs. The last line is
``speedup: min <x>x over sizes``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from prml_pipeline.data import binarize, md5sum, read_idx
from prml_pipeline.sheet_loop import (
    NORMALIZE_MEAN,
    sheet_loader,
    sheet_setup,
    sheet_test_negative_elbo,
    sheet_train_epoch,
)
from prml_pipeline.train import test_negative_elbo, train_vae

SIZES: dict[str, list[int]] = {"small": [10], "medium": [100, 10], "large": [300, 60, 10]}
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
    """One training path on one size."""

    epoch_seconds: list[float]  # warm-up epoch first
    peak_rss_mb: float
    peak_cuda_mb: float | None
    test_neg_elbo: float

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


def _reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets the VmHWM peak, so each path reports its own peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _measured(device: str, run: Callable[[], tuple[list[float], float]]) -> PathResult:
    _reset_peak_rss()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds, neg_elbo = run()
    cuda_mb = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    return PathResult(seconds, _peak_rss_mb(), cuda_mb, neg_elbo)


def run_sheet(
    train_raw: np.ndarray,
    test_bin: np.ndarray,
    hidden: list[int],
    epochs: int,
    seed: int,
    device: str,
) -> PathResult:
    """The sheet's loop: per-sample transforms, DataLoader, compiled LazyLinear VAE, Adam."""

    def run() -> tuple[list[float], float]:
        loader = sheet_loader(train_raw)
        model, optimizer = sheet_setup(loader, hidden, seed=seed, device=device)
        seconds = []
        for epoch in range(epochs):
            began = time.perf_counter()
            sheet_train_epoch(model, optimizer, loader, epoch, device=device)
            seconds.append(time.perf_counter() - began)
        return seconds, sheet_test_negative_elbo(model.cpu(), test_bin, 1000, seed)

    return _measured(device, run)


def run_ours(
    train_bin: np.ndarray,
    test_bin: np.ndarray,
    hidden: list[int],
    epochs: int,
    seed: int,
    device: str,
) -> PathResult:
    """:func:`train_vae` with the sheet's settings (batch 50, Adam lr 1e-3)."""

    def run() -> tuple[list[float], float]:
        with open(os.devnull, "w") as devnull:  # the table is the output
            result = train_vae(
                train_bin,
                hidden=hidden,
                full_covariance=False,
                epochs=epochs,
                batch_size=50,
                learning_rate=1e-3,
                seed=seed,
                device=device,
                progress_file=devnull,
            )
        return result.epoch_seconds, test_negative_elbo(result.model, test_bin, 1000, seed)

    return _measured(device, run)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(
        prog="python -m prml_pipeline.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after 1 warm-up")
    parser.add_argument("--sizes", default="small,medium,large", help="comma-separated sizes")
    parser.add_argument(
        "--data", choices=("auto", "fashion-mnist", "mnist", "generated"), default="auto"
    )
    parser.add_argument("--data-dir", type=Path, help="folder with the IDX .gz files")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for both paths (default 1, as each training job gets in the workflow)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_TRAIN} training / {QUICK_TEST} test images"
    )
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
        parser.error(f"unknown sizes {unknown}; choose from {sorted(SIZES)}")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device available")

    torch.set_num_threads(args.threads)
    counts = (QUICK_TRAIN, QUICK_TEST) if args.quick else (60000, 10000)
    description, train_raw, test_raw = load_data(args.data, args.data_dir, args.seed, *counts)
    train_bin = binarize(train_raw, NORMALIZE_MEAN)
    test_bin = binarize(test_raw, NORMALIZE_MEAN)
    steps = -(-len(train_bin) // 50)
    total_epochs = 1 + args.epochs
    print(
        f"data: {description}, {len(train_bin)} train / {len(test_bin)} test images; "
        f"device {args.device}, {torch.get_num_threads()} thread(s); batch 50, "
        f"{steps} Adam steps per epoch; median of {args.epochs} epoch(s) after 1 warm-up",
        flush=True,
    )
    header = (
        f"{'size':7} {'hidden':13} {'sheet s/ep':>10} {'ours s/ep':>10} {'speedup':>8} "
        f"{'sheet 1st':>10} {'ours 1st':>9} {'sheet MB':>9} {'ours MB':>8} "
        f"{'sheet -ELBO':>11} {'ours -ELBO':>10}"
    )
    if args.device == "cuda":
        header += f" {'sheet GPU MB':>12} {'ours GPU MB':>11}"
    rows, speedups = [], []
    for size in sizes:
        hidden = SIZES[size]
        print(f"{size}: sheet loop ...", flush=True)
        sheet = run_sheet(train_raw, test_bin, hidden, total_epochs, args.seed, args.device)
        print(f"{size}: ours ...", flush=True)
        ours = run_ours(train_bin, test_bin, hidden, total_epochs, args.seed, args.device)
        speedup = sheet.timed_median / ours.timed_median
        speedups.append(speedup)
        row = (
            f"{size:7} {str(hidden):13} {sheet.timed_median:10.3f} {ours.timed_median:10.3f} "
            f"{speedup:7.1f}x {sheet.epoch_seconds[0]:10.2f} {ours.epoch_seconds[0]:9.2f} "
            f"{sheet.peak_rss_mb:9.0f} {ours.peak_rss_mb:8.0f} "
            f"{sheet.test_neg_elbo:11.2f} {ours.test_neg_elbo:10.2f}"
        )
        if args.device == "cuda":
            row += f" {sheet.peak_cuda_mb:12.0f} {ours.peak_cuda_mb:11.0f}"
        rows.append(row)
        print(
            f"{size}: epoch seconds sheet {[round(t, 2) for t in sheet.epoch_seconds]}, "
            f"ours {[round(t, 3) for t in ours.epoch_seconds]}",
            flush=True,
        )
    print(header)
    for row in rows:
        print(row)
    print(
        "(s/ep: median seconds per timed epoch; 1st: warm-up epoch incl. compilation; "
        "MB: peak RSS; -ELBO: test-set negative ELBO, nats per image)"
    )
    print(f"speedup: min {min(speedups):.1f}x over sizes")
    return min(speedups)


if __name__ == "__main__":
    main(sys.argv[1:])
