"""The callback journal: where a callback is kept when the database cannot take it.

Append-only files under one directory (CALLBACK_JOURNAL_DIR, default instance/callback-journal),
one file per process, so gunicorn workers never interleave. A record is one line written with one
write() to a file opened O_APPEND, then flushed to disk with os.fsync before the caller answers 2xx:

    \\n<sha256 of the JSON, hex> <JSON>\\n

The leading newline puts a record torn by a crash on a line of its own; a line whose checksum does
not match is skipped (and counted), so a torn last line never hides the records after it. Every
record carries a random `id`: replaying it is idempotent (the database keeps `journal:<id>` as a
unique key), so a replay that dies half way is simply run again.

Replay takes a file out of the writers' way first (rename to `*.replay`), then holds its lock while
reading; a writer checks, under the same lock, that the name it opened still points at its file,
so nothing is ever appended to a file already read. Stdlib only (and escrow.errors).
"""
import fcntl
import hashlib
import json
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Iterator

from escrow.errors import EscrowError

log = logging.getLogger(__name__)

ACTIVE_SUFFIX = ".journal"
REPLAY_SUFFIX = ".replay"


class JournalError(EscrowError):
    """The journal could not keep a record (disk full, directory unwritable, ...)."""


class CallbackJournal:
    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    # --- writing ------------------------------------------------------------------------
    def append(self, record: dict) -> str:
        """Keep `record` durably (fsync'd) and return its id; raises JournalError if it cannot."""
        record = {**record, "id": record.get("id") or secrets.token_hex(12)}
        payload = json.dumps(record, separators=(",", ":"), sort_keys=True)
        line = f"\n{_checksum(payload)} {payload}\n".encode()
        try:
            self._write(line)
        except OSError as error:
            raise JournalError(f"callback journal at {self.directory} cannot be written: {error}") from error
        return record["id"]

    def _write(self, line: bytes) -> None:
        created = not self.directory.is_dir()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if created:
            _fsync_directory(self.directory.parent)
        path = self.directory / f"{socket.gethostname()}-{os.getpid()}{ACTIVE_SUFFIX}"
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, path):   # not renamed away by a replay since we opened it
                    os.write(fd, line)
                    os.fsync(fd)
                    break
            finally:
                os.close(fd)
        _fsync_directory(self.directory)

    # --- replaying -----------------------------------------------------------------------
    def batches(self) -> Iterator[tuple[Path, list[dict]]]:
        """Each journal file taken out of the writers' way, with its intact records, oldest first.
        Call `done(path)` once every record of a batch is safely in the database."""
        if not self.directory.is_dir():
            return
        for active in sorted(self.directory.glob(f"*{ACTIVE_SUFFIX}")):
            try:
                os.rename(active, active.with_name(f"{active.stem}-{secrets.token_hex(4)}{REPLAY_SUFFIX}"))
            except FileNotFoundError:
                continue
        for path in sorted(self.directory.glob(f"*{REPLAY_SUFFIX}")):
            yield path, self._read(path)

    def _read(self, path: Path) -> list[dict]:
        with open(path, "rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)   # a writer that opened it before the rename is done
            lines = handle.read().split(b"\n")
        records, torn = [], 0
        for line in lines:
            if not line.strip():
                continue
            record = _parse(line)
            if record is None:
                torn += 1
            else:
                records.append(record)
        if torn:
            log.warning("callback journal %s: %s damaged line(s) skipped (a write cut short by a crash)",
                        path.name, torn)
        return records

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _fsync_directory(self.directory)

    def pending_files(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(1 for path in self.directory.iterdir() if path.suffix in (ACTIVE_SUFFIX, REPLAY_SUFFIX))


def _checksum(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()


def _parse(line: bytes) -> dict | None:
    checksum, _, payload = line.strip().partition(b" ")
    try:
        text = payload.decode()
        if _checksum(text) != checksum.decode("ascii"):
            return None
        record = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("id"), str) else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _fsync_directory(directory: Path) -> None:
    """A new or removed file name is durable only once its directory is flushed too."""
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
