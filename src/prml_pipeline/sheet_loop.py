"""The sheet's VAE training path (Sec. 4 of the sheet), kept as written, as the benchmark baseline.

Everything that costs time is reproduced: per-sample transforms in a ``Dataset`` (PIL image,
ToTensor, Normalize, ``> 0``, ``float``) batched by a shuffling ``DataLoader``, ``LazyLinear``
layers, ``model.compile()``, the ``torch.distributions`` objects and the sheet's loss. The
transforms are re-implemented in torch (the sheet uses torchvision) with torchvision's own steps.
The sheet's errata are kept on purpose: the diagonal encoder passes ``exp(enc_log_var)`` to
``Normal`` as its standard deviation and the full-covariance KL uses ``(1 - m)`` and ``+ log det``.
Only :func:`sheet_test_negative_elbo` differs: it scores any model with the exact KL so that
both training paths are compared on the same footing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributions as dist
import torch.nn as nn
import torch.nn.functional as func
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

__all__ = [
    "SheetImages",
    "SheetVAE",
    "sheet_loader",
    "sheet_loss_fn",
    "sheet_setup",
    "sheet_test_negative_elbo",
    "sheet_train_epoch",
]

NORMALIZE_MEAN = 0.1307
NORMALIZE_STD = 0.3081


def _to_tensor(pic: Image.Image) -> torch.Tensor:
    """torchvision's ``ToTensor`` for an 8-bit grayscale PIL image: C x H x W floats in [0, 1]."""
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    img = img.view(pic.size[1], pic.size[0], 1)
    img = img.permute((2, 0, 1)).contiguous()
    return img.to(dtype=torch.get_default_dtype()).div(255)


