"""Does ``torch.compile`` pay for the training step? The eager model against the compiled one.

``python -m benchmarks.compiled`` (``make bench-compile``) times the training step,
:func:`prml_pipeline.train.train_step` (forward, negative ELBO, backward, fused Adam), for each
model of the config twice over: with the model as it is, and with the model wrapped in
``torch.compile`` (``mode="reduce-overhead"`` on CUDA, which also captures CUDA graphs; the
default mode on the CPU). Both start from the same weights; after the warm-up steps (the eager
model takes them twice, to time them warm) they take the same batches in turns of ``--steps``
steps, so that a drift in the machine's speed falls on both. It prints per model
the seconds per epoch of both, the compile time (the compiled model's first steps less as many
eager ones), and the number of epochs after which compiling has paid for itself; the
workflow's training jobs run 10 or 20 epochs.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch

from benchmarks.bench import (
    BATCH,
    LATENT,
    MODELS,
    add_common_arguments,
    chosen_models,
    load_data,
)
from benchmarks.sheet_loop import NORMALIZE_MEAN
from prml_pipeline.sheet.data import binarize
from prml_pipeline.sheet.vae.model import VAE
from prml_pipeline.sheet.vae.train import train_step

WARMUP_STEPS = 3  # CUDA graphs are recorded on the compiled model's second or third call


def compile_mode(device: str) -> str:
    """CUDA graphs on the GPU; on the CPU torch.compile's default mode."""
    return "reduce-overhead" if device == "cuda" else "default"


def timed_steps(model, optimizer, data, noise, first: int, count: int, device: str) -> float:
    """Seconds of ``count`` training steps on the batches from ``first`` on (wrapping around)."""
    n_batches = len(data) // BATCH
    began = time.perf_counter()
    for index in range(first, first + count):
        start = index % n_batches * BATCH
        x = data[start:start + BATCH].float()  # uint8 0/1 pixels, as in train_vae
        train_step(model, optimizer, x, noise[start:start + BATCH])
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - began


def measure(
    hidden: list[int], full_covariance: bool, data: torch.Tensor, noise: torch.Tensor,
    device: str, steps: int, turns: int,
) -> tuple[float, float, float]:
    """(eager s/epoch, compiled s/epoch, compile seconds) for one model."""
    torch.manual_seed(0)
    eager = VAE(hidden, LATENT, data.shape[1], full_covariance).to(device).train()
    compiled_weights = copy.deepcopy(eager)
    compiled = torch.compile(compiled_weights, mode=compile_mode(device))
    optimizers = {
        name: torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        for name, model in (("eager", eager), ("compiled", compiled_weights))
    }
    eager_warmup = timed_steps(eager, optimizers["eager"], data, noise, 0, WARMUP_STEPS, device)
    eager_warmup = min(eager_warmup, timed_steps(eager, optimizers["eager"], data, noise, 0,
                                                 WARMUP_STEPS, device))
    first_steps = timed_steps(compiled, optimizers["compiled"], data, noise, 0, WARMUP_STEPS,
                              device)
    seconds: dict[str, list[float]] = {"eager": [], "compiled": []}
    for turn in range(turns):
        order = ("eager", "compiled") if turn % 2 == 0 else ("compiled", "eager")
        for name in order:
            model = eager if name == "eager" else compiled
            seconds[name].append(timed_steps(model, optimizers[name], data, noise,
                                             WARMUP_STEPS + turn * steps, steps, device))
    per_epoch = len(data) // BATCH / steps
    return (
        statistics.median(seconds["eager"]) * per_epoch,
        statistics.median(seconds["compiled"]) * per_epoch,
        max(first_steps - eager_warmup, 0.0),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compiled", description=__doc__.splitlines()[0]
    )
    add_common_arguments(parser)
    parser.add_argument("--steps", type=int, default=100, help="steps per turn")
    parser.add_argument("--turns", type=int, default=8, help="turns of each (median taken)")
    args = parser.parse_args(argv)
    models = chosen_models(parser, args)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as train_vae does
    description, train_raw, _ = load_data(args.data, None, seed=42, n_train=60000, n_test=1)
    data = torch.from_numpy(binarize(train_raw, NORMALIZE_MEAN).reshape(len(train_raw), -1))
    data = data.to(args.device)
    noise = torch.randn(len(data), LATENT, generator=torch.Generator().manual_seed(0))
    noise = noise.to(args.device)
    print(f"data: {description}, {len(data)} images; device {args.device}, "
          f"{torch.get_num_threads()} thread(s); torch.compile mode "
          f"{compile_mode(args.device)}; median of "
          f"{args.turns} turns of {args.steps} steps", flush=True)
    rows = []
    for name in models:
        hidden, full = MODELS[name]
        eager, compiled, compile_seconds = measure(hidden, full, data, noise, args.device,
                                                   args.steps, args.turns)
        saving = eager - compiled
        pays = f"{compile_seconds / saving:.0f}" if saving > 0 else "never"
        rows.append(f"{name:8} {str(hidden):13} {eager:9.2f} {compiled:12.2f} "
                    f"{eager / compiled:6.2f}x {compile_seconds:10.1f} {pays:>15}")
        print(f"{name}: done", flush=True)
    print(f"{'model':8} {'hidden':13} {'eager s/ep':>9} {'compiled s/ep':>12} {'ratio':>7} "
          f"{'compile s':>10} {'pays after ep':>15}")
    for row in rows:
        print(row)
    print(f"(s/ep: seconds per epoch of {len(data) // BATCH} steps, median over the turns; "
          "compile s: the "
          "compiled model's first steps less as many eager ones, shorter when torch's on-disk "
          "compile cache holds the graphs from an earlier run; pays after ep: compile s over the "
          "seconds an epoch saves)")


if __name__ == "__main__":
    main(sys.argv[1:])
