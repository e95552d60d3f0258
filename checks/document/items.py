"""Contributing factors and action items, from list items or tables, with each field's position."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from checks.document.markdown import Block, heading_text
from checks.document.model import ActionItem, Document, Factor, Span

TYPES = ("guardrail", "constraint", "decision-policy")
_TYPE_WORDS = re.compile(r"(?i)\b(guardrails?|constraints?|decision[- ]polic(?:y|ies)(?:[- ]change)?)\b")
_TYPE_FIELD = re.compile(r"(?i)\b(?:type|kind)\s*:\s*\**(?P<type>[A-Za-z][\w-]*(?:[ -][a-z]+)?)")
_TYPE_TAG = re.compile(r"(?i)(?:\[|\*\*|_)(?P<type>[A-Za-z][\w -]{2,30}?)(?:\]|\*\*|_)")
_OWNER_FIELD = re.compile(r"(?i)\b(?:owners?|assignee|owned\s+by|dri)\s*:?\s*")
_HANDLE = re.compile(r"(?<![\w@/])@(?P<login>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][\w.-]{0,99})?)")
_DUE = re.compile(r"(?i)(?:\b(?:due|by|deadline|target)\s*+:?\s*+)?(?P<date>\b\d{4}-\d{2}-\d{2}\b)")
_DUE_FIELD = re.compile(r"(?i)\b(?:due(?:\s+date)?|deadline|target)\s*:?\s*(?P<value>[^,;|)\n]{1,30})")
_ISSUE = re.compile(
    # Bounded repeats: "a-a-a-…" must not make each start position scan to the end of the text.
    r"(?P<issue>https?://[^\s)>\]]{1,300}/(?:issues|pull)/\d+|\b[\w.-]{1,100}/[\w.-]{1,100}#\d+|(?<![\w&])#\d+\b)"
)
_ID_PREFIX = re.compile(r"^\s*(?:\*\*|\[)?(?P<id>[A-Z]{1,5}-?\d{1,4})(?:\*\*|\])?\s*[:.)\]—–-]?\s+")
# Where inline fields begin without a "name:" label: "(@bob, due 2026-02-01)", "— @ana", " #45",
# a handle ending the item or followed by another field. A handle inside the action's own words
# ("Add @dependabot config …") is not a field.
# Masking turns code and URLs into long runs of spaces, so a match never starts inside a run of
# whitespace (only at its first character, `_NOT_MID_RUN`) and whitespace is taken possessively:
# with backtracking `\s*[—–]?\s*` tried from every position costs the cube of the run's length.
_NOT_MID_RUN = r"(?!(?<=\s)\s)"
_TRAILER = re.compile(
    _NOT_MID_RUN + r"(?:\s*+[(\[—–,]\s*+@[A-Za-z0-9]"
    r"|\s++@[A-Za-z0-9][\w-]{0,38}(?:/[\w.-]{1,100})?(?=\s*+$|\s*+[,;)\]]|\s++(?:due|by|owner|type)\b)"
    r"|\s*+[(\[—–]?\s*+(?:due\b|by\s++\d{4}-|\d{4}-\d{2}-\d{2}\b)"
    r"|\s*+\(?#\d+\b)"
)
# A type standing alone as a field between separators: "— owner @alice — guardrail — 2026-04-01".
_BARE_TYPE = re.compile(
    r"(?i)(?:^|[—–|,;(])\s*(?P<type>guardrails?|constraints?|decision[- ]polic(?:y|ies))\s*(?=$|[—–|,;)])"
)
_ADDRESSES = re.compile(
    r"(?i)\b(?:addresses|factor|contributing\s+factor|cf)\s*+:?\s*+(?P<ref>CF-?\d+|F\d+|#\d+)"
)
_FIELD_START = re.compile(
    r"(?i)" + _NOT_MID_RUN + r"\s*+(?:[—–|(]|(?<=\s)-(?=\s))?\s*+(?:\*\*)?\b"
    r"(?:(?:type|kind|owners?|assignee|owned\s++by|dri|due(?:\s++date)?|deadline|issue|tracking|addresses)"
    r"\b\s*+:"
    # labels written without a colon, recognised by the value that follows
    r"|(?:owners?|assignee|owned\s++by)\s++(?=@)|due\s++(?=\d{4}-)|type\s++(?=guardrail|constraint|decision))"
)

# Owners written without a field name: a capitalised name leading the item before "to <verb>" or
# "will" ("Anika to add the alert"), or a name in capitals in parentheses closing it ("(KIM)").
_LEADING_OWNER = re.compile(
    r"^\s*(?:[-*+]\s+)?(?:\*\*)?(?:[A-Z]{1,5}-?\d{1,4}\W{0,3}\s+)?(?P<owner>[A-ZÀ-Þ][^\W\d_A-Z]{1,20}(?:[-'][^\W\d_]{1,20})?)"
    r"\s+(?:to|will)\s+[a-z]"
)
_CAPS_OWNER = re.compile(r"\((?P<owner>[A-Z]{2,12})\)(?=\s*(?:$|[—–,;|.]))")
# Capitalised words that lead an item or sit in parentheses without being anyone.
_NOT_OWNER_WORDS = """
    WE I WHO TEAM EVERYONE SOMEONE ENGINEERING NEED NEEDS PLAN PLANS GOAL REMEMBER TRY TIME
    CI CD DNS API SLO SLA SLI TLS SSL AWS GCP UI DB PR QA SRE TBD TODO WIP ETA OPS HR IT PII
