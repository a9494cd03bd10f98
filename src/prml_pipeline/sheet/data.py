"""MNIST-style data: IDX files, checksummed fetching from mirrors, and the sheet's binarization.

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic ``00 00 TT NN``
with type code ``TT`` and number of dimensions ``NN``, then ``NN`` big-endian uint32 sizes, then
the data in C order, big-endian. The distributed files are gzipped.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from prml_pipeline.artifacts import atomic_open
from prml_pipeline.errors import PipelineError

__all__ = [
    "DataFormatError",
    "DownloadError",
    "binarize",
    "binarize_threshold",
    "fetch_file",
    "md5sum",
    "offline_alternative",
    "read_idx",
    "write_idx",
]

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_USER_AGENT = "prml-pipeline/0.1 (dataset fetch; python urllib)"


class DataFormatError(PipelineError, ValueError):
    """A data file is not a valid IDX file (corrupt, truncated, or not IDX at all)."""


class DownloadError(PipelineError, RuntimeError):
    """No configured source delivered a file with the expected checksum."""


# ---------------------------------------------------------------------------------------------
# IDX read / write


def _format_error(path: Path, problem: str) -> DataFormatError:
    return DataFormatError(
        f"{path}: {problem}. Delete {path} and rerun the workflow so it is fetched again."
    )


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzipped or raw (detected by the gzip magic 1f 8b), as a native array."""
    path = Path(path)
    blob = path.read_bytes()
    if blob[:2] == _GZIP_MAGIC:
        try:
            blob = gzip.decompress(blob)
        except (EOFError, OSError, zlib.error) as err:
            # EOFError: gzip stream cut short; BadGzipFile (an OSError) / zlib.error: corrupt.
            raise _format_error(path, f"corrupt or truncated gzip data ({err})") from err
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] not in _IDX_DTYPES:
        raise _format_error(path, f"bad IDX magic {blob[:4].hex(' ') or '(empty)'}")
    dtype = _IDX_DTYPES[blob[2]]
    ndim = blob[3]
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise _format_error(path, f"truncated header: expected {header} bytes, got {len(blob)}")
    shape = tuple(int(d) for d in np.frombuffer(blob, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(blob) != expected:
        what = "truncated" if len(blob) < expected else "trailing bytes"
        raise _format_error(path, f"{what}: expected {expected} bytes, got {len(blob)}")
    data = np.frombuffer(blob, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # copy: writable and native byte order


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as IDX, gzipped when ``path`` ends in .gz, atomically.

    The gzip header carries no file name and mtime 0, so equal arrays give equal bytes.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}; use one of {sorted(map(str, codes))}"
        )
    if array.ndim > 255:
        raise ValueError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    payload = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    )
    with atomic_open(path) as handle:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as gz:
                gz.write(payload)
        else:
            handle.write(payload)


# ---------------------------------------------------------------------------------------------
# Checksums and binarization


