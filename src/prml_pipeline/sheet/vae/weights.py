"""A trained VAE on disk: its weights together with its spec, so that the file describes itself.

As nanoGPT saves ``model_args`` beside the state dict, a weights file holds
``{"spec": VAE.spec(), "state": state_dict}``: :func:`load_model` needs the path alone.
Files load with ``weights_only=True`` (no code is unpickled) and equal weights give equal bytes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from prml_pipeline.artifacts import atomic_path
from prml_pipeline.errors import ArtifactError
from prml_pipeline.sheet.vae.model import VAE

__all__ = ["cpu_state", "load_model", "save_weights", "serialize", "vae_from_state"]

# The rule that writes weights files, named in errors about them.
_MAKER = "train_vae"


def serialize(obj: Any) -> bytes:
    """``torch.save`` bytes that depend only on ``obj`` (saving to a path would name the archive
    after the file, so equal contents would give different bytes)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as CPU tensors (copies)."""
    return {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}


def save_weights(model: VAE, path: str | os.PathLike[str]) -> None:
    """Write the model's spec and state dict atomically; identical weights give identical
    bytes."""
    payload = serialize({"spec": model.spec(), "state": cpu_state(model)})
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def vae_from_state(state: dict[str, torch.Tensor], spec: dict[str, Any]) -> VAE:
    """A VAE (eval mode) of architecture ``spec`` holding ``state``'s tensors, built without
    initialising weights (no draws from the global RNG)."""
    with torch.device("meta"):
        model = VAE(**spec)
    model.load_state_dict(state, assign=True)
    return model.eval()


def load_model(path: str | os.PathLike[str]) -> VAE:
    """The VAE saved by :func:`save_weights` at ``path`` (on CPU, eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} is missing.", path, _MAKER)
    try:
        saved = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # zip, pickle and EOF errors differ by how the file broke
        raise ArtifactError(f"{path} is not a readable weights file ({err}).", path,
                            _MAKER) from None
    if not (isinstance(saved, dict) and isinstance(saved.get("spec"), dict)
            and isinstance(saved.get("state"), dict)):
        raise ArtifactError(f"{path} holds no model spec beside its weights (it was written "
                            "by an older version, or altered).", path, _MAKER)
    try:
        return vae_from_state(saved["state"], saved["spec"])
    except (RuntimeError, TypeError, AttributeError, ValueError) as err:
        raise ArtifactError(f"{path}: the weights do not fit the saved spec {saved['spec']} "
                            f"({err}).", path, _MAKER) from None
