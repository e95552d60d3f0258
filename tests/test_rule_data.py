"""The rule data itself: unique ids from file names, complete headers, compilable patterns, docs."""

import json
import re
from pathlib import Path

import yaml

from checks.findings import FAMILIES
from checks.rules.catalog import catalog

ROOT = Path(__file__).parent.parent
RULES = ROOT / "checks" / "rules"


def test_every_rule_file_loads_with_a_complete_header():
    files = sorted(RULES.glob("*/*.yaml"))
    assert len(files) == len(catalog())
    for path in files:
        rule = catalog()[f"{path.parent.name}.{path.stem}"]
        assert rule.family in FAMILIES
        assert rule.message and rule.why and len(rule.why) > 40, rule.id
        assert rule.file == path.relative_to(ROOT).as_posix()


def test_ids_are_unique_and_well_formed():
    ids = list(catalog())
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z-]+\.[a-z0-9-]+", rule_id) for rule_id in ids)


def _patterns(data):
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("pattern", "patterns", "match", "regex"):
                yield from value if isinstance(value, list) else [value]
            else:
                yield from _patterns(value)
    elif isinstance(data, list):
        for value in data:
            yield from _patterns(value)


def test_every_pattern_compiles():
    for path in RULES.glob("*/*.yaml"):
        for pattern in _patterns(yaml.safe_load(path.read_text())):
            if isinstance(pattern, str):
                re.compile(pattern)


def test_every_rule_is_documented_in_the_readme_under_its_id():
    readme = (ROOT / "README.md").read_text("utf-8")
    missing = [rule_id for rule_id in catalog() if f"#### `{rule_id}`" not in readme]
    assert missing == []


def _between(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    return text.split(start, 1)[1].split(end, 1)[0]


def test_readme_rule_reference_and_config_are_generated_from_the_data():
    """The README's rule list and commented config are the data's own; UPDATE_README=1 rewrites them."""
    import os

    from checks.cli import rules_markdown
    from checks.config import render_commented

    path = ROOT / "README.md"
    readme = path.read_text("utf-8")
    expected = {"rules": rules_markdown(), "config": f"```yaml\n{render_commented()}```\n"}
    if os.environ.get("UPDATE_README"):
        for name, body in expected.items():
            start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
            readme = readme.replace(start + _between(readme, name) + end, start + body + end)
        path.write_text(readme, "utf-8")
    for name, body in expected.items():
        assert _between(readme, name) == body, (
            f"README {name} section is stale: run UPDATE_README=1 pytest {__file__}"
        )


def test_rule_data_is_parsed_once_and_read_back_from_the_cache(tmp_path, monkeypatch):
    from checks import packaged
    from checks.rules import catalog as module

    monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("BLAMELESS_NO_CACHE", raising=False)
    fresh = dict(catalog())
    module.catalog.cache_clear()
    try:
        assert module.catalog() == fresh  # parsed, then stored
        (stored,) = tmp_path.glob("rules-*.json")
        parses = []
        monkeypatch.setattr(packaged, "load_yaml", lambda text: parses.append(text))
        module.catalog.cache_clear()
        cached = module.catalog()
        assert parses == []  # nothing parsed: all from the cache
        assert {k: (r.level, r.message, r.why, r.suggestion, r.data) for k, r in cached.items()} == {
            k: (r.level, r.message, r.why, r.suggestion, r.data) for k, r in fresh.items()
        }
        stored.write_text("{not json", "utf-8")  # a broken cache is parsed around, not trusted
        monkeypatch.undo()
        monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(tmp_path))
        module.catalog.cache_clear()
        assert module.catalog() == fresh
    finally:
        module.catalog.cache_clear()


def test_an_edited_rule_file_gets_a_cache_entry_of_its_own(tmp_path, monkeypatch):
    from checks.rules import catalog as module

    monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(tmp_path))
    files = module._rule_files()
    edited = [*files[:-1], (files[-1][0], files[-1][1], files[-1][2] + "\n# edited\n")]
    assert module.cache_path(files) != module.cache_path(edited)


