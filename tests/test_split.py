"""One large document's language checks shared over processes: the same findings as one process."""

import itertools
import multiprocessing
from pathlib import Path

import pytest

from checks import split
from checks.config import Config
from checks.document.parse import parse
from checks.engine import check_text
from checks.rules.language import Found

EXAMPLES = Path(__file__).parent.parent / "examples" / "postmortems"
ALL = "\n".join(p.read_text("utf-8") for p in sorted(EXAMPLES.glob("*.md")))

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the split needs fork"
)


@pytest.fixture
def small_split(monkeypatch):
    # Split even documents of a few kilobytes, so the test stays quick.
    monkeypatch.setattr(split, "SPLIT_MIN_CHARS", 1_000)


def _config() -> Config:
    config = Config()
    data = {**config.data, "language": {**config["language"]}}
    data["language"]["terms"] = [{"pattern": "rollback", "message": "a custom term", "level": "notice"}]
    data["language"]["allow"] = ["be careful"]
    data["language"]["people"] = ["Priya"]
    return Config(data=data)


@pytest.mark.parametrize("config", [Config(), _config()], ids=["defaults", "terms-allow-people"])
@pytest.mark.parametrize("jobs", [2, 3])
def test_shared_findings_are_those_of_one_process(small_split, config, jobs):
    text = (ALL + "\n") * 6
    one = check_text(text, "big.md", config)
    shared = check_text(text, "big.md", config, jobs=jobs)
    assert one.findings  # the document has plenty to report
    assert shared.findings == one.findings
    assert [(f.level, f.suggestion, f.why) for f in shared.findings] == [
        (f.level, f.suggestion, f.why) for f in one.findings
    ]


def test_workers_send_back_hits_only(small_split):
    doc = parse((ALL + "\n") * 3, "big.md")
    shared = split.start(doc, Config(), 2)
    assert shared is not None
    try:
        hits = shared.hits()
    finally:
        shared.close()
    assert hits and all(isinstance(found, Found) for found in hits)


def test_shares_cover_every_prose_run_once_in_order():
    doc = parse((ALL + "\n") * 3, "big.md")
    for count in (1, 2, 5, 8, len(doc.prose) + 3):
        shares = split._shares(doc, count)
        assert shares[0][0] == 0 and shares[-1][1] == len(doc.prose)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(shares))
        assert all(first < end for first, end in shares)
        assert len(shares) <= count


def test_small_documents_and_one_job_stay_in_one_process():
    doc = parse(ALL, "small.md")
    assert split.start(doc, Config(), 4) is None  # below SPLIT_MIN_CHARS
    assert split.start(parse((ALL + "\n") * 60, "big.md"), Config(), 1) is None


def test_the_workers_start_once_the_prose_is_read_before_the_rest_is(small_split, monkeypatch):
    """`check_text` shares the prose out as soon as the parse has read it, and reads the timeline
    and the items while the workers check it: one start, with every prose run and nothing else yet."""
    text = (ALL + "\n") * 3
    whole = parse(text, "big.md")
    assert whole.prose and whole.timeline and whole.action_items
    seen = []
    real_start = split.start

    def start(doc, config, jobs):
        seen.append((len(doc.prose), len(doc.timeline), len(doc.action_items)))
        return real_start(doc, config, jobs)

    monkeypatch.setattr(split, "start", start)
    shared = check_text(text, "big.md", jobs=2)
    assert seen == [(len(whole.prose), 0, 0)]
    assert shared.findings == check_text(text, "big.md").findings
