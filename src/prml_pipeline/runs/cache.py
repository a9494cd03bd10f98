"""The output cache as a shared folder: what the workflow does to Snakemake's cache entries."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prml_pipeline.artifacts import file_mode


def share_cached_artifacts(results: str | os.PathLike[str]) -> list[Path]:
    """Give the cache entries that artifacts under `results` link to the umask's file mode.

    Snakemake's output cache (`--cache`) moves a cached rule's outputs into the cache, makes
    them readable *and writable* by everyone (0666) and links them back. Entries are never
    rewritten in place, so read access is all that sharing needs: this restores the mode every
    other artifact has. Entries of another user, which we may not change, are left alone.
    Returns the entries changed.
    """
    mode = file_mode()
    changed = []
    for link in Path(results).rglob("*"):
        if not link.is_symlink():
            continue
        entry = link.resolve()
        try:
            if entry.is_file() and stat.S_IMODE(entry.stat().st_mode) != mode:
                os.chmod(entry, mode)
                changed.append(entry)
        except OSError:  # not ours, or gone: the cache's own mode stays
            continue
    return changed
