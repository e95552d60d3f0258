"""Language tokens: a prose run's tokens stay exactly what the first tokenizer made of it.

The tokenizer and the prose-run structures are tuned for speed; a token that moved, merged or
changed kind would move or drop findings. Each test compares with a copy of the tokenizer as it
was before the tuning, on hand-picked awkward text, on every bundled postmortem and on random
strings drawn from the characters the token pattern treats specially.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from checks.config import Config
from checks.document.parse import parse
from checks.rules import language

ROOT = Path(__file__).resolve().parent.parent

# The token pattern and tokenizer before the speed work, kept as the reference.
REFERENCE_PATTERN = re.compile(
    r"@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][\w.-]*)?"
    r"|[^\W_](?:\w|['’.\-](?=\w))*"
    r"|[^\w\s]"
)


def reference_tokens(text: str) -> list[tuple]:
    lowered = text.lower().replace("’", "'")
    aligned = len(lowered) == len(text)
    tokens = []
    for match in REFERENCE_PATTERN.finditer(text):
        start, end = match.span()
        value = text[start:end]
        if value[0] != "@":
            norm = lowered[start:end] if aligned else value.lower().replace("’", "'")
            tokens.append((value, norm, start, end, "word" if value[0].isalnum() else "punct"))
        elif end - start == 1 or (start and text[start - 1].isalnum()):
            # A lone "@" names nobody (once a handle: "caused by @ the script" named "@").
            tokens.append(("@", "@", start, start + 1, "punct"))
        else:
            tokens.append((value, value.lower().replace("’", "'"), start, end, "handle"))
    return [(*t, t[4] != "punct", t[1].endswith("'s") and t[1] not in language.CONTRACTIONS) for t in tokens]


def tokens(text: str) -> list[tuple]:
    return [
        (t.text, t.norm, t.start, t.end, t.kind, t.is_word, t.is_possessive) for t in language.tokenize(text)
    ]


AWKWARD = [
    "",
    "   ",
    "Alice's deploy didn't roll back; the on-call’s pager (v1.2.3) was silent.",
    "It's Bob’s fault… or is it? She's sure it’s the DB's.",
    "Ping @alice, @org/team-sre.core and @dependabot[bot]; mail ops@example.com or a@b.",
    "@-dash @9lives @ alone, x@y@z, @@double, (@paren) and trailing @",
    "Line one\r\nLine two\r\n\r\n- item\ttabbed",
    "Emoji 🔥 broke the 👩‍💻 build 🚀! ✅ done.",
    "snake_case _leading trailing_ __dunder__ a_b-c.d'e’f",
    "Ends with a dot. Ellipsis... dash- -dash --double-- it'' ''quoted'' don’’t",
    "v1.2. 3.14.15 10,000 1e-9 2026-03-14T14:02Z 14:02 UTC",
    "ΟΔΟΣ ΟΣ:Α Σ. İstanbul İİ straße ǅemal Ⅻ ½ ²",
    "Naïve café déjà-vu e\u0301 combining \u0301mark",
    "“Be more careful” — said nobody; «quoted» ‘single’ `code`",
    "The team's, the teams’, James' and Jesus’s; one's it's let's",
    # In an email address the "@" is a mark of its own, and "bob" and "example" are words: a
    # token's offset must be its own, not that of an earlier copy of the same word.
    "mail a@bob bob, ops@example.com example.com, x@y@z y z and __x__ x",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_awkward_text_tokenizes_as_before(text):
    assert tokens(text) == reference_tokens(text)


def bundled_documents() -> list[str]:
    paths = sorted((ROOT / "examples").rglob("*.md")) + sorted((ROOT / "tests" / "data").glob("*.md"))
    return [path.read_text("utf-8") for path in paths]


def test_every_bundled_prose_run_tokenizes_as_before():
    checked = 0
    for source in bundled_documents():
        for prose in parse(source, "pm.md", Config()).prose:
            assert tokens(prose.text) == reference_tokens(prose.text), prose.text
            checked += 1
    assert checked > 100


# The characters at the pattern's edges: word characters, the marks kept inside words, the
# handle sign and its word, whitespace (the tokenizer steps over the gaps between tokens, white
# space and "_", in one go: Unicode's spaces and separators too), case-changing letters and
# characters outside the BMP.
SPECIAL = "aZ9_'’.-@/ \r\n\t\u00a0\u2028\u3000\x0b\x1cİΣσ😀é\u0301ß,;:()[]\"“”"


def test_random_strings_tokenize_as_before():
    randomness = random.Random(20260314)
    for _ in range(3000):
        text = "".join(randomness.choice(SPECIAL) for _ in range(randomness.randint(1, 24)))
        assert tokens(text) == reference_tokens(text), repr(text)
