"""IDX I/O, the sheet's binarization, and checksummed fetching against local faulty mirrors."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from helpers import FILENAMES, IdxServer, make_tiny_dataset  # noqa: E402

from prml_pipeline.sheet.data import (  # noqa: E402
    DataFormatError,
    DownloadError,
    binarize,
    binarize_threshold,
    fetch_file,
    md5sum,
    offline_alternative,
    read_idx,
    write_idx,
)

LABELS = FILENAMES["train_labels"]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# Fashion-MNIST: MD5 of the published .gz files, of Debian's recompressed .gz files, and of the
# uncompressed IDX content (identical in both).
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "cf8536b0aa1a6ac5fa3f23001093305c",
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ),
    "train-labels-idx1-ubyte.gz": (
        "25c81989df183df01b3e8a0aad5dffbe",
        "10bea18fdb374794d4bb42e356e600c9",
        "9018921c3c673c538a1fc5bad174d6f9",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "bef4ecab320f06d8554ea6380940ec79",
        "f78720b4224f21cce2f2ccf2d7a94c9a",
        "8181f5470baa50b63fa0f6fddb340f0a",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "bb300cfdad3c16e7a12a480ee83cd310",
        "0d30e22e447f3c33dab9ed536400ac01",
        "15d484375f8d13e6eb1aabb0c3f46965",
    ),
}


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "mirror"
    return folder, make_tiny_dataset(folder, n_train=60, n_test=30)


def _fetch(dest: Path, md5: str, logs: list[str], **kwargs) -> str:
    kwargs.setdefault("mirrors", [])
    kwargs.setdefault("timeout", 5.0)
    return fetch_file(LABELS, md5, dest, log=logs.append, **kwargs)


# ---------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28),
        np.array([7, 0, 255, 3], dtype=np.uint8),
        np.array([[1, -2], [70000, -70000]], dtype=np.int32),
        np.array([0.5, -1.25], dtype=np.float32),
    ],
    ids=["uint8-3d", "uint8-1d", "int32-2d", "float32-1d"],
)
def test_idx_round_trip(tmp_path: Path, array: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"x-idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # writable copy, not a view of the file buffer
    assert list(tmp_path.iterdir()) == [path]  # no temp file left by the atomic write


def test_idx_header_is_mnist_layout(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.zeros((2, 28, 28), dtype=np.uint8))
    blob = (tmp_path / "x").read_bytes()
    assert blob[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")
    assert len(blob) == 16 + 2 * 28 * 28


def test_write_idx_gz_is_byte_deterministic(tmp_path: Path) -> None:
    array = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_truncated_idx_names_file_and_sizes(tmp_path: Path) -> None:
    path = tmp_path / "images-idx3-ubyte"
    write_idx(path, np.zeros((2, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataFormatError, match="expected 1584 bytes, got 1000") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "Delete" in str(info.value)


def test_truncated_gzip_raises(tmp_path: Path) -> None:
    path = tmp_path / "images-idx3-ubyte.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataFormatError, match="truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_bad_magic_raises(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataFormatError, match="bad IDX magic 3c 68 74 6d") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_md5_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 5000  # > one read chunk
    path.write_bytes(data)
    assert md5sum(path) == hashlib.md5(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Binarization


def test_binarize_threshold_matches_sheet() -> None:
    assert binarize_threshold(0.1307) == 34
    assert binarize_threshold(0.0) == 1
    with pytest.raises(ValueError):
        binarize_threshold(1.0)


def test_binarize_equals_sheet_transform_on_all_pixel_values() -> None:
    pixels = np.arange(256, dtype=np.uint8)
    images = np.tile(pixels, (784 // 256 + 1) * 2)[: 2 * 784].reshape(2, 28, 28)
    out = binarize(images, 0.1307)
    assert out.dtype == np.uint8 and out.shape == (2, 784)
    flat = images.reshape(2, 784)
    # The sheet: ToTensor (float32 x/255), Normalize(0.1307, 0.3081), then > 0.
    as_float32 = (flat.astype(np.float32) / 255 - np.float32(0.1307)) / np.float32(0.3081) > 0
    as_float64 = (flat / 255.0 - 0.1307) / 0.3081 > 0
    np.testing.assert_array_equal(out, as_float32.astype(np.uint8))
    np.testing.assert_array_equal(out, as_float64.astype(np.uint8))
    assert out.reshape(-1)[:256].sum() == 256 - 34


# ---------------------------------------------------------------------------------------------
# Tiny dataset and server


def test_tiny_dataset_is_deterministic_and_readable(tmp_path: Path) -> None:
    first = make_tiny_dataset(tmp_path / "a", n_train=50, n_test=20, seed=3)
    assert first == make_tiny_dataset(tmp_path / "b", n_train=50, n_test=20, seed=3)
    assert first != make_tiny_dataset(tmp_path / "c", n_train=50, n_test=20, seed=4)
    assert set(first) == set(FILENAMES.values())
    images = read_idx(tmp_path / "a" / FILENAMES["train_images"])
    labels = read_idx(tmp_path / "a" / FILENAMES["train_labels"])
    assert images.shape == (50, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [5] * 10
    # Class structure survives binarization: "8" lights every segment, "1" only two.
    ink = binarize(images, 0.1307).sum(axis=1)
    assert ink[labels == 8].min() > ink[labels == 1].max()


# ---------------------------------------------------------------------------------------------
# fetch_file


def test_fetch_from_clean_mirror(dataset, tmp_path: Path) -> None:
    folder, md5s = dataset
    dest = tmp_path / "out" / LABELS
    logs: list[str] = []
    with IdxServer(folder) as server:
        source = _fetch(dest, md5s[LABELS], logs, mirrors=[server.url])
        assert server.requests[LABELS] == 1
    assert source == f"mirror {server.url}{LABELS}"
    assert md5sum(dest) == md5s[LABELS]
    assert sorted(p.name for p in dest.parent.iterdir()) == [LABELS]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("404", "HTTP 404"),
        ("500", "HTTP 500"),
        ("timeout", "timed out after 0.5 s"),
        ("truncate", "truncated download"),
        ("corrupt", "checksum mismatch"),
    ],
)
def test_faulty_first_mirror_is_skipped(dataset, tmp_path: Path, mode: str, reason: str) -> None:
    folder, md5s = dataset
    dest = tmp_path / "out" / LABELS
    logs: list[str] = []
    with IdxServer(folder, {LABELS: mode}) as bad, IdxServer(folder) as good:
        source = _fetch(dest, md5s[LABELS], logs, mirrors=[bad.url, good.url], timeout=0.5)
        assert bad.requests[LABELS] == 1 and good.requests[LABELS] == 1
    assert source == f"mirror {good.url}{LABELS}"
    skipped = [line for line in logs if "skipped" in line]
    assert len(skipped) == 1 and bad.url in skipped[0] and reason in skipped[0]
    assert md5sum(dest) == md5s[LABELS]
    assert sorted(p.name for p in dest.parent.iterdir()) == [LABELS]


def test_all_sources_failing_raises_and_leaves_nothing(dataset, tmp_path: Path) -> None:
    folder, md5s = dataset
    dest = tmp_path / "out" / LABELS
    dest.parent.mkdir()
    dest.write_bytes(b"stale partial file")  # an unverified leftover must not survive
    empty = tmp_path / "empty"
    empty.mkdir()
    logs: list[str] = []
    faults = [{LABELS: "truncate"}, {LABELS: "corrupt"}, {LABELS: "404"}]
    with IdxServer(folder, faults[0]) as s1, IdxServer(folder, faults[1]) as s2:
        with IdxServer(folder, faults[2]) as s3:
            mirrors = [s1.url, s2.url, s3.url]
            with pytest.raises(DownloadError) as info:
                _fetch(dest, md5s[LABELS], logs, mirrors=mirrors, local_dir=str(empty))
    message = str(info.value)
    for url in mirrors:
        assert url + LABELS in message
    assert f"local_dir {empty / LABELS}: file not found" in message
    assert "truncated" in message and "checksum mismatch" in message and "HTTP 404" in message
    assert f"set data.local_dir in the config to a folder holding {LABELS}" in message
    assert list(dest.parent.iterdir()) == []


def test_a_missing_system_copy_is_named_with_its_package(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-package"
    with pytest.raises(DownloadError) as info:
        _fetch(tmp_path / "out" / LABELS, "0" * 32, [], system_dir=str(missing),
               system_package="dataset-fashion-mnist")
    assert (f"or install `apt-get install dataset-fashion-mnist` (as root; `make setup` does it), "
            f"which provides {missing}.") in str(info.value)


def test_local_dir_takes_precedence_without_http(dataset, tmp_path: Path) -> None:
    folder, md5s = dataset
    dest = tmp_path / "out" / LABELS
    logs: list[str] = []
    with IdxServer(folder) as server:
        source = _fetch(dest, md5s[LABELS], logs, mirrors=[server.url], local_dir=str(folder))
        assert sum(server.requests.values()) == 0
    assert source == f"local_dir {folder / LABELS}"
    assert md5sum(dest) == md5s[LABELS]


def test_local_dir_with_wrong_checksum_falls_back_to_mirror(dataset, tmp_path: Path) -> None:
    folder, md5s = dataset
    other = tmp_path / "other"
    make_tiny_dataset(other, n_train=60, n_test=30, seed=1)  # same names, different bytes
    dest = tmp_path / "out" / LABELS
    logs: list[str] = []
    with IdxServer(folder) as server:
        source = _fetch(dest, md5s[LABELS], logs, mirrors=[server.url], local_dir=str(other))
        assert server.requests[LABELS] == 1
    assert source.startswith("mirror ")
    assert any("skipped local_dir" in line and "checksum mismatch" in line for line in logs)
    assert md5sum(dest) == md5s[LABELS]


def test_system_dir_used_when_present(dataset, tmp_path: Path) -> None:
    folder, md5s = dataset
    dest = tmp_path / "out" / LABELS
    logs: list[str] = []
    with IdxServer(folder) as server:
        # A missing system folder is logged as skipped; the mirror serves the file.
        missing = str(tmp_path / "no-such-package")
        source = _fetch(dest, md5s[LABELS], logs, mirrors=[server.url], system_dir=missing)
        assert source.startswith("mirror ")
        assert any("skipped system_dir" in line and "not found" in line for line in logs), logs
        dest.unlink()
        # A present one wins over the mirror, also when it matches only system_md5.
        source = _fetch(
            dest,
            "0" * 32,
            logs,
            mirrors=[server.url],
            system_dir=str(folder),
            system_md5=md5s[LABELS],
        )
        assert server.requests[LABELS] == 1
    assert source == f"system_dir {folder / LABELS}"
    assert md5sum(dest) == md5s[LABELS]


def test_verified_destination_is_kept(dataset, tmp_path: Path) -> None:
    folder, md5s = dataset
    dest = tmp_path / "out" / LABELS
    logs: list[str] = []
    _fetch(dest, md5s[LABELS], logs, local_dir=str(folder))
    assert _fetch(dest, md5s[LABELS], logs, mirrors=["http://127.0.0.1:9/"]).startswith(
        "already present"
    )


# ---------------------------------------------------------------------------------------------
# Debian's Fashion-MNIST package (dataset-fashion-mnist), when installed


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_debian_fashion_mnist(tmp_path: Path) -> None:
    for filename, (official, debian, content) in FASHION_MD5.items():
        path = DEBIAN_FASHION / filename
        # Debian recompressed the files (gzip header without name, new mtime): the .gz MD5 may
        # differ from the published one, but the IDX content must be the published content.
        assert md5sum(path) in (official, debian)
        assert hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest() == content
    images = read_idx(DEBIAN_FASHION / "train-images-idx3-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    labels = read_idx(DEBIAN_FASHION / "train-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == [6000] * 10
    official, debian, _ = FASHION_MD5[LABELS]
    dest = tmp_path / LABELS
    source = fetch_file(
        LABELS,
        official,
        dest,
        mirrors=[],
        system_dir=str(DEBIAN_FASHION),
        system_md5=debian,
        log=lambda line: None,
    )
    assert source.startswith("system_dir") and md5sum(dest) in (official, debian)


def test_a_failed_download_names_the_offline_alternative(tmp_path: Path) -> None:
    held = tmp_path / "fashion"
    held.mkdir()
    datasets = {"mnist": {"name": "MNIST", "system_dir": None},
                "fashion-mnist": {"name": "Fashion-MNIST", "system_dir": str(held)},
                "other": {"name": "Other", "system_dir": str(tmp_path / "absent")}}
    text = offline_alternative(datasets, "mnist")
    assert text == (f"Without internet, the whole report builds now from Fashion-MNIST, which "
                    f"this machine holds in {held}: run `make report DATASET=fashion-mnist` or "
                    "`snakemake --cores all --config dataset=fashion-mnist`.")
    assert offline_alternative(datasets, "fashion-mnist").startswith(
        f"Without internet, the whole report builds from Other once {tmp_path / 'absent'} "
        "exists: install its operating-system package, then run `make report DATASET=other`")
    assert offline_alternative({"mnist": datasets["mnist"]}, "mnist") == ""


def test_without_the_system_copy_the_failed_download_names_its_package(tmp_path: Path) -> None:
    datasets = {"mnist": {"name": "MNIST", "system_dir": None},
                "fashion-mnist": {"name": "Fashion-MNIST", "system_dir": str(tmp_path / "no"),
                                  "system_package": "dataset-fashion-mnist"}}
    assert offline_alternative(datasets, "mnist") == (
        f"Without internet, the whole report builds from Fashion-MNIST once {tmp_path / 'no'} "
        "exists: install `apt-get install dataset-fashion-mnist` (as root; `make setup` does "
        "it), then run `make report DATASET=fashion-mnist` or "
        "`snakemake --cores all --config dataset=fashion-mnist`.")
