"""Team-level only: the words a report copies from documents lose every name and handle first.

The report's own figures are counts and medians. The one place it quotes people's writing is a
recurring contributing factor, and a factor may name someone ("Dana approved the change"), so its
text goes through a `Redactor`: @handles, the config's `language.people`, the engine's given
names (title case, as in the person checks) and any extra terms the source knows (the logins it
saw) become "someone".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from checks.config import Config
from checks.rules.language import compiled

PLACEHOLDER = "someone"
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9][\w-]*(?:/[\w.-]+)?")
_WORD = re.compile(r"\w[\w'’.-]*\w|\w")  # logins may start with a digit ("42dev")


class Redactor:
    def __init__(self, terms: Iterable[str] = (), given_names: Iterable[str] = ()):
        self.terms = frozenset(t.lower().lstrip("@") for t in terms if t and len(t) > 1)
        self.given = frozenset(given_names)

    @classmethod
    def for_config(cls, config: Config | None, extra: Iterable[str] = ()) -> Redactor:
        people = [
            word for name in (config["language"]["people"] if config else []) for word in str(name).split()
        ]
        return cls([*people, *extra], compiled().given_names)

    def __call__(self, text: str) -> str:
        text = _HANDLE.sub(PLACEHOLDER, text)
        return _WORD.sub(self._word, text)

    def _word(self, match: re.Match[str]) -> str:
        word = match.group(0)
        bare = word.lower().removesuffix("'s").removesuffix("’s")
        if bare in self.terms or word.removesuffix("'s").removesuffix("’s") in self.given:
            return PLACEHOLDER
        return word
