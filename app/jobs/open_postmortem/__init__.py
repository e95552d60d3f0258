"""Job 1: an incident label opens one postmortem issue, linked both ways, with an optional draft PR.

`plan` decides what would be opened (pure, and what `dry_run` prints), `issue` opens it exactly
once, and `draft_pr` adds the document with its timeline started.
"""
