"""The postmortem checks engine: text and config in, findings out. Pure: no network, web or GitHub code.

`document/` parses a postmortem into its model, `rules/` holds the rule families and their data,
`output/` renders findings; `engine.py` composes them and `cli.py` is the `blameless` command.
"""