def test_package_data_is_parsed_with_libyaml_when_pyyaml_has_it(monkeypatch):
    import yaml

    from checks import packaged

    loaders = []
    real_load = yaml.load
    monkeypatch.setattr(yaml, "load", lambda text, Loader: loaders.append(Loader) or real_load(text, Loader))
    assert packaged.load_yaml("a: [1, 2]") == {"a": [1, 2]}
    assert loaders == [getattr(yaml, "CSafeLoader", yaml.SafeLoader)]


def _tries_of(compiled) -> list[tuple[dict, list]]:
    tries = [*compiled.tries, compiled.strong, compiled.moral, compiled.weak]
    return [(trie.root, [getattr(p, "rule", p) for p in trie.payloads]) for trie in tries]


def test_phrase_tries_are_built_once_and_read_back_from_the_cache(tmp_path, monkeypatch):
    from checks.rules import language

    monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("BLAMELESS_NO_CACHE", raising=False)
    language.compiled.cache_clear()
    try:
        built = language.compiled()  # built, then stored
        (stored,) = tmp_path.glob("language-tries-*.json")
        builds = []
        real_build = language.built_trie_roots
        monkeypatch.setattr(language, "built_trie_roots", lambda *a: builds.append(a) or real_build(*a))
        language.compiled.cache_clear()
        cached = language.compiled()
        assert builds == []  # nothing expanded: all from the cache
        assert _tries_of(cached) == _tries_of(built)
        unless = [p.unless_followed_by.root for p in cached.tries[0].payloads if p.unless_followed_by]
        assert unless == [p.unless_followed_by.root for p in built.tries[0].payloads if p.unless_followed_by]
        assert unless  # the rule data has such entries: the comparison above compared something
        stored.write_text("[{", "utf-8")  # a broken cache is built around, not trusted
        language.compiled.cache_clear()
        assert _tries_of(language.compiled()) == _tries_of(built)
        assert len(builds) == 1
    finally:
        language.compiled.cache_clear()


def test_cached_tries_find_what_built_tries_find(tmp_path, monkeypatch):
    from checks.rules import language

    monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(tmp_path))
    text = "Kim should have been more careful; it was human error and nobody double-checked the runbook."
    tokens = language.tokenize(text)

    def hits():
        trie = language.compiled().tries[0]
        return [(i, end, p.rule) for i in range(len(tokens)) for end, p in trie.matches(tokens, i)]

    language.compiled.cache_clear()
    try:
        monkeypatch.setenv("BLAMELESS_NO_CACHE", "1")
        expected = hits()
        monkeypatch.delenv("BLAMELESS_NO_CACHE")
        language.compiled.cache_clear()
        hits()  # stores
        language.compiled.cache_clear()
        assert hits() == expected and expected
    finally:
        language.compiled.cache_clear()


def test_edited_phrases_get_a_trie_cache_entry_of_their_own(tmp_path, monkeypatch):
    from checks import packaged
    from checks.rules import language

    monkeypatch.setenv("BLAMELESS_CACHE_DIR", str(tmp_path))
    entry = {"phrases": ["be more careful"]}
    failures = {name: [] for name in language.FAILURE_TRIES}
    language._trie_roots([("language.vigilance", entry, False)], failures)
    language._trie_roots([("language.vigilance", {"phrases": ["be (more) careful"]}, False)], failures)
    stored = [
        json.loads(p.read_text("utf-8"))[0]["plain"] for p in sorted(tmp_path.glob("language-tries-*.json"))
    ]
    roots = [{word: json.loads(child) for word, child in root.items()} for root in stored]
    assert len(roots) == 2
    assert {"be": {"careful": {"": [0]}, "more": {"careful": {"": [0]}}}} in roots
    assert packaged.cache_path("language-tries", ["a"]) != packaged.cache_path("language-tries", ["b"])