"""
_NOT_OWNERS = frozenset(_NOT_OWNER_WORDS.split())

HEADERS = {
    "id": re.compile(r"(?i)^(?:id|#|no\.?|ref|key)$"),
    "type": re.compile(r"(?i)^(?:type|kind|category|class)\b"),
    "owner": re.compile(r"(?i)^(?:owners?|assignee|who|responsible|dri)\b"),
    "due": re.compile(r"(?i)^(?:due|due\s+date|deadline|by|target(?:\s+date)?|eta|when)\b"),
    "issue": re.compile(r"(?i)^(?:issue|issues|bug|ticket|tracking|link|jira)\b"),
    "addresses": re.compile(r"(?i)^(?:addresses|factor|contributing\s+factor|cause|cf)\b"),
    "text": re.compile(r"(?i)^(?:action(?:\s+item)?|item|task|description|what|follow[- ]?up|remediation)\b"),
}


def normalise_type(word: str) -> str:
    """ "Guardrails" → "guardrail", "Decision policy change" → "decision-policy"; others lowercased."""
    text = re.sub(r"[\s_]+", "-", word.strip().lower()).strip("-*")
    if text.startswith("guardrail"):
        return "guardrail"
    if text.startswith("constraint"):
        return "constraint"
    if text.startswith("decision-polic"):
        return "decision-policy"
    return text


def derived_id(text: str) -> str:
    """A stable id for an item the document does not number: a hash of its normalised text."""
    words = " ".join(re.findall(r"[a-z0-9]+", text.lower()))
    return "ai-" + hashlib.sha1(words.encode("utf-8")).hexdigest()[:8]


def parse_due(value: str) -> date | None:
    match = re.search(r"\d{4}-\d{2}-\d{2}", value)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(0))
    except ValueError:
        return None


@dataclass
class _Fields:
    """Field values and spans found in one list item (offsets into the document source)."""

    type: str | None = None
    type_span: Span | None = None
    owners: tuple[str, ...] = ()
    owner_span: Span | None = None
    due_text: str | None = None
    due_span: Span | None = None
    issue: str | None = None
    addresses: str | None = None


def _list_type(source: str, start: int, end: int) -> tuple[str | None, Span | None]:
    """The type written in a list item, normalised, and where it is written."""
    text = source[start:end]
    # Only an explicit type counts: "type: guardrail", "[guardrail]" or "**Guardrail**". A type word
    # in running text ("add a guardrail for…") is the action's wording, not its classification.
    type_match = _TYPE_FIELD.search(text) or _type_tag(text) or _BARE_TYPE.search(text)
    if not type_match:
        return None, None
    type_span = Span(start + type_match.start("type"), start + type_match.end("type"))
    return normalise_type(type_match.group("type")), type_span


def _list_fields(source: str, start: int, end: int) -> _Fields:
    text = source[start:end]
    fields = _Fields()
    fields.type, fields.type_span = _list_type(source, start, end)
    owner_field = _OWNER_FIELD.search(text)
    handles = list(_HANDLE.finditer(text, owner_field.end() if owner_field else 0))
    if owner_field:
        # Owners are the handles right after "owner:", up to the next field ("owner: type: @x"
        # names none, and is read like "owner: Sarah").
        handles = [h for h in handles if not _FIELD_START.search(text, owner_field.end(), h.start())]
    if owner_field and not handles:
        value = _owner_value(text, owner_field.end())
        if value:
            fields.owners = (value,)
            fields.owner_span = Span(start + owner_field.end(), start + owner_field.end() + len(value))
    elif handles:
        fields.owners = tuple(h.group("login") for h in handles)
        fields.owner_span = Span(start + handles[0].start(), start + handles[-1].end())
    due_field = _DUE_FIELD.search(text)
    if due_field:
        fields.due_text = due_field.group("value").strip(" *_")
        fields.due_span = Span(
            start + due_field.start("value"), start + due_field.start("value") + len(fields.due_text)
        )
    else:
        due_match = _DUE.search(text)
        if due_match:
            fields.due_text = due_match.group("date")
            fields.due_span = Span(start + due_match.start("date"), start + due_match.end("date"))
    fields.issue = _issue(text)
    addresses = _ADDRESSES.search(text)
    fields.addresses = addresses.group("ref") if addresses else None
    return fields


def _issue(text: str) -> str | None:
    """The first issue or pull request the text refers to."""
    # Every reference holds one of these: most items hold none, and are not scanned position by position.
    if "#" not in text and "/issues/" not in text and "/pull/" not in text:
        return None
    issue = _ISSUE.search(text)
    return issue.group("issue") if issue else None


def _owner_value(text: str, begin: int) -> str:
    """An owner written without a handle ("Sarah", "SRE team"): up to a separator or the next field."""
    end = begin + len(re.match(r"[^,;|)\n—–]*", text[begin:]).group(0))
    field = _FIELD_START.search(text, begin, end)
    return text[begin : field.start() if field else end].strip(" *_")


def _type_tag(text: str) -> re.Match[str] | None:
    """A bracketed or bold type word: "[guardrail]", "**Constraint**"."""
    for match in _TYPE_TAG.finditer(text):
        if _TYPE_WORDS.fullmatch(match.group("type").strip()):
            return match
    return None


def _item_text_span(source: str, start: int, end: int) -> tuple[Span, str | None]:
    """The action's own words: after an id prefix and a leading type tag, before the first field."""
    text = source[start:end]
    explicit = None
    prefix = _ID_PREFIX.match(text)
    offset = 0
    if prefix:
        explicit = prefix.group("id")
        offset = prefix.end()
    tag = re.match(r"\s*(?:\[[^\]\n]{1,30}\]|\*\*[^*\n]{1,30}\*\*)\s*[:—–-]?\s*", text[offset:])
    if tag and _TYPE_WORDS.search(tag.group(0)):
        offset += tag.end()
    field = _FIELD_START.search(text, offset)
    trailer = _TRAILER.search(text, offset)
    type_tag = _type_tag(text[offset:])
    stops = [m.start() for m in (field, trailer) if m is not None]
    if type_tag is not None and type_tag.start() > 0:
        stops.append(offset + type_tag.start())  # "Cap retries [constraint] @bob": the tag ends the text
    stop = min(stops, default=len(text))
    words = text[offset:stop].rstrip(" \t—–-|,;.(*_")
    return Span(start + offset, start + offset + len(words)), explicit


