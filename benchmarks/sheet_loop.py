"""The sheet's VAE training path (Sec. 4 of the sheet), kept as written, as the benchmark baseline.

Everything that costs time is reproduced: per-sample transforms in a ``Dataset`` (PIL image,
ToTensor, Normalize, ``> 0``, ``float``) batched by a shuffling ``DataLoader``, ``LazyLinear``
layers, ``model.compile()``, the ``torch.distributions`` objects and the sheet's loss. The MNIST
dataset and the transforms are re-implemented (the sheet uses torchvision, which is not a
dependency here) following torchvision's code step by step, its checks included.
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
    "NORMALIZE_MEAN",
    "NORMALIZE_STD",
    "SheetImages",
    "SheetVAE",
    "sheet_loader",
    "sheet_loss_fn",
    "sheet_setup",
    "sheet_test_negative_elbo",
    "sheet_train_epoch",
    "sheet_transform",
]

NORMALIZE_MEAN = 0.1307
NORMALIZE_STD = 0.3081


class _ToTensor:
    """torchvision's ``transforms.ToTensor`` for 8-bit PIL images: C x H x W floats in [0, 1]."""

    def __call__(self, pic: Image.Image) -> torch.Tensor:
        if not isinstance(pic, Image.Image):
            raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
        img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
        img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
        img = img.permute((2, 0, 1)).contiguous()
        return img.to(dtype=torch.get_default_dtype()).div(255)


class _Normalize(nn.Module):
    """torchvision's ``transforms.Normalize`` (an ``nn.Module``; not in place: it clones)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"Input tensor should be a torch tensor. Got {type(tensor)}.")
        if not tensor.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.ndim < 3:
            raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W).")
        tensor = tensor.clone()
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype, device=tensor.device)
        std = torch.as_tensor(self.std, dtype=tensor.dtype, device=tensor.device)
        if (std == 0).any():
            raise ValueError("std evaluated to zero after conversion to float")
        return tensor.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))


class _Compose:
    """torchvision's ``transforms.Compose``."""

    def __init__(self, transforms: list) -> None:
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


def sheet_transform() -> _Compose:
    """The sheet's transform: ToTensor, Normalize((0.1307,), (0.3081,)), ``> 0``, ``float``."""
    return _Compose(
        [
            _ToTensor(),
            _Normalize((NORMALIZE_MEAN,), (NORMALIZE_STD,)),
            lambda x: x > 0,
            lambda x: x.float(),
        ]
    )


class SheetImages(Dataset):
    """torchvision's ``MNIST`` dataset on given uint8 images (N, 28, 28), with the transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None) -> None:
        # torchvision keeps both as tensors and indexes them per item.
        self.data = torch.from_numpy(np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28))
        self.targets = (
            torch.zeros(len(self.data), dtype=torch.int64)
            if labels is None
            else torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        )
        self.transform = sheet_transform()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy())  # mode "L", inferred from the uint8 2-D array
        img = self.transform(img)
        return img, target


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
) -> np.ndarray:
    """Single-sample negative ELBO in nats of each image, for a sheet model on binarized
    (N, 784) data.

    -ELBO = BCE(x, decode(z)) summed over pixels + KL(q(z|x) || N(0, I)), z ~ q(z|x), with the
    exact KL of whatever distribution the sheet's encoder returns (for its diagonal encoder this
    equals the sheet's own KL term, which is correct for the distribution it samples from).
    """
    generator_state = torch.random.get_rng_state()
    torch.random.manual_seed(seed)  # the sheet samples from the global generator
    data = torch.as_tensor(np.asarray(images), dtype=torch.float32).reshape(len(images), -1)
    per_image = []
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
                kl = dist.kl_divergence(q, prior)
                kl = kl.sum(-1) if kl.dim() == 2 else kl  # Normal: per coordinate
                bce = func.binary_cross_entropy(probs, x, reduction="none").sum(-1)
                per_image.append((bce + kl).double())
    finally:
        torch.random.set_rng_state(generator_state)
    return torch.cat(per_image).numpy()
