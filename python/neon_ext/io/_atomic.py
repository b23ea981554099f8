"""Output files that appear complete or not at all.

Each output is written to a temporary file next to its final path (same
folder, hence same file system) and renamed over the final path with
``os.replace`` only when everything succeeded. An error, Ctrl-C or SIGTERM
before that removes the temporary files, so no truncated file ever stands
where a finished result is expected, and an older result is left untouched.

SIGKILL (or a power cut) cannot be caught: its temporary file stays. The
temporary's name carries the writing process's id (``.NAME.PID.XXXX.part``),
so the next run writing the same output removes the ones whose process is
gone (:func:`remove_stale`).
"""

from __future__ import annotations

import errno
import os
import re
import tempfile

__all__ = ["AtomicFiles", "remove_stale"]


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: assume it still writes
    return True


def remove_stale(final_path) -> list:
    """Remove temporary files of `final_path` left by processes that no longer
    run (killed with SIGKILL); returns the paths removed."""
    directory, name = os.path.split(os.path.abspath(os.fspath(final_path)))
    pattern = re.compile(r"\." + re.escape(name) + r"\.(\d+)\.[^.]+\.part\Z")
    removed: list[str] = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry)
        if match and int(match.group(1)) != os.getpid() and not _process_alive(int(match.group(1))):
            try:
                os.remove(os.path.join(directory, entry))
                removed.append(os.path.join(directory, entry))
            except OSError:
                pass
    return removed


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicFiles:
    """Temporary files renamed to their final paths together on success.

    >>> with AtomicFiles() as files:                  # doctest: +SKIP
    ...     np.save(files.temporary("out.npy"), a)    # written to .out.npy.XXXX.part
    ... # here out.npy exists; after an exception it does not
    """

    def __init__(self):
        self._pending: list[tuple[str, str]] = []

    def temporary(self, final_path) -> str:
        """A new empty temporary file for `final_path`; returns its path."""
        final_path = os.path.abspath(os.fspath(final_path))
        directory, name = os.path.split(final_path)
        if os.path.isdir(final_path):
            raise IsADirectoryError(f"{final_path} is a directory")
        if not os.path.isdir(directory):
            raise FileNotFoundError(errno.ENOENT, f"the folder of {name} does not exist", directory)
        remove_stale(final_path)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.{os.getpid()}.", suffix=".part")
        os.close(fd)
        self._pending.append((tmp, final_path))
        return tmp

    def commit(self) -> None:
        mode = _default_mode()  # mkstemp files are 0600; give them a plain open()'s mode
        for tmp, final in self._pending:
            os.chmod(tmp, mode)
            os.replace(tmp, final)
        self._pending.clear()

    def discard(self) -> None:
        for tmp, _ in self._pending:
            try:
                os.remove(tmp)
            except OSError:
                pass
        self._pending.clear()

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.discard()
                raise
        else:
            # An OSError about a temporary file (disk full) names the final path.
            if isinstance(exc, OSError) and exc.filename:
                finals = {tmp: final for tmp, final in self._pending}
                exc.filename = finals.get(exc.filename, exc.filename)
            self.discard()