_LIST_MARKER = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?")
_MERGED_FIELDS = ("type", "type_span", "owners", "owner_span", "due_text", "due_span", "issue", "addresses")


def _list_item(doc: Document, block: Block, children: list[Block], masked: str) -> ActionItem | None:
    """One item from a list item: its words from the source, its fields from the masked text
    (so "`@retry`" in code or an owner inside an HTML comment is not a field), and fields
    missing on its line taken from nested `- Owner: @alice` items."""
    marker = _LIST_MARKER.match(masked, block.span.start)
    start = marker.end() if marker else block.span.start
    text_span, explicit = _item_text_span(masked, start, block.span.end)
    fields = _list_fields(masked, text_span.end, block.span.end)
    if fields.type is None:  # a type tag before or inside the text
        fields.type, fields.type_span = _list_type(masked, start, block.span.end)
    for child in children:
        nested = _list_fields(masked, child.span.start, child.span.end)
        for name in _MERGED_FIELDS:
            if not getattr(fields, name) and getattr(nested, name):
                setattr(fields, name, getattr(nested, name))
    if not fields.owners:
        _written_owner(masked, start, block.span.end, fields)
    text = " ".join(doc.source[text_span.start : text_span.end].split())
    if not text:
        return None
    return _item(text, text_span, block.span, explicit, fields, doc.source)


def _written_owner(masked: str, start: int, end: int, fields: _Fields) -> None:
    """ "Anika to add …", "… (KIM)": an owner written as teams write it, without a handle."""
    text = masked[start:end]
    written = _LEADING_OWNER.match(text) or _CAPS_OWNER.search(text)
    if written and written.group("owner").upper() not in _NOT_OWNERS:
        fields.owners = (written.group("owner"),)
        fields.owner_span = Span(start + written.start("owner"), start + written.end("owner"))


