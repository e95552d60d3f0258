"""The issue's text: the title and body of an action item's issue, written from the document."""

from __future__ import annotations

from app.github.client import TITLE_MAX
from app.github.context import DOCS_URL
from app.jobs.action_items.index import render_item_marker
from app.jobs.action_items.markdown import NONE, SHORT_SHA
from app.jobs.action_items.model import DocPlan, Owner, Planned, Run
from checks.output.safe_markdown import code, inline, mention
from checks.output.safe_markdown import title as plain_title

# User-facing text.
TYPE_WORDS = {
    "guardrail": "guardrail",
    "constraint": "constraint",
    "decision-policy": "decision-policy change",
}
DONE_MEANS = {
    "guardrail": (
        "the system blocks or catches this failure on its own, with no step that depends on "
        "someone's memory, and the guardrail has been seen to work once (in a test, a drill or "
        "a real event)."
    ),
    "constraint": (
        "the limit is enforced by the system (code, configuration or policy as code) rather "
        "than by agreement, and a change that would break it is refused."
    ),
    "decision-policy": (
        "the new rule for who decides what, and when, is written where that decision is made "
        "(runbook, on-call policy, review template), and the people who make it can find it."
    ),
}
ISSUE_BODY = """{marker}
A **{type_word}** from a blameless postmortem: a change to the system, so that this kind of \
incident is less likely or less harmful next time.

> {text}

| | |
|---|---|
| **Owner** | {owner} |
| **Due** | {due} |
| **Addresses** | {factor} |
| **Postmortem** | {postmortem} |
| **Incident** | {incident} |
| **Document** | [{path}]({url}) at `{short_sha}` (item {item_id}, from #{pr}) |

**Done means** {done}
{owner_note}
Edits to this item in the document (text, owner, due date) update this issue. \
[How action items become issues]({docs}#from-action-items-to-issues)
"""
OWNER_USER = "{login}"
OWNER_FOR_TEAM = "{login} (for the {team} team)"
OWNER_TEAM_ONLY = "the {team} team (no one assigned)"
NOT_ASSIGNABLE_NOTE = (
    "\nGitHub did not accept {login} as an assignee in this repository (the account may not "
    "have access yet), so this issue has no assignee for now. Adding them to the repository, "
    "or naming another owner in the document, should fix that.\n"
)
TEAM_UNASSIGNED_NOTE = (
    "\nThe owner is the {team} team. No responsible user is set for it in "
    "`action_items.team_owners`, so this issue is unassigned; one person from the team with the "
    "authority to ship it could take it.\n"
)
NOT_STATED = "not stated in the document"
NO_POSTMORTEM = "no postmortem issue found"


def render_issue(run: Run, doc: DocPlan, planned: Planned, *, sha: str, pr: int) -> tuple[str, str]:
    """Title and body of an item's issue, as it would be written from the document at `sha`."""
    item, owner = planned.item, planned.owner
    marker = render_item_marker(run.github.full_name, doc, planned, sha=sha, pr=pr)
    body = ISSUE_BODY.format(
        marker=marker,
        type_word=TYPE_WORDS.get(item.type or "", item.type or ""),
        text=inline(item.text),
        owner=owner_text(owner),
        due=item.due.isoformat() if item.due else NONE,
        factor=inline(planned.factor) if planned.factor else NOT_STATED,
        postmortem=f"#{doc.postmortem}" if doc.postmortem else NO_POSTMORTEM,
        incident=f"#{doc.incident}" if doc.incident else NONE,
        path=code(doc.path, cell=True),
        url=doc.url if sha == doc.sha else doc.url.replace(doc.sha, sha, 1),
        short_sha=sha[:SHORT_SHA],
        item_id=code(item.id, cell=True),
        pr=pr,
        done=DONE_MEANS.get(item.type or "", DONE_MEANS["guardrail"]),
        owner_note=owner_note(run, owner),
        docs=DOCS_URL,
    )
    return issue_title(item.text), body


def issue_title(text: str) -> str:
    text = plain_title(text)
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def owner_text(owner: Owner | None) -> str:
    """The owner as the issue names them: only an item's owner is ever @mentioned."""
    if owner is None:
        return NONE
    if owner.team and owner.login:
        return OWNER_FOR_TEAM.format(login=mention(owner.login), team=code(owner.team, cell=True))
    if owner.team:
        return OWNER_TEAM_ONLY.format(team=code(owner.team, cell=True))
    return OWNER_USER.format(login=mention(owner.login))


def owner_note(run: Run, owner: Owner | None) -> str:
    if owner is None:
        return ""
    if owner.login is None:
        return TEAM_UNASSIGNED_NOTE.format(team=code(owner.team))
    if not run.assignable(owner.login):
        return NOT_ASSIGNABLE_NOTE.format(login=mention(owner.login))
    return ""
