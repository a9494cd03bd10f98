"""Atomic, byte-deterministic artifact I/O with errors that name the file.

Every artifact is written through `atomic_path` (or `atomic_open` for streams): to a temporary
file in its destination folder, fsynced and renamed into place, so an interrupted job never
leaves a half-written file under results/ and every artifact gets the same file mode (what the
umask gives, as for any new file). Array archives are zip files with fixed timestamps so that
equal arrays give equal bytes.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from prml_pipeline.errors import ArtifactError

# What a temporary file of `atomic_path` ends with (its name: ".<artifact name>.<random>.part").
PART_SUFFIX = ".part"
# 1980-01-01, the earliest date a zip entry can carry: fixed so archives are reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def file_mode() -> int:
    """The mode the umask gives a new file (0644 under 022): every artifact gets it."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only on success."""
    target = Path(path)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PART_SUFFIX,
                                   dir=target.parent)
        os.close(fd)
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; artifacts are shared as any file
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as error:
        # A failed write, fsync or close (a full disk) names no file, a failed mkstemp names the
        # hidden temporary one: either way the user needs the artifact's path.
        named = error.filename
        if named is None or Path(named).name.startswith(f".{target.name}."):
            error.filename, error.filename2 = os.fspath(target), None
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """`atomic_path` for a writer that streams: yield a binary handle to the temporary file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        yield handle


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; not every platform lets a directory be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_arrays(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays to an .npz archive whose bytes depend only on the arrays."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def load_arrays(path: str | os.PathLike[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read every array of an .npz archive; a damaged or incomplete file raises ArtifactError."""
    if not os.path.exists(path):
        raise ArtifactError(f"{path} is missing.", path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as error:  # zipfile, zlib and numpy raise a zoo of types here
        raise ArtifactError(
            f"{path} is truncated or corrupt ({type(error).__name__}: {error}).", path
        ) from None
    missing = [name for name in required if name not in arrays]
    if missing:
        raise ArtifactError(
            f"{path} lacks the arrays {missing} (it was made by other code or altered).", path
        )
    return arrays


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_json_text(value: Any) -> str:
    """Canonical JSON: sorted keys, fixed indentation, so equal data gives equal bytes."""
    return json.dumps(_jsonable(value), indent=2, sort_keys=True, allow_nan=False) + "\n"


def save_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write `value` as canonical JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(to_json_text(value))


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON artifact; a missing, truncated or altered file raises ArtifactError."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing.", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(
            f"{path} is truncated or corrupt (invalid JSON: {error}).", path
        ) from None
