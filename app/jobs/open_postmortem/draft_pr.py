"""Job 1's optional draft pull request: the postmortem document, its timeline already started.

With `incidents.draft_pr: true`, the postmortem issue comes with a draft PR that adds the document
at `incidents.document_path`. The timeline is pre-filled from the incident issue's own timeline
(labels, assignments, comments, closing), each entry with its UTC timestamp and the actor's role
in the incident ("the reporter", "a responder"), never a name: a postmortem starts blameless.

Every step checks before it writes (branch, file, pull request), so a retry or a second delivery
finishes what is missing and never adds a second document or a second PR. A PR a human closed
stays closed.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from app.github import markers
from app.github.client import GitHubClient, GitHubError
from app.github.context import DOCS_URL, JobContext, format_time
from app.jobs.open_postmortem.plan import PostmortemPlan
from checks.output import safe_markdown

log = logging.getLogger(__name__)

BRANCH = "blameless/postmortem-{number}"
DRAFT_PR = "draft-postmortem"  # marker in the PR body: incident, postmortem

COMMIT_MESSAGE = "Add a draft postmortem for #{number}"
PR_TITLE = "Postmortem draft: {title}"
PR_BODY = (
    "A draft of the postmortem document for #{incident}, tracked in #{postmortem}.\n\n"
    "The timeline starts with what the incident issue recorded, with roles instead of names. "
    "The postmortem checks run on every push. [How to write one]({docs}#writing-a-postmortem)"
)
EVENT_TEXT = {
    "labeled": "added the label {label} to the incident issue",
    "unlabeled": "removed the label {label} from the incident issue",
    "assigned": "assigned the incident issue to a responder",
    "unassigned": "unassigned a responder from the incident issue",
    "commented": "commented on the incident issue",
    "closed": "closed the incident issue",
    "reopened": "reopened the incident issue",
    "renamed": "renamed the incident issue",
    "cross-referenced": "linked a related issue or pull request",
    "referenced": "referenced the incident issue from a commit",
}
OPENED_TEXT = "opened the incident issue"
ROLE_REPORTER = "the reporter"
ROLE_ASSIGNED = "the assigned responder"
ROLE_RESPONDER = "a responder"
ROLE_AUTOMATION = "automation"
_TIMELINE_HEADING = re.compile(r"(?im)^(#{2,3})[ \t]+timeline\b.*$")


def ensure_draft_pr(ctx: JobContext, plan: PostmortemPlan, postmortem: dict) -> dict | None:
    """The draft PR for this postmortem: found, or made from whatever steps are missing."""
    github, number = ctx.github, plan.incident_number
    branch = BRANCH.format(number=number)
    existing = github.list_pulls(head=f"{github.owner}:{branch}", state="all")
    if existing:
        return existing[0]  # open or closed by a human: either way, not ours to redo
    base = ctx.event.repository.get("default_branch") or github.get_repository()["default_branch"]
    path = document_path(ctx.config["incidents"]["document_path"], plan, postmortem)
    if not _ensure_branch(github, branch, base):
        return None
    if github.get_file(path, ref=branch) is None:
        events = github.list_timeline(number)
        document = prefill_timeline(plan.document, timeline_entries(ctx, events))
        _put_document(github, path, document, branch, number)
    return _open_pull(github, plan, postmortem, branch, base)


def _ensure_branch(github: GitHubClient, branch: str, base: str) -> bool:
    if github.get_branch_sha(branch) is not None:
        return True
    sha = github.get_branch_sha(base)
    if sha is None:
        log.warning("no base branch for the draft postmortem", extra={"base": base})
        return False
    github.create_branch(branch, sha)
    return True


def _put_document(github: GitHubClient, path: str, text: str, branch: str, number: int) -> None:
    try:
        github.put_file(path, text, branch=branch, message=COMMIT_MESSAGE.format(number=number))
    except GitHubError as exc:
        if exc.status != 422:  # 422: the file appeared meanwhile (another worker wrote it)
            raise


def _open_pull(
    github: GitHubClient, plan: PostmortemPlan, postmortem: dict, branch: str, base: str
) -> dict | None:
    marker = markers.render(DRAFT_PR, incident=plan.incident_number, postmortem=postmortem["number"])
    body = PR_BODY.format(incident=plan.incident_number, postmortem=postmortem["number"], docs=DOCS_URL)
    # The postmortem's title carries the incident's: it must not close anything in a squash merge.
    title = safe_markdown.title(PR_TITLE.format(title=postmortem["title"]))
    try:
        return github.create_pull(title=title, head=branch, base=base, body=f"{marker}\n{body}", draft=True)
    except GitHubError as exc:
        if exc.status != 422:  # 422: "A pull request already exists" (a concurrent worker)
            raise
        found = github.list_pulls(head=f"{github.owner}:{branch}", state="all")
        return found[0] if found else None


def document_path(template: str, plan: PostmortemPlan, postmortem: dict) -> str:
    """`incidents.document_path` with {date}, {number} and {slug} filled in.

    The date is the postmortem issue's creation date, not today: a retry on another day must
    write to the same path.
    """
    created = postmortem.get("created_at") or plan.due.isoformat()
    day = date.fromisoformat(created[:10]).isoformat()
    values = {"{date}": day, "{number}": str(plan.incident_number), "{slug}": slugify(plan.title)}
    for key, value in values.items():
        template = template.replace(key, value)
    return template


def slugify(title: str, limit: int = 50) -> str:
    title = re.sub(r"^(postmortem|near-miss review):\s*", "", title, flags=re.IGNORECASE)
    title = re.sub(r"\(#\d+\)$", "", title.strip())
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:limit].rstrip("-") or "incident"


# --- the timeline -------------------------------------------------------------------------------


def timeline_entries(ctx: JobContext, events: list[dict]) -> list[str]:
    """Timeline bullets from the incident issue's events, oldest first, roles instead of names."""
    incident = ctx.payload.get("issue") or {}
    entries = [(incident.get("created_at") or "", f"{ROLE_REPORTER} {OPENED_TEXT}")]
    for event in events:
        actor = event.get("actor") or event.get("user") or {}
        template = EVENT_TEXT.get(event.get("event", ""))
        if template is None or ctx.is_own(actor) or not event.get("created_at"):
            continue
        label = (event.get("label") or {}).get("name", "")
        text = template.format(label=safe_markdown.code(label))
        entries.append((event["created_at"], f"{role(actor, incident)} {text}"))
    return [f"- {format_time(when)} — {text}." for when, text in sorted(entries) if when]


def role(actor: dict, incident: dict) -> str:
    """The part someone played in the incident, which is all a postmortem needs to say."""
    login = (actor.get("login") or "").lower()
    if actor.get("type") == "Bot" or login.endswith("[bot]"):
        return ROLE_AUTOMATION
    if login and login == ((incident.get("user") or {}).get("login") or "").lower():
        return ROLE_REPORTER
    assignees = {(a.get("login") or "").lower() for a in incident.get("assignees") or []}
    return ROLE_ASSIGNED if login in assignees else ROLE_RESPONDER


def prefill_timeline(document: str, entries: list[str]) -> str:
    """Append `entries` to the end of the document's Timeline section (after its own lines)."""
    heading = _TIMELINE_HEADING.search(document)
    if heading is None or not entries:
        return document
    level = len(heading.group(1))
    after = re.compile(rf"(?m)^#{{1,{level}}}[ \t]")
    following = after.search(document, heading.end())
    end = following.start() if following else len(document)
    section = document[:end].rstrip("\n")
    return section + "\n" + "\n".join(entries) + "\n\n" + document[end:]
