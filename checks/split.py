"""One large document's language checks shared over processes: prose runs out, hits back.

The language checks are most of the time a large document takes once it is parsed, and each
prose run is checked on its own (`language.prose_hits`). With `--jobs` above one and a document
of at least SPLIT_MIN_CHARS, the parent forks workers after parsing: they inherit the parsed
document from the parent's memory (it is never pickled or sent) and each checks a contiguous
share of the prose runs, sending back only its hits. The parent meanwhile runs the other rule
families, then puts the shares back in document order, so everything order-dependent (which of
two hits on one place is kept, one reminder per action item) happens exactly as in one process.

Only where `fork` exists (Linux; macOS offers it too): elsewhere a worker would have to be sent
the document, which would cost more than it saves, so the checks stay in one process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from checks.config import Config
    from checks.document.model import Document
    from checks.rules.language import Found

# Forking and starting workers costs some tens of milliseconds: about what the language checks
# of 50 KB of prose take. Below this size the document is checked in one process.
SPLIT_MIN_CHARS = 128 * 1024
SHARES_PER_JOB = 4  # several shares per worker, so one slow share does not hold up the end

# In a forked worker: the parsed document and config, inherited from the parent at the fork.
_inherited: tuple[Document, Config] | None = None


def _shares(doc: Document, count: int) -> list[tuple[int, int]]:
    """[first, end) ranges of prose runs, contiguous, each about the same amount of text."""
    sizes = [len(prose.text) for prose in doc.prose]
    total = sum(sizes)
    ranges, first, filled = [], 0, 0
    for index, size in enumerate(sizes):
        filled += size
        closes = len(ranges) + 1 < count and index + 1 < len(sizes)
        if closes and filled * count >= total * (len(ranges) + 1):
            ranges.append((first, index + 1))
            first = index + 1
    ranges.append((first, len(sizes)))
    return ranges


def _prose_hits_of(share: tuple[int, int]) -> list[Found]:
    from checks.rules import language

    doc, config = _inherited
    return language.prose_hits(doc, config, *share)


class SharedLanguage:
    """The language checks' prose hits, being computed by forked workers."""

    def __init__(self, pool: ProcessPoolExecutor, pending: list[Future]):
        self._pool = pool
        self._pending = pending

    def hits(self) -> list[Found]:
        """Every prose run's hits in document order, once the workers are done. A worker that
        dies raises BrokenProcessPool here rather than leaving the run waiting."""
        return [found for future in self._pending for found in future.result()]

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def start(doc: Document, config: Config, jobs: int) -> SharedLanguage | None:
    """Start sharing the language checks of `doc` over `jobs` processes, or None when it would
    not pay (one job, a small document) or cannot be done without sending the document."""
    global _inherited
    if jobs < 2 or len(doc.source) < SPLIT_MIN_CHARS or len(doc.prose) < 2:
        return None
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    from concurrent.futures import ProcessPoolExecutor

    from checks.rules import language
    from checks.rules.language_model import model as trained

    language.compiled()  # the rule data and the model loaded once here, inherited by every worker
    trained.load()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))
    _inherited = (doc, config)
    try:
        # With fork, the first submit starts every worker at once, so they all see `_inherited`.
        pending = [pool.submit(_prose_hits_of, share) for share in _shares(doc, jobs * SHARES_PER_JOB)]
    finally:
        _inherited = None  # the workers have their copy; the parent keeps no extra reference
    return SharedLanguage(pool, pending)