def md5sum(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file (the checksum the dataset publishers give)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def binarize_threshold(normalize_mean: float) -> int:
    """Smallest uint8 pixel ``v`` that the sheet's transform maps to 1.

    The sheet applies ToTensor (v/255), Normalize(mean, std) and ``> 0``; since std > 0 this is
    ``v/255 - mean > 0``. Evaluated in float32 like the tensor path, giving 34 for mean 0.1307.
    """
    if not 0.0 <= normalize_mean < 1.0:
        raise ValueError(f"normalize_mean must lie in [0, 1), got {normalize_mean}")
    pixels = np.arange(256, dtype=np.float32) / np.float32(255)
    return int(np.argmax(pixels - np.float32(normalize_mean) > 0))


def binarize(images: np.ndarray, normalize_mean: float) -> np.ndarray:
    """Binarize uint8 images (N, 28, 28) or (N, 784) as the sheet does, to uint8 0/1 (N, 784)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"binarize expects uint8 pixels, got {images.dtype}")
    flat = images.reshape(images.shape[0], -1)
    return (flat >= binarize_threshold(normalize_mean)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Atomic writes and fetching


class _SourceFailed(Exception):
    """One candidate source failed; the message is the one-line reason."""


def _copy_hashed(source: BinaryIO, sink: BinaryIO) -> tuple[int, str]:
    digest = hashlib.md5()
    size = 0
    while chunk := source.read(_CHUNK):
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _install(destination: Path, fill: Callable[[BinaryIO], str], accepted: set[str]) -> None:
    """Let ``fill`` write a candidate to a temp file and return its MD5; keep it if accepted."""
    with atomic_open(destination) as handle:
        got = fill(handle)
        if got not in accepted:
            raise _SourceFailed(
                f"checksum mismatch: MD5 {got}, expected {' or '.join(sorted(accepted))}"
            )


def _from_folder(folder: Path, filename: str) -> Callable[[BinaryIO], str]:
    def fill(sink: BinaryIO) -> str:
        path = folder / filename
        if not path.is_file():
            raise _SourceFailed("file not found")
        with open(path, "rb") as source:
            return _copy_hashed(source, sink)[1]

    return fill


def _from_url(url: str, timeout: float) -> Callable[[BinaryIO], str]:
    def fill(sink: BinaryIO) -> str:
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                size, digest = _copy_hashed(response, sink)
        except urllib.error.HTTPError as err:
            raise _SourceFailed(f"HTTP {err.code} {err.reason}") from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise _SourceFailed(f"timed out after {timeout:g} s (connect)") from err
            raise _SourceFailed(f"connection failed: {err.reason}") from err
        except TimeoutError as err:
            raise _SourceFailed(f"timed out after {timeout:g} s (waiting for data)") from err
        except http.client.IncompleteRead as err:
            raise _SourceFailed(f"truncated download: connection closed early ({err})") from err
        except (http.client.HTTPException, OSError) as err:
            raise _SourceFailed(f"transfer failed: {type(err).__name__}: {err}") from err
        if length is not None and length.isdigit() and size != int(length):
            raise _SourceFailed(f"truncated download: got {size} of {length} bytes")
        return digest

    return fill


def fetch_file(
    filename: str,
    md5: str,
    destination: Path,
    *,
    mirrors: list[str],
    local_dir: str | None = None,
    system_dir: str | None = None,
    system_md5: str | None = None,
    system_package: str | None = None,
    timeout: float = 30.0,
    log: Callable[[str], object] = print,
    alternative: str = "",
) -> str:
    """Place a checksum-verified copy of ``filename`` at ``destination``; say where it came from.

    Sources, in order: ``local_dir`` (a folder of pre-fetched files), ``system_dir`` (an OS
    package's folder, used if it exists), then ``mirror + filename`` for each mirror. A source is
    accepted only if its MD5 is ``md5`` (or, for ``system_dir`` only, ``system_md5``: an OS package
    may ship the same data recompressed); ``system_package`` names that package in the remedy.
    Each failing source is logged in one line and skipped. The file is streamed to a temp file in
    the destination folder and renamed into place only after verification, so no partial or
    unverified file is ever left behind. When every source fails, the error ends with
    ``alternative`` (what the user can do instead).
    """
    destination = Path(destination)
    if destination.is_file():
        if md5sum(destination) == md5:
            log(f"{filename}: already present at {destination} (MD5 ok)")
            return f"already present at {destination}"
        log(f"{filename}: removing unverified {destination}")
        destination.unlink()
    system_md5s = {md5} | ({system_md5} if system_md5 else set())
    failures: list[str] = []
    for source, fill, accepted in _sources(filename, md5, mirrors, local_dir, system_dir,
                                           system_md5s, timeout):
        try:
            _install(destination, fill, accepted)
        except _SourceFailed as err:
            log(f"{filename}: skipped {source}: {err}")
            failures.append(f"  - {source}: {err}")
            continue
        log(f"{filename}: fetched from {source} (MD5 ok)")
        return source
    raise DownloadError(_unobtainable(filename, md5, failures, system_dir, system_package,
                                      alternative))


_Source = tuple[str, Callable[[BinaryIO], str], set[str]]


def _sources(filename: str, md5: str, mirrors: list[str], local_dir: str | None,
             system_dir: str | None, system_md5s: set[str], timeout: float) -> list[_Source]:
    """(description, filler, accepted MD5s) of each source, in the order they are tried."""
    sources: list[_Source] = []
    for kind, folder, accepted in (("local_dir", local_dir, {md5}),
                                   ("system_dir", system_dir, system_md5s)):
        if folder:
            sources.append((f"{kind} {Path(folder) / filename}",
                            _from_folder(Path(folder), filename), accepted))
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        sources.append((f"mirror {url}", _from_url(url, timeout), {md5}))
    return sources


def _unobtainable(filename: str, md5: str, failures: list[str], system_dir: str | None,
                  system_package: str | None, alternative: str) -> str:
    """The message when every source failed: each failure, then the remedies."""
    tried = "\n".join(failures) if failures else "  (no sources configured)"
    return (
        f"could not obtain {filename} with MD5 {md5}. Sources tried:\n{tried}\n"
        f"Remedy: download {filename} on a machine with internet access, then set "
        f"data.local_dir in the config to a folder holding {filename}"
        + (f", or install {_package_install(system_package)}, which provides {system_dir}."
           if system_dir else ".")
        + (f"\n{alternative}" if alternative else "")
    )


def offline_alternative(datasets: dict[str, dict], current: str) -> str:
    """What to run instead when `current` cannot be fetched: a dataset this machine holds, or
    else one whose operating-system package would give it."""
    offline = [name for name, spec in datasets.items()
               if name != current and spec.get("system_dir")]
    if not offline:
        return ""
    held = [name for name in offline if Path(datasets[name]["system_dir"]).is_dir()]
    name = (held or offline)[0]
    spec = datasets[name]
    commands = (f"`make report DATASET={name}` or "
                f"`snakemake --cores all --config dataset={name}`")
    if held:
        return (f"Without internet, the whole report builds now from {spec['name']}, which "
                f"this machine holds in {spec['system_dir']}: run {commands}.")
    return (f"Without internet, the whole report builds from {spec['name']} once "
            f"{spec['system_dir']} exists: install {_package_install(spec.get('system_package'))}, "
            f"then run {commands}.")


def _package_install(package: str | None) -> str:
    """How to install a dataset's operating-system package (``datasets.<name>.system_package``)."""
    return (f"`apt-get install {package}` (as root; `make setup` does it)" if package
            else "its operating-system package")
