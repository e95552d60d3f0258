"""The jobs, one place each, shared by the App and the Action: open the postmortem
(`open_postmortem`), check it (`check_postmortem`), turn its action items into issues
(`action_items`), and the `daily_sweep`.

`routes` composes their webhook handlers into the one router the App's worker dispatches to; the
Action calls the same handlers and functions directly.
"""
