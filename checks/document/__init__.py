"""The document model and its parsers: a postmortem's Markdown becomes sections, prose, timeline
entries, contributing factors and action items, each with its exact position.

`model` holds the types, `parse` builds them (with `markdown`, `items`, `timeline_entries` and
`timestamps`), and `template` is the postmortem template teams start from.
"""
