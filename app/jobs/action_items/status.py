"""Status: the PR comment and the postmortem's sections listing every item, its issue and state."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import quote, unquote

from app.github import markers
from app.github.client import NotFound
from app.github.context import DOCS_URL
from app.jobs.action_items.claim import claim_run, claims, write_claim
from app.jobs.action_items.index import Index, postmortems_of
from app.jobs.action_items.labels import OVERDUE_LABEL
from app.jobs.action_items.markdown import NONE, SHORT_SHA, cut
from app.jobs.action_items.model import STATUS_TEXT_MAX, DocPlan, ItemMarker, Planned, Run
from checks.output.safe_markdown import code, inline

# Markers (see app/github/markers.py).
STATUS = "action-items-status"  # the PR comment: pr, sha
SECTION_BEGIN = "action-items-begin"  # postmortem body, one section per document: doc, pr, sha
SECTION_END = "action-items-end"  # doc

# User-facing text.
STATUS_TITLE = "### Action items"
STATUS_INTRO = (
    "Each action item of the postmortem in this pull request, with its issue and live state. "
    "This comment is kept up to date."
)
DOC_HEADING = "From [{path}]({url}) at `{short_sha}`{postmortem}:"
DOC_POSTMORTEM = " (postmortem #{number})"
NO_POSTMORTEM_NOTE = (
    "No postmortem issue was found for this document, so its issues are not sub-issues of one. "
    "Adding `postmortem: <issue number>` to the document's front matter should link them."
)
NO_ITEMS = "No action items were found in this document."
TABLE_HEAD = "| Item | Issue | Owner | Due | State |\n|---|---|---|---|---|"
BLOCKED_TITLE = "#### Not turned into issues"
BLOCKED_INTRO = (
    "The checks report errors on these items, so they have no issue yet (an issue that already "
    "exists is left as it was). Fixing them and {again} should open or update their issues."
)
AGAIN = {"approval": "approving again", "merge": "merging the fix"}
BLOCKED_LINE = "- {label}: {reasons}"
STATUS_FOOTER = "[How action items become issues]({docs}#from-action-items-to-issues)"
SECTION_TITLE = "### Action items from [{path}]({url})"
ALL_CLOSED = "All {count} action items are closed."
SOME_CLOSED = "Closed: {closed} of {count} action items."
STATE_OPEN = "open"
STATE_CLOSED = "closed"
STATE_NOT_PLANNED = "closed as not planned"
STATE_OVERDUE = "overdue"
STATE_NOT_OPENED = "not opened (the checks report errors)"
STATE_NOT_UPDATED = "not updated (the checks report errors)"
STATE_REMOVED = "no longer in the document"
STATE_NAMED = "named in the document"
STATE_PENDING = "not opened yet"
OWNER_NOT_ASSIGNED = "not assigned"
OWNER_TEAM = "{team} team"


def publish_status(
    run: Run,
    number: int,
    sha: str,
    plans: list[DocPlan],
    index: Index,
    *,
    claim: dict | None = None,
    run_id: str | None = None,
) -> None:
    """Each postmortem's sections, then the one PR comment: our claim becomes it, last, so
    that a failure before then leaves a claim to release, not a status comment."""
    for postmortem in sorted(postmortems_of(plans)):
        docs = [doc for doc in plans if doc.postmortem == postmortem]
        write_postmortem_sections(run, postmortem, docs, index)
    body = render_pr_comment(run, number, sha, plans, index)
    write_status_comment(run, number, body, claim, run_id)


def write_status_comment(
    run: Run, number: int, body: str, claim: dict | None, run_id: str | None = None
) -> None:
    """Update the status comment in place (the oldest, should there be two), or turn our
    claim into it. Claims an earlier attempt of this run left behind go."""
    github = run.github
    comments = github.list_comments(number)
    for leftover in claims(comments, github.bot):
        if run_id and claim_run(leftover) == run_id and leftover["id"] != (claim or {}).get("id"):
            github.delete_comment(leftover["id"])
    statuses = sorted(
        (c for c in comments if markers.read(c, STATUS, github.bot) is not None),
        key=lambda c: c["id"],
    )
    for extra in statuses[1:]:  # two runs that each made one: keep the oldest
        github.delete_comment(extra["id"])
    keep = statuses[0] if statuses else None
    if keep is None and claim is not None:
        write_claim(run, number, claim, body)  # the claim becomes the status comment
        return
    if claim is not None:
        github.delete_comment(claim["id"])
    if keep is None:
        run.write()
        github.create_comment(number, body)
    elif keep.get("body") != body:
        run.write()
        github.update_comment(keep["id"], body)


def render_pr_comment(run: Run, number: int, sha: str, plans: list[DocPlan], index: Index) -> str:
    parts = [markers.render(STATUS, pr=number, sha=sha), STATUS_TITLE, STATUS_INTRO]
    for doc in plans:
        postmortem = DOC_POSTMORTEM.format(number=doc.postmortem) if doc.postmortem else ""
        parts.append(
            DOC_HEADING.format(
                path=code(doc.path), url=doc.url, short_sha=doc.sha[:SHORT_SHA], postmortem=postmortem
            )
        )
        parts.append(render_table(run, doc, index))
        if doc.postmortem is None:
            parts.append(NO_POSTMORTEM_NOTE)
    blocked = [(doc, p) for doc in plans for p in doc.items if p.problems]
    if blocked:
        again = AGAIN[run.config["action_items"]["create_on"]]
        parts += [BLOCKED_TITLE, BLOCKED_INTRO.format(again=again)]
        parts.append("\n".join(_blocked_line(p) for _, p in blocked))
    parts.append(STATUS_FOOTER.format(docs=DOCS_URL))
    return "\n\n".join(parts) + "\n"


def _blocked_line(planned: Planned) -> str:
    reasons = "; ".join(planned.problems)  # rendered safe where they are made (plan_items)
    return BLOCKED_LINE.format(label=planned.label, reasons=reasons)


def render_table(run: Run, doc: DocPlan, index: Index) -> str:
    """One row per item in document order, then the issues of items that left the document,
    and a line saying how many are closed."""
    rows, issues = [], []
    for planned in doc.items:
        issue = index.find(doc, planned.item.id)
        rows.append(_item_row(run, planned, issue))
        if issue is not None:
            issues.append(issue)
    present = {p.item.id for p in doc.items}
    for issue in index.for_doc(doc):
        found = index.marker(issue)
        if found.id not in present:
            rows.append(_removed_row(run, issue, found))
            issues.append(issue)
    if not rows:
        return NO_ITEMS
    table = "\n".join([TABLE_HEAD, *rows])
    closed = sum(1 for issue in issues if issue["state"] == "closed")
    if not issues:
        return table
    total = ALL_CLOSED if closed == len(issues) else SOME_CLOSED
    return f"{table}\n\n{total.format(closed=closed, count=len(issues))}"


def _item_row(run: Run, planned: Planned, issue: dict | None) -> str:
    item = planned.item
    due = item.due.isoformat() if item.due else NONE
    if issue is None:
        named = f"{code(item.issue, cell=True)} ({STATE_NAMED})" if item.issue else NONE
        state = STATE_NOT_OPENED if planned.problems else (NONE if item.issue else STATE_PENDING)
        return _row(planned.label, named, _owner_cell(planned, None), due, state)
    state = issue_state(issue, item.due, run.today)
    if planned.problems:
        state = f"{state} · {STATE_NOT_UPDATED}"
    return _row(planned.label, f"#{issue['number']}", _owner_cell(planned, issue), due, state)


def _removed_row(run: Run, issue: dict, found: ItemMarker) -> str:
    label = inline(cut(issue.get("title") or found.id, STATUS_TEXT_MAX))
    owner = code(f"@{found.owner}", cell=True) if found.owner else NONE
    due = found.due.isoformat() if found.due else NONE
    state = f"{issue_state(issue, found.due, run.today)} · {STATE_REMOVED}"
    return _row(label, f"#{issue['number']}", owner, due, state)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _owner_cell(planned: Planned, issue: dict | None) -> str:
    """The owner in code, never a live @mention: status lists notify no one."""
    owner = planned.owner
    if owner is None:
        text = planned.item.owner_text
        return code(text, cell=True) if text else NONE
    team = OWNER_TEAM.format(team=code(owner.team, cell=True)) if owner.team else ""
    shown = code(f"@{owner.login}", cell=True) if owner.login else team
    if owner.team and owner.login:
        shown += f" ({team})"
    assignees = {a["login"].lower() for a in (issue or {}).get("assignees") or []}
    if issue is not None and (owner.login or "").lower() not in assignees:
        shown += f" · {OWNER_NOT_ASSIGNED}"
    return shown


def issue_state(issue: dict, due: date | None, today: date) -> str:
    if issue["state"] == "closed":
        return STATE_NOT_PLANNED if issue.get("state_reason") == "not_planned" else STATE_CLOSED
    labels = {label["name"].lower() for label in issue.get("labels") or []}
    overdue = OVERDUE_LABEL in labels or (due is not None and due < today)
    return f"{STATE_OPEN} · {STATE_OVERDUE}" if overdue else STATE_OPEN


def write_postmortem_sections(run: Run, postmortem: int, docs: list[DocPlan], index: Index) -> None:
    """Replace (or append) each document's section of the postmortem issue's body."""
    try:
        issue = run.github.get_issue(postmortem)
    except NotFound:
        return
    body = issue.get("body") or ""
    new = body
    for doc in docs:
        for alias in doc.aliases:
            new = replace_section(new, alias, "")  # a renamed document: its old section goes
        new = replace_section(new, doc.path, render_section(run, doc, index))
    if new != body:
        run.write()
        run.github.update_issue(postmortem, body=new)


def render_section(run: Run, doc: DocPlan, index: Index) -> str:
    begin = markers.render(SECTION_BEGIN, doc=quote(doc.path), pr=doc.pr, sha=doc.sha)
    end = markers.render(SECTION_END, doc=quote(doc.path))
    title = SECTION_TITLE.format(path=code(doc.path), url=doc.url)
    return f"{begin}\n{title}\n\n{render_table(run, doc, index)}\n{end}"


def _section_pattern(path: str) -> re.Pattern[str]:
    doc = re.escape(quote(path))
    fields = r"(?:\s+[a-z_]+=\S*?)*"
    return re.compile(
        rf"<!--\s*blameless-bot:{SECTION_BEGIN}\s+doc={doc}{fields}\s*-->.*?"
        rf"<!--\s*blameless-bot:{SECTION_END}\s+doc={doc}\s*-->",
        re.DOTALL,
    )


def replace_section(body: str, path: str, section: str) -> str:
    """`body` with the document's section replaced by `section` (appended if absent; removed
    when `section` is empty). Everything outside the markers is left as people wrote it."""
    pattern = _section_pattern(path)
    if pattern.search(body):
        new = pattern.sub(lambda _: section, body, count=1)
        return re.sub(r"\n{3,}", "\n\n", new) if not section else new
    if not section:
        return body
    return f"{body.rstrip()}\n\n{section}\n" if body.strip() else f"{section}\n"


def section_fields(body: str, path: str) -> dict[str, str]:
    """The begin marker's fields of the document's section (pr, sha of its last sync)."""
    begin = re.compile(rf"<!--\s*blameless-bot:{SECTION_BEGIN}(?P<fields>(?:\s+[a-z_]+=\S*?)*)\s*-->")
    for match in begin.finditer(body or ""):
        fields = dict(re.findall(r"([a-z_]+)=(\S*)", match.group("fields")))
        if unquote(fields.get("doc", "")) == path:
            return fields
    return {}
