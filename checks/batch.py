"""Checking many files: read each, check it, keep only its findings; over processes when it pays.

A directory of a thousand postmortems is checked by a pool of worker processes, each sent file
names and sending back findings (never the parsed documents, which are many times the text's
size), so memory stays flat however many files there are. The parent checks the first file
itself before the pool starts: on Linux the workers are forked from it with the rule data already
compiled.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module for reading files before it needs the engine
    from checks.config import Config
    from checks.findings import Finding, Result
    from checks.results_cache import ResultsCache

PARALLEL_MIN_FILES = 24  # below this, starting workers costs more than it saves
CHUNK_FILES = 8  # files per task sent to a worker
STDIN = "-"
# A long postmortem is some 100 KB; past this a "document" is a mistake or an attack (/dev/zero).
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


class UnreadableFile(Exception):
    """A file that is not UTF-8 text or cannot be read; the message names it."""


def outside(path: Path, tree: Path) -> bool:
    """True when `path`, symbolic links resolved, does not lie inside `tree`."""
    return not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(tree))


def read_document(path: Path, within: Path | None = None) -> str:
    """The text of one document (or standard input for `-`), read only when it is a regular file
    (a FIFO or a device would hang or never end) of at most MAX_DOCUMENT_BYTES and, with `within`,
    inside that directory once symbolic links are resolved. Anything else is an UnreadableFile
    naming the file."""
    if path.as_posix() == STDIN:
        return _decoded(path, sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1))
    if within is not None and outside(path, within):
        raise UnreadableFile(f"{path}: a symbolic link that leads out of {within}; not read")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)  # a FIFO opens at once
    try:
        descriptor = os.open(os.path.realpath(path), flags)
    except OSError as exc:
        raise UnreadableFile(f"{path}: {exc.strerror}") from None
    with open(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UnreadableFile(f"{path}: not a regular file (a device, pipe or socket); not read")
        return _decoded(path, file.read(MAX_DOCUMENT_BYTES + 1))


def _decoded(path: Path, data: bytes) -> str:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UnreadableFile(f"{path}: larger than {MAX_DOCUMENT_BYTES / 2**20:g} MiB; not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{path}: not UTF-8 text (byte {exc.start})") from None


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_paths(
    files: list[Path],
    config: Config,
    *,
    keep_documents: bool = True,
    jobs: int | None = None,
    stdin_name: str = "<stdin>",
    within: Path | None = None,
    cache: bool = False,
) -> list[Result]:
    """One Result per file, in order. Without `keep_documents` each Result holds only findings
    (its `document` is None), and with enough files the work is spread over `jobs` processes.
    With `cache` (and without `keep_documents`), files whose text, config and engine are those of
    an earlier run get that run's findings back unchecked (`checks.results_cache`)."""
    jobs = available_cpus() if jobs is None else max(1, jobs)
    if cache and not keep_documents:
        from checks.results_cache import ResultsCache

        kept = ResultsCache.open(config.data)
        if kept is not None:
            return _check_changed(files, config, kept, jobs, stdin_name, within)
    return _check_all(files, config, keep_documents, jobs, stdin_name, within)


def _check_all(
    files: list[Path], config: Config, keep_documents: bool, jobs: int, stdin_name: str, within: Path | None
) -> list[Result]:
    return [result for result, _ in _checked(files, config, keep_documents, jobs, stdin_name, within)]


def _checked(
    files: list[Path], config: Config, keep_documents: bool, jobs: int, stdin_name: str, within: Path | None
) -> list[tuple[Result, str]]:
    """Each file's Result with a digest of the very text it was found in ("" for standard input),
    so that a file saved while the run reads it is never remembered under another text's digest."""
    from checks.findings import Result

    serial = keep_documents or jobs == 1 or len(files) < PARALLEL_MIN_FILES
    if serial or any(path.as_posix() == STDIN for path in files):
        # Few files: each is checked here, a large one with its language checks shared over the
        # processes (checks.split), which forks only for a document large enough to pay for it.
        return [_check_one(path, config, keep_documents, stdin_name, within, jobs) for path in files]
    from concurrent.futures import ProcessPoolExecutor  # only here: 10 ms of imports otherwise

    first = _check_one(files[0], config, False, stdin_name, within)
    rest = [str(path) for path in files[1:]]
    # A few files per task: each round trip to a worker costs about as much as checking a small
    # file, and small tasks still share out evenly at the end of the run.
    chunks = [rest[i : i + CHUNK_FILES] for i in range(0, len(rest), CHUNK_FILES)]
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=_fork_if_possible(), initializer=_start_worker, initargs=(config, within)
    ) as pool:
        found = [outcome for chunk in pool.map(_findings_of_chunk, chunks) for outcome in chunk]
    results = [first]
    for name, outcome in zip(rest, found, strict=True):
        if isinstance(outcome, str):
            raise UnreadableFile(outcome)
        findings, digest = outcome
        results.append((Result(path=Path(name).as_posix(), document=None, findings=findings), digest))
    return results


def _check_changed(
    files: list[Path], config: Config, kept: ResultsCache, jobs: int, stdin_name: str, within: Path | None
) -> list[Result]:
    """`check_paths` with the results cache: each file is read and looked up, and only the files
    not found are checked (over processes when there are enough of them), then remembered under
    the digest of the text they were checked in."""
    from checks.findings import Result
    from checks.results_cache import text_digest

    results: list[Result | None] = []
    unchecked: list[tuple[int, Path]] = []  # (place in `files`, path)
    for path in files:
        name = path.as_posix()
        # Standard input (an editor's unsaved buffer) is checked every time and never kept.
        found = None if name == STDIN else kept.findings(name, text_digest(read_document(path, within)))
        results.append(None if found is None else Result(path=name, document=None, findings=found))
        if found is None:
            unchecked.append((len(results) - 1, path))
    checked = _checked([path for _, path in unchecked], config, False, jobs, stdin_name, within)
    for (place, _), (result, digest) in zip(unchecked, checked, strict=True):
        results[place] = result
        if digest and all(f.path == result.path for f in result.findings):
            kept.remember(result.path, digest, result.findings)
    kept.save({path.as_posix() for path in files})
    return results


def _check_one(
    path: Path, config: Config, keep_documents: bool, stdin_name: str, within: Path | None, jobs: int = 1
) -> tuple[Result, str]:
    from checks.engine import check_text
    from checks.findings import Result
    from checks.results_cache import text_digest

    stdin = path.as_posix() == STDIN
    text = read_document(path, within)
    result = check_text(text, stdin_name if stdin else path.as_posix(), config, jobs)
    if not keep_documents:
        result = Result(path=result.path, document=None, findings=result.findings)
    return result, "" if stdin else text_digest(text)


_worker: dict = {}  # in a worker process: the run's config and `within`, sent once at its start


def _start_worker(config: Config, within: Path | None) -> None:
    _worker.update(config=config, within=within)


def _findings_of_chunk(names: list[str]) -> list[tuple[list[Finding], str] | str]:
    return [_findings_of(name, _worker["config"], _worker["within"]) for name in names]


def _findings_of(name: str, config: Config, within: Path | None) -> tuple[list[Finding], str] | str:
    """In a worker: the findings for one file with the digest of the text they were found in, or
    the message saying why it could not be read."""
    from checks.engine import check_text
    from checks.results_cache import text_digest

    try:
        text = read_document(Path(name), within)
    except UnreadableFile as exc:
        return str(exc)
    return check_text(text, Path(name).as_posix(), config).findings, text_digest(text)


def _fork_if_possible():
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else methods[0])