def _found_by_trie(trie, tokens) -> list[tuple[int, int, str]]:
    return sorted(
        {
            (i, end, getattr(p, "rule", "phrase"))
            for i in range(len(tokens))
            for end, p in trie.matches(tokens, i)
        }
    )


def _found_by_hand(phrases: list[tuple[tuple[str, ...], str]], tokens) -> list[tuple[int, int, str]]:
    """Every (start, end, rule) where a phrase's words match the tokens one by one: the trie's
    job done the slow way, as the rule files describe the slots."""
    from checks.rules.language import POSSESSIVE, WILDCARD

    def fits(word: str, token) -> bool:
        if not token.is_word:
            return False
        return word == WILDCARD or (word == POSSESSIVE and token.is_possessive) or word == token.norm

    return sorted(
        {
            (i, i + len(words), rule)
            for i in range(len(tokens))
            for words, rule in phrases
            if i + len(words) <= len(tokens)
            and all(fits(w, t) for w, t in zip(words, tokens[i:], strict=False))
        }
    )


def test_stored_tries_find_every_phrase_the_rule_files_describe():
    """The stored tries take a phrase's first step from root children read as JSON text on first
    use, possessive and `*` slots included: they find exactly the phrases a word-by-word
    comparison finds, on text that starts phrases with a possessive and with a wildcard slot."""
    from checks.rules import language

    compiled = language.compiled()
    rules = {rid: r for rid, r in language.catalog().items() if r.family == "language"}
    plain = [
        (words, rule_id)
        for rule_id, entry, _ in language._pattern_entries(rules)
        if not entry.get("case_sensitive", False)
        for phrase in entry["phrases"]
        for words in language.expand_phrase(str(phrase))
    ]
    failures = rules["language.person"].data["failures"]
    text = (
        "It was Kim's fault, and Bob's mistake. Kim should have been more careful; nobody double checked "
        "it. He ignored the disk alert and forgot the runbook. It was human error. Alice's team didn't "
        "double-check, a careless, sloppy, negligent change by the on-call's deploy."
    )
    tokens = language.tokenize(text)
    found = _found_by_trie(compiled.tries[0], tokens)
    assert found == _found_by_hand(plain, tokens)
    assert {rule for _, _, rule in found} >= {"language.fault", "language.human-error"}
    assert any(tokens[start].is_possessive for start, _, _ in found)
    for name in language.FAILURE_TRIES:
        phrases = [
            (words, "phrase")
            for phrase in failures.get(name, [])
            for words in language.expand_phrase(str(phrase))
        ]
        assert _found_by_trie(getattr(compiled, name), tokens) == _found_by_hand(phrases, tokens)
    assert _found_by_trie(compiled.strong, tokens)
    # The text starts phrases of both slots: a possessive first word and a `*` inside a phrase.
    assert any(language.POSSESSIVE in words[:1] for words, _ in plain)
    assert any(language.WILDCARD in words for words, _ in plain + phrases)


def test_a_stored_trie_reads_only_the_root_children_a_text_asks_for():
    from checks.rules import language

    phrases = ["be careful", "human error", "sloppy", "* outage", "{possessive} fault"]
    roots = language.stored_roots({"plain": language._trie_of(phrases).root, "unless": [None]})
    trie = language.Trie(root=roots["plain"], payloads=[True])
    assert all(isinstance(child, str) for child in trie.root.values())
    tokens = language.tokenize("It was Kim's fault: a big outage, human error.")
    by_hand = [(words, "phrase") for phrase in phrases for words in language.expand_phrase(phrase)]
    assert _found_by_trie(trie, tokens) == _found_by_hand(by_hand, tokens)
    assert [(start, end) for start, end, _ in _found_by_hand(by_hand, tokens)] == [(2, 4), (6, 8), (9, 11)]
    assert trie.root["human"] == {"error": {"": [0]}}  # read, and kept read
    assert isinstance(trie.root["be"], str) and isinstance(trie.root["sloppy"], str)
    assert roots["unless"] == [None]