def _normalize(tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """torchvision's ``Normalize((mean,), (std,))`` (not in place: it clones first)."""
    tensor = tensor.clone()
    mean_t = torch.as_tensor((mean,), dtype=tensor.dtype, device=tensor.device)
    std_t = torch.as_tensor((std,), dtype=tensor.dtype, device=tensor.device)
    if (std_t == 0).any():
        raise ValueError("std evaluated to zero after conversion to float")
    return tensor.sub_(mean_t.view(-1, 1, 1)).div_(std_t.view(-1, 1, 1))


class SheetImages(Dataset):
    """uint8 images (N, 28, 28) served one at a time through the sheet's transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None) -> None:
        self.images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
        self.labels = (
            np.zeros(len(self.images), dtype=np.int64) if labels is None else np.asarray(labels)
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        # As torchvision's MNIST dataset: a PIL image, then the transform chain.
        img = Image.fromarray(self.images[index])
        x = _to_tensor(img)
        x = _normalize(x, NORMALIZE_MEAN, NORMALIZE_STD)
        x = x > 0
        x = x.float()
        return x, int(self.labels[index])


def sheet_loader(
    images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 50
) -> DataLoader:
    """The sheet's ``DataLoader(..., batch_size=50, shuffle=True)``."""
    return DataLoader(SheetImages(images, labels), batch_size=batch_size, shuffle=True)


class SheetVAE(nn.Module):
    """The sheet's ``VAE`` class, verbatim apart from the name."""

    def __init__(
        self,
        output_dim: int,
        transform_dims: list[int],
        latent_dim: int,
        multivariate: bool = False,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        trans_enc = []
        for dim in transform_dims:
            trans_enc.append(nn.LazyLinear(dim))
            trans_enc.append(nn.ReLU())
        self.trans_enc = nn.Sequential(*trans_enc)
        self.enc_mean = nn.LazyLinear(latent_dim)
        self.enc_log_var = nn.LazyLinear(
            latent_dim * (latent_dim + 1) // 2 if multivariate else latent_dim
        )
        dec = []
        for dim in reversed(transform_dims):
            dec.append(nn.LazyLinear(dim))
            dec.append(nn.ReLU())
        dec.append(nn.LazyLinear(output_dim))
        dec.append(nn.Sigmoid())
        self.dec = nn.Sequential(*dec)
        self.multivariate = multivariate

    def encode(self, x: torch.Tensor) -> dist.Distribution:
        trans = self.trans_enc(x.view(x.shape[0], -1))
        mean = self.enc_mean(trans)
        var_vals = torch.exp(self.enc_log_var(trans))
        if self.multivariate:
            var = torch.empty((x.shape[0], self.latent_dim, self.latent_dim))
            idx_u = torch.tril_indices(self.latent_dim, self.latent_dim)
            var[:, idx_u[0], idx_u[1]] = var_vals
            var.mT[:, idx_u[0], idx_u[1]] = var_vals
            var = torch.einsum("bij,bik->bjk", var, var) + torch.eye(2) * 0.1
            return dist.MultivariateNormal(mean, var)
        return dist.Normal(mean, var_vals)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(x)

    def forward(self, x) -> tuple[torch.Tensor, dist.Distribution]:
        norm = self.encode(x)
        return self.decode(norm.rsample()), norm


def sheet_loss_fn(
    images: torch.Tensor,
    reconstructions: torch.Tensor,
    distributions: dist.Distribution,
) -> torch.Tensor:
    """The sheet's ``loss_fn``, errata included."""
    recon_loss = func.binary_cross_entropy(
        reconstructions, images.view_as(reconstructions), reduction="sum"
    )
    if isinstance(distributions, dist.Normal):
        diverg_loss = -0.5 * torch.sum(
            1
            + torch.log(distributions.variance)
            - distributions.mean.pow(2)
            - distributions.variance
        )
    elif isinstance(distributions, dist.MultivariateNormal):
        m_diff = 1 - distributions.mean
        batch_trace, batch_det = torch.vmap(torch.trace), torch.vmap(torch.det)
        diverg_loss = 0.5 * (
            torch.einsum("bd,bd->b", m_diff, m_diff)
            + batch_trace(distributions.covariance_matrix)
            + torch.log(batch_det(distributions.covariance_matrix))
            - distributions.mean.shape[1]
        ).sum(0)
    else:
        raise NotImplementedError

    return recon_loss + diverg_loss


def sheet_setup(
    loader: DataLoader,
    transform_dims: list[int],
    seed: int = 42,
    multivariate: bool = False,
    device: str = "cpu",
) -> tuple[SheetVAE, torch.optim.Optimizer]:
    """The prelude of the sheet's ``train_loop``: seed, build, materialize, compile, Adam."""
    torch.random.manual_seed(seed)
    model = SheetVAE(784, transform_dims, 2, multivariate=multivariate)
    model = model.to(device)
    model(next(iter(loader))[0].to(device))
    if device in ("cpu", "cuda"):
        model.compile()
    optimizer = torch.optim.Adam(model.parameters())
    return model, optimizer


def sheet_train_epoch(
    model: SheetVAE,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    epoch: int,
    device: str = "cpu",
    show_bar: bool = False,
) -> float:
    """The sheet's ``train_epoch`` (its globals ``train_loader``/``device`` as arguments)."""
    model.train()
    train_loss = 0
    bar = tqdm(
        loader,
        total=len(loader.dataset) // loader.batch_size,
        desc=f"Epoch {epoch}",
        leave=False,
        position=1,
        disable=not show_bar,
    )
    for batch_idx, (data, _) in enumerate(bar):
        data = data.to(device)
        optimizer.zero_grad()
        reconstructions, distribution = model(data)
        loss = sheet_loss_fn(data, reconstructions, distribution)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        if batch_idx % 100 == 0:
            bar.set_postfix(loss=loss.item())
    return train_loss


def sheet_test_negative_elbo(
    model: SheetVAE, images: np.ndarray, batch_size: int = 1000, seed: int = 0
) -> float:
    """Single-sample negative ELBO in nats per image of a sheet model on binarized (N, 784) data.

    -ELBO = BCE(x, decode(z)) summed over pixels + KL(q(z|x) || N(0, I)), z ~ q(z|x), with the
    exact KL of whatever distribution the sheet's encoder returns (for its diagonal encoder this
    equals the sheet's own KL term, which is correct for the distribution it samples from).
    """
    generator_state = torch.random.get_rng_state()
    torch.random.manual_seed(seed)  # the sheet samples from the global generator
    data = torch.as_tensor(np.asarray(images), dtype=torch.float32).reshape(len(images), -1)
    total = 0.0
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, len(data), batch_size):
                x = data[start : start + batch_size]
                q = model.encode(x)
                probs = model.decode(q.rsample())
                prior = dist.Normal(torch.zeros_like(q.mean), torch.ones_like(q.mean))
                if isinstance(q, dist.MultivariateNormal):
                    prior = dist.MultivariateNormal(
                        torch.zeros_like(q.mean),
                        scale_tril=torch.diag_embed(torch.ones_like(q.mean)),
                    )
                kl = dist.kl_divergence(q, prior).sum()
                total += (func.binary_cross_entropy(probs, x, reduction="sum") + kl).item()
    finally:
        torch.random.set_rng_state(generator_state)
    return total / len(data)
