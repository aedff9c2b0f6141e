"""File plumbing: atomic writes (tmp sibling + rename), JSON/JSONL helpers, '-' as stdin/stdout.
Nothing here knows about models or datasets."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from vitcli.runtime.errors import ConfigError, DataError

MAX_LINE_BYTES = 64 * 1024 * 1024  # a JSONL line longer than this is refused, not buffered forever
# json.loads raises more than JSONDecodeError on hostile input: ValueError for integers over 4300 digits,
# RecursionError for deeply nested arrays. All of them mean "not valid JSON" to a reader.
JSON_ERRORS = (ValueError, RecursionError)


def json_error_message(e: BaseException) -> str:
    """The reason json.loads gave up, as one short line."""
    if isinstance(e, json.JSONDecodeError):
        return e.msg
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__


def iter_lines(f: IO[Any], limit: int | None = None) -> Iterator[tuple[int, Any, bool]]:
    """(line_number, line, too_long) for a text or binary file, never holding more than `limit` (default
    MAX_LINE_BYTES) of one line in memory: the rest of an overlong line is read and dropped in pieces."""
    limit = MAX_LINE_BYTES if limit is None else limit
    lineno = 0
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        lineno += 1
        too_long = len(line) > limit
        if too_long:
            end = line[-1:]
            while end not in ("\n", b"\n"):
                end = f.readline(1 << 20)[-1:]
                if not end:
                    break
            line = line[:0]
        yield lineno, line, too_long


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_free(path: Path, overwrite: bool, flag: str = "--out") -> None:
    """Refuse to clobber an existing output unless the user said --overwrite."""
    if path.exists() and not overwrite:
        raise ConfigError(
            f"output '{path}' already exists", f"pass --overwrite to replace it, or choose another {flag}"
        )


@contextlib.contextmanager
def atomic_dir(final: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `final`, on failure it is removed."""
    final = Path(final)
    check_output_free(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the permissions a plain mkdir would
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    else:
        tmp.rename(final)


@contextlib.contextmanager
def atomic_write(final: Path | str, mode: str = "w", overwrite: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary sibling for writing; rename over `final` only when the block succeeds.
    `final == '-'` writes to stdout instead."""
    if str(final) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    final = Path(final)
    if not overwrite:
        check_output_free(final, overwrite, "--output")
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp_name, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_json(path: Path | str, obj: Any) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_jsonl(path: Path | str, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def open_text(path: Path | str) -> IO[str]:
    """Open a UTF-8 text file, or stdin for '-'; a missing file is a DataError with a hint."""
    if str(path) == "-":
        return sys.stdin
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file '{p}' not found", "check the path")
    return p.open("r", encoding="utf-8", errors="strict")


def read_json(path: Path | str) -> Any:
    """Read a whole JSON document with errors that name the file and position."""
    try:
        with open_text(path) as f:
            return json.load(f)
    except UnicodeDecodeError as e:
        raise DataError(f"'{path}' is not valid UTF-8 (byte {e.start})", "re-encode the file as UTF-8") from None
    except json.JSONDecodeError as e:
        raise DataError(
            f"'{path}' is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
            "fix the file or check that it is the right one",
        ) from None
    except JSON_ERRORS as e:
        raise DataError(
            f"'{path}' is not valid JSON: {json_error_message(e)}", "fix the file or check that it is the right one"
        ) from None


def iter_jsonl(path: Path | str) -> Iterator[tuple[int, Any]]:
    """Yield (line_number, object) for each non-blank line, streaming; bad lines raise DataError."""
    f = open_text(path)
    try:
        for lineno, line, too_long in iter_lines(f):
            if too_long:
                raise DataError(
                    f"line {lineno} of '{path}' is longer than {MAX_LINE_BYTES} bytes",
                    "split the record or check the file format",
                )
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except JSON_ERRORS as e:
                raise DataError(
                    f"line {lineno} of '{path}' is not valid JSON: {json_error_message(e)}", "fix or remove that line"
                ) from None
    except UnicodeDecodeError as e:
        raise DataError(f"'{path}' is not valid UTF-8 (byte {e.start})", "re-encode the file as UTF-8") from None
    finally:
        if f is not sys.stdin:
            f.close()
