"""Hidden markers: rendered, found again in longer text, and never ambiguous."""

from __future__ import annotations

import pytest

from app.github import markers


def test_render_and_find_round_trip_inside_other_text():
    marker = markers.render("postmortem-for", repo="octo/app", issue=12, kind="near-miss")
    assert marker == "<!-- blameless-bot:postmortem-for repo=octo/app issue=12 kind=near-miss -->"
    text = f"Intro\n{marker}\nBody <!-- a human comment -->"
    assert markers.find(text, "postmortem-for") == {"repo": "octo/app", "issue": "12", "kind": "near-miss"}
    assert markers.find(text, "postmortem-link") is None
    assert markers.find(None, "postmortem-for") is None


def test_has_matches_all_given_fields():
    text = markers.render("postmortem-for", repo="octo/app", issue=12)
    assert markers.has(text, "postmortem-for", repo="octo/app", issue=12)
    assert not markers.has(text, "postmortem-for", repo="octo/app", issue=1)  # not a prefix match
    assert not markers.has(text, "postmortem-link")


def test_markers_without_fields_and_several_in_one_text():
    text = markers.render("config-problem") + "\n" + markers.render("postmortem-link", postmortem=3)
    assert markers.find(text, "config-problem") == {}
    assert markers.find(text, "postmortem-link") == {"postmortem": "3"}


@pytest.mark.parametrize("value", ["two words", "x-->y"])
def test_values_that_would_break_the_comment_are_refused(value):
    with pytest.raises(ValueError):
        markers.render("claim", delivery=value)