def _item(
    text: str, text_span: Span, span: Span, explicit: str | None, fields: _Fields, source: str
) -> ActionItem:
    def source_text(field_span: Span | None) -> str | None:
        return source[field_span.start : field_span.end] if field_span else None

    return ActionItem(
        id=explicit or derived_id(text),
        explicit_id=explicit is not None,
        text=text,
        span=span,
        text_span=text_span,
        type=fields.type,
        type_span=fields.type_span,
        owners=list(fields.owners),
        owner_span=fields.owner_span,
        due=parse_due(fields.due_text) if fields.due_text else None,
        due_text=fields.due_text,
        due_span=fields.due_span,
        issue=fields.issue,
        addresses=fields.addresses,
        owner_text=source_text(fields.owner_span),
    )


def _columns(doc: Document, block: Block) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(block.cells):
        label = doc.source[cell.span.start : cell.span.end].strip(" *_")
        for name, pattern in HEADERS.items():
            if name not in columns and pattern.match(label):
                columns[name] = index
                break
    columns.setdefault("text", 1 if columns.get("id") == 0 else 0)
    return columns


def _cell(doc: Document, block: Block, columns: dict[str, int], name: str) -> tuple[str, Span | None]:
    index = columns.get(name)
    if index is None or index >= len(block.cells):
        return "", None
    span = block.cells[index].span
    return doc.source[span.start : span.end].strip(), span


def _table_row(doc: Document, block: Block, columns: dict[str, int]) -> ActionItem | None:
    text, text_span = _cell(doc, block, columns, "text")
    if not text or text_span is None or set(text) <= set("-: "):
        return None
    fields = _Fields()
    type_text, fields.type_span = _cell(doc, block, columns, "type")
    fields.type = normalise_type(type_text.strip("*_`")) if type_text else None
    owner_text, owner_span = _cell(doc, block, columns, "owner")
    handles = list(_HANDLE.finditer(owner_text))
    if handles:
        fields.owners = tuple(h.group("login") for h in handles)
    elif owner_text.strip("-— "):
        fields.owners = tuple(o.strip() for o in re.split(r"\s*(?:,|&|\band\b)\s*", owner_text) if o.strip())
    fields.owner_span = owner_span if owner_text else None
    due_text, due_span = _cell(doc, block, columns, "due")
    fields.due_text, fields.due_span = (due_text or None), (due_span if due_text else None)
    issue_text, _ = _cell(doc, block, columns, "issue")
    fields.issue = _issue(issue_text)
    addresses, _ = _cell(doc, block, columns, "addresses")
    fields.addresses = addresses or None
    explicit, _ = _cell(doc, block, columns, "id")
    explicit = explicit.strip("*_` ") or None
    clean_text = " ".join(text.split())
    return _item(clean_text, text_span, block.span, explicit, fields, doc.source)


def action_items(doc: Document, item_blocks: list[Block], masked: str) -> list[ActionItem]:
    """Every action item in the section: top-level list items and table body rows."""
    found: list[ActionItem] = []
    columns: dict[str, int] = {}
    for index, block in enumerate(item_blocks):
        item = None
        if block.kind == "table_row" and block.header:
            columns = _columns(doc, block)
        elif block.kind == "table_row":
            item = _table_row(doc, block, columns or {"text": 0})
        elif block.kind == "list_item" and block.level == 1:
            item = _list_item(doc, block, _nested_items(item_blocks, index), masked)
        if item is not None:
            found.append(item)
    return found


def _nested_items(blocks: list[Block], index: int) -> list[Block]:
    """The list items nested under the top-level item at `index`."""
    end = index + 1
    # Walked in place: a slice of the rest of the section per item made a long list quadratic.
    while end < len(blocks) and blocks[end].kind == "list_item" and blocks[end].level >= 2:
        end += 1
    return blocks[index + 1 : end]


def factors(doc: Document, factor_blocks: list[Block], masked: str) -> list[Factor]:
    """Contributing factors: top-level list items, or the sub-headings of the section."""
    found: list[Factor] = []
    section_level = min((b.level for b in factor_blocks if b.kind == "heading"), default=0)
    for block in factor_blocks:
        if block.kind == "list_item" and block.level == 1:
            text = " ".join(doc.source[block.span.start : block.span.end].split())
            text = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", text)
        elif block.kind == "heading" and block.level > section_level:
            text = heading_text(doc.source[block.span.start : block.span.end].split("\n")[0])
        else:
            continue
        prefix = _ID_PREFIX.match(text)
        found.append(Factor(prefix.group("id") if prefix else None, text, block.span))
    return found
