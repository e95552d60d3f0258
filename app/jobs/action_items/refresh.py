"""Status flowing back: an action-item issue closed or reopened re-renders the lists it is in."""

from __future__ import annotations

from datetime import date

from app.github import markers
from app.github.client import GitHubClient, NotFound
from app.github.context import DOCS_URL, utc_now
from app.jobs.action_items.index import Index, item_marker, load_index, parse_int, postmortems_of
from app.jobs.action_items.model import DocPlan, ItemMarker, Run
from app.jobs.action_items.pacing import Pacer
from app.jobs.action_items.plan import plan_documents
from app.jobs.action_items.status import publish_status, section_fields
from checks.config import Config

# The marker of the postmortem's comment once every item is closed (see app/github/markers.py).
DONE = "action-items-done"  # the postmortem comment once every item is closed

# User-facing text.
DONE_TEXT = (
    "{marker}\nEvery action item of this postmortem is now closed{closing}. "
    "[How action items become issues]({docs}#from-action-items-to-issues)"
)
DONE_CLOSING = ", so the postmortem is closed too (`action_items.close_postmortem_when_done`)"


def refresh_for_issue(
    github: GitHubClient,
    config: Config,
    issue: dict,
    *,
    today: date | None = None,
    closing: bool = False,
    pacer: Pacer | None = None,
) -> list[DocPlan]:
    """Re-render the status lists an action-item issue appears in (after a close, a reopen or
    a new label), from the latest sync of its document. Creates and assigns nothing."""
    found = item_marker(issue, github.full_name, github.bot)
    if found is None:
        return []
    pr, sha = latest_sync(github, found)
    if pr is None or sha is None:
        return []
    return refresh_status(github, config, pr, sha, today=today, closing=closing, pacer=pacer)


def latest_sync(github: GitHubClient, found: ItemMarker) -> tuple[int | None, str | None]:
    """The PR and SHA the document was last synced at: the postmortem's section says, since a
    later PR may have changed the document; else the issue's own marker."""
    if found.postmortem is not None:
        try:
            # The sections count only in a postmortem the bot opened (its body is the bot's).
            body = markers.trusted_body(github.get_issue(found.postmortem), github.bot)
        except NotFound:
            body = ""
        fields = section_fields(body, found.doc)
        if parse_int(fields.get("pr")) and fields.get("sha"):
            return int(fields["pr"]), fields["sha"]
    return found.pr, found.sha


def refresh_status(
    github: GitHubClient,
    config: Config,
    pr: int,
    sha: str,
    *,
    today: date | None = None,
    closing: bool = False,
    pacer: Pacer | None = None,
) -> list[DocPlan]:
    run = Run(github, config, today or utc_now().date(), pacer or Pacer())
    try:
        pull = github.get_pull(pr)
    except NotFound:
        return []
    plans = plan_documents(github, config, pull, sha)
    if not plans:
        return []
    index = load_index(github, config, postmortems_of(plans))
    publish_status(run, pr, sha, plans, index)
    if closing:
        for postmortem in sorted(postmortems_of(plans)):
            note_all_closed(run, postmortem, index)
    return plans


def note_all_closed(run: Run, postmortem: int, index: Index) -> None:
    """When every action item of the postmortem is closed: say so once, and close the
    postmortem issue if `action_items.close_postmortem_when_done`."""
    issues = [
        issues[0] for issues in index.by_key.values() if index.marker(issues[0]).postmortem == postmortem
    ]
    if not issues or any(issue["state"] != "closed" for issue in issues):
        return
    close = run.config["action_items"]["close_postmortem_when_done"]
    marker = markers.render(DONE)
    text = DONE_TEXT.format(marker=marker, closing=DONE_CLOSING if close else "", docs=DOCS_URL)
    run.write()
    run.github.upsert_comment(postmortem, marker, text)
    if close and run.github.get_issue(postmortem)["state"] == "open":
        run.write()
        run.github.update_issue(postmortem, state="closed", state_reason="completed")
