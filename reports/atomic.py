"""Files written all at once: a reader sees the old file or the new one, never a part.

The content goes to a temporary file in the target's folder (same file system, so the
rename is atomic), is flushed and fsync'd, and then replaces the target with
``os.replace``. If writing fails or is interrupted, the temporary file is removed and
the old target is left as it was. The benchmark run (``fixtures/run/results_files.py``)
and the report both write through here; it needs only the standard library, since
``reports/`` runs without the harness installed.
"""

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

STALE_AFTER_S = 600  # a temporary file this much older than the run is a killed writer's leftover
TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")  # .NAME.<random>.tmp, as atomic_write names them


def get_default_mode() -> int:
    """The permissions a plain ``open`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", *, exclusive: bool = False, **open_kwargs):
    """Open a temporary file for writing that replaces ``path`` when the block ends without error.

    With ``exclusive``, an existing ``path`` is never replaced: the finished file is
    hard-linked into place (``os.link`` fails if the name exists) and FileExistsError is
    raised, the temporary file removed, when another writer got there first.

    ``mode`` is "w" (text; ``open_kwargs`` as for ``open``, e.g. encoding) or "wb".
    Temporary names start with a dot and end in ".tmp", so globs for ``*.json`` and
    pytest-benchmark's numbered files never match one that a killed run left behind.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode {mode!r}; use 'w' or 'wb'")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0o600); keep the target's mode, else a new file's default
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else get_default_mode())
        if exclusive:
            os.link(tmp, path)  # atomic and never overwrites: FileExistsError if taken
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt (Ctrl-C, SIGTERM) too: never leave a partial file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w", encoding=encoding) as fh:
        fh.write(text)


def write_bytes(path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (``exclusive``: never over an existing file)."""
    with atomic_write(path, "wb", exclusive=exclusive) as fh:
        fh.write(data)


def remove_stale_temporaries(folder, *, started: float | None = None) -> list[Path]:
    """Remove ``.NAME.<random>.tmp`` files in ``folder`` (and its sub-folders) that a killed
    writer left: those last changed more than STALE_AFTER_S before ``started`` (default: now).
    A temporary file that another run is writing now is newer, so it is kept."""
    cutoff = (time.time() if started is None else started) - STALE_AFTER_S
    removed = []
    for path in Path(folder).rglob(".*.tmp"):
        try:
            if TEMPORARY.match(path.name) and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed
