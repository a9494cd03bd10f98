"""Figures are valid, non-blank PNGs with vector PDF and SVG beside them, oriented as the
sheet, byte-identical across processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from prml_pipeline.figures import (
    _panels,
    markov_blanket,
    mixture_conditionals,
    mixture_samples,
    regression,
    style,
    vae_fullcov,
    vae_grids,
    vae_latents,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DPI = 60  # small files keep the suite fast; layout does not depend on dpi


def read_png(path: Path, min_size: tuple[int, int]) -> np.ndarray:
    """Check the PNG signature, a plausible size, that it is not one flat colour and that it
    is drawn at printed size: at most the report's text width wide, so that its fonts are the
    point sizes the style sets."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert height >= min_size[0] and width >= min_size[1], pixels.shape
    assert width <= style.PAGE_WIDTH * DPI + 1, f"{path.name} is wider than the page"
    colours = np.unique(pixels[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 10, f"{path.name} looks blank ({len(colours)} colours)"
    return pixels


def regression_experiment(title: str, n: int = 41) -> dict:
    axis = np.linspace(-3, 3, n)
    theta0, theta1 = np.meshgrid(axis, axis, indexing="ij")
    return {
        "title": title,
        "axis": axis,
        "log_posterior": -((theta0 + 1) ** 2 + (theta1 - 1) ** 2) * 4 + 1.5,
        "predictive_variance": 0.1 + 0.05 * (theta0**2 + theta1**2),
        "post_mean": np.array([-1.0, 1.0]),
        "post_cov": np.array([[0.01, -0.004], [-0.004, 0.02]]),
    }


def latent_panel(title: str, n: int = 200, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    centres = np.stack([np.cos(np.arange(10)), np.sin(np.arange(10))], axis=1) * 1.5
    return {"title": title, "latents": centres[labels] + rng.normal(0, 0.4, (n, 2)),
            "labels": labels}


def digit_grid(grid_size: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[0:28, 0:28]
    radii = np.linspace(3, 10, grid_size * grid_size)
    return np.stack([np.exp(-((np.hypot(xx - 14, yy - 14) - r) ** 2) / 4) for r in radii])


def test_markov_blanket_png(tmp_path: Path) -> None:
    markov_blanket.plot_markov_blanket(tmp_path / "fig1.png", DPI)
    read_png(tmp_path / "fig1.png", (150, 250))


def test_regression_png_and_orientation(tmp_path: Path) -> None:
    # Log posterior at the upper limit only where theta_0 > 0 and theta_1 < 0: with theta_0 on
    # the y axis (growing upwards) and theta_1 on x, the yellow block must sit top-left.
    exp = regression_experiment("Base")
    theta0, theta1 = np.meshgrid(exp["axis"], exp["axis"], indexing="ij")
    exp["log_posterior"] = np.where((theta0 > 0) & (theta1 < 0), 5.0, -5.0)
    regression.plot_regression([exp], tmp_path / "fig3.png", DPI)
    pixels = read_png(tmp_path / "fig3.png", (120, 300))[..., :3]
    left = pixels[:, : pixels.shape[1] // 3]  # the sheet's view (the close-up is beside it)
    # filled contours: the top and bottom bands, near the colour map's ends
    yellow = np.argwhere(np.all(np.abs(left - plt.get_cmap("viridis")(1.0)[:3]) < 0.1, axis=-1))
    purple = np.argwhere(np.all(np.abs(left - plt.get_cmap("viridis")(0.0)[:3]) < 0.1, axis=-1))
    assert len(yellow) > 100 and len(purple) > 300
    assert yellow[:, 0].mean() < purple[:, 0].mean()  # higher up (smaller row index)
    assert yellow[:, 1].mean() < purple[:, 1].mean()  # further left


def test_regression_rejects_grid_of_wrong_shape(tmp_path: Path) -> None:
    exp = regression_experiment("Base")
    exp["predictive_variance"] = exp["predictive_variance"][:, :-1]
    with pytest.raises(ValueError, match="predictive_variance has shape"):
        regression.plot_regression([exp], tmp_path / "bad.png", DPI)
    assert not list(tmp_path.iterdir())


def test_mixture_samples_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    samples = np.array([[1, 1], [3, 5]])[rng.integers(0, 2, 300)] + rng.normal(size=(300, 2))
    mixture_samples.plot_mixture_samples(samples, tmp_path / "fig4.png", DPI, "300 samples")
    read_png(tmp_path / "fig4.png", (150, 150))


def test_conditionals_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    conditionals = [{"value": v, "weights": [w, 1 - w], "samples": rng.normal(1 + 4 * (1 - w),
                     1, 300)} for v, w in ((1.0, 0.88), (2.0, 0.5), (3.0, 0.12))]
    mixture_conditionals.plot_conditionals(conditionals, tmp_path / "fig5.png", DPI)
    read_png(tmp_path / "fig5.png", (130, 380))


def test_latents_png(tmp_path: Path) -> None:
    panels = [latent_panel("Small VAE (10,)", seed=0), latent_panel("Large VAE", seed=1)]
    vae_latents.plot_latents(panels, tmp_path / "fig6.png", DPI)
    read_png(tmp_path / "fig6.png", (100, 380))


def test_latents_reject_mismatched_labels(tmp_path: Path) -> None:
    panel = latent_panel("Small VAE (10,)")
    panel["labels"] = panel["labels"][:-3]
    with pytest.raises(ValueError, match="latents and labels differ in length: 200 .* 197"):
        vae_latents.plot_latents([panel], tmp_path / "fig6.png", DPI)


def test_latent_grid_is_grayscale_at_native_resolution(tmp_path: Path) -> None:
    vae_grids.plot_latent_grid(digit_grid(), tmp_path / "fig7.png", DPI, title="Small")
    pixels = read_png(tmp_path / "fig7.png", (150, 150))
    assert np.allclose(pixels[..., 0], pixels[..., 1]) and np.allclose(pixels[..., 1],
                                                                      pixels[..., 2])
    # The vector files embed the 4 x 4 grid of 28-pixel images as one 112-pixel image, drawn
    # without smoothing.
    svg = (tmp_path / "fig7.svg").read_text()
    assert svg.count("<image ") == 1
    assert "image-rendering:pixelated" in svg.replace(" ", "")
    pdf = (tmp_path / "fig7.pdf").read_bytes()
    assert b"/Width 112" in pdf and b"/Height 112" in pdf
    # A grid is about 4.7 in wide: at the sheet's 20 x 20, each image prints over 5 mm wide.
    assert 20 * 5.0 / 25.4 < vae_grids.GRID_WIDTH < style.PAGE_WIDTH


def test_latent_figures_share_axes_and_clip_nothing(tmp_path: Path) -> None:
    near, far = latent_panel("Small"), latent_panel("Full")
    far["latents"] = far["latents"] * 4  # one model's means spread much further
    limit = _panels.common_limit(near["latents"], far["latents"])
    assert limit >= np.abs(far["latents"]).max() and limit % 0.5 == 0
    vae_latents.plot_latents([near], tmp_path / "fig6.png", DPI, limits=limit)
    with pytest.raises(ValueError, match=r"latent means lie outside the axes"):
        vae_latents.plot_latents([far], tmp_path / "cut.png", DPI, limits=3.0)


def test_full_covariance_png(tmp_path: Path) -> None:
    panel = latent_panel("unused", n=300)
    latents = panel["latents"] * 3
    vae_fullcov.plot_full_covariance(latents, panel["labels"], tmp_path / "fullcov.png", DPI,
                                     limits=_panels.common_limit(latents))
    read_png(tmp_path / "fullcov.png", (150, 200))


def test_regression_close_up_shows_the_posterior() -> None:
    mean, cov = np.array([-1.0, 1.0]), np.array([[0.01, -0.004], [-0.004, 0.02]])
    xs, ys, log_density = regression.posterior_close_up(mean, cov, points=81)
    # centred on the mean (theta_1 across, theta_0 up), four largest sd each way
    assert xs[40] == pytest.approx(1.0) and ys[40] == pytest.approx(-1.0)
    assert xs[-1] - xs[0] == pytest.approx(8 * np.sqrt(0.02))
    peak = np.unravel_index(np.argmax(log_density), log_density.shape)
    assert peak == (40, 40)
    assert log_density.max() == pytest.approx(-0.5 * np.log(np.linalg.det(2 * np.pi * cov)))


def test_compose_grid_follows_sheet_order() -> None:
    # Tile k holds the constant k; non-square tiles catch a swapped height/width.
    grid_size, height, width = 3, 4, 5
    images = np.arange(grid_size**2, dtype=float)[:, None, None] * np.ones((1, height, width))
    big = _panels.compose_grid(images, grid_size)
    assert big.shape == (grid_size * height, grid_size * width)
    for row in range(grid_size):
        for col in range(grid_size):
            tile = big[row * height:(row + 1) * height, col * width:(col + 1) * width]
            assert np.all(tile == row * grid_size + col)
    # Image 1 (first row, second column, as axss.flat[1]) starts right of image 0.
    assert big[0, width] == 1.0 and big[height, 0] == grid_size


def test_compose_grid_rejects_wrong_count() -> None:
    with pytest.raises(ValueError, match="expected 9 images"):
        _panels.compose_grid(np.zeros((8, 28, 28)), 3)


def test_save_figure_is_atomic_and_closes(tmp_path: Path) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    style.save_figure(fig, tmp_path / "line.png", DPI)
    assert not plt.fignum_exists(fig.number)
    # PNG, and vector PDF and SVG beside it; no temp file left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.pdf", "line.png", "line.svg"]
    assert (tmp_path / "line.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<svg" in (tmp_path / "line.svg").read_text()
    with pytest.raises(ValueError, match="save_figure takes the PNG's path"):
        style.save_figure(plt.figure(), tmp_path / "line.pdf", DPI)


RENDER_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import matplotlib
    import matplotlib.pyplot as plt

    sys.path.insert(0, sys.argv[2])
    import test_figures as t
    from prml_pipeline.figures import regression, style, vae_latents

    out = Path(sys.argv[1])
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [2, 0, 1])
    style.save_figure(fig, out / "line.png", t.DPI)
    # A stray global setting, different in each process, must not reach the figures.
    matplotlib.rcParams.update({"font.size": float(sys.argv[3]), "image.cmap": sys.argv[4],
                                "scatter.marker": sys.argv[5]})
    regression.plot_regression([t.regression_experiment("Base"),
                              t.regression_experiment(r"$\\sigma^2_y\\downarrow$")],
                             out / "regression.png", t.DPI)
    vae_latents.plot_latents([t.latent_panel("Small"), t.latent_panel("Large", seed=3)],
                          out / "latents.png", t.DPI)
    """
)


@pytest.mark.slow  # fresh Python processes: seconds each
def test_figures_are_byte_identical_across_processes(tmp_path: Path) -> None:
    runs = []
    # Different hash seeds (no set order may leak into bytes) and different global rcParams.
    for hash_seed, *rc_values in (("1", "7", "gray", "s"), ("2", "15", "magma", "^")):
        out = tmp_path / f"run{hash_seed}"
        out.mkdir()
        # this checkout's package, as in the test process
        source = str(Path(style.__file__).parents[2])
        env = {**os.environ, "PYTHONHASHSEED": hash_seed,
               "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
        runs.append((out, subprocess.Popen(
            [sys.executable, "-c", RENDER_SCRIPT, str(out), str(Path(__file__).parent), *rc_values],
            env=env, stderr=subprocess.PIPE, text=True,
        )))
    for _, proc in runs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    (first, _), (second, _) = runs
    names = sorted(p.name for p in first.iterdir())
    assert names == [f"{stem}.{fmt}" for stem in ("latents", "line", "regression")
                     for fmt in ("pdf", "png", "svg")]
    for name in names:
        digest = [hashlib.sha256((d / name).read_bytes()).hexdigest() for d in (first, second)]
        assert digest[0] == digest[1], name
        data = (first / name).read_bytes()
        # no version stamp, no date
        assert b"Software" not in data and b"CreationDate" not in data and b"<dc:date>" not in data


def test_latent_legend_names_the_classes() -> None:
    import matplotlib.pyplot as plt

    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"]
    fig, ax = plt.subplots()
    _panels.digit_legend(fig, {9, 0, 3}, names)
    texts = [text.get_text() for text in fig.legends[0].get_texts()]
    plt.close(fig)
    assert texts == ["T-shirt/top", "Dress", "Ankle boot"]
    fig, ax = plt.subplots()
    _panels.digit_legend(ax, {1, 7})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["1", "7"]
    plt.close(fig)
