"""The rule families: each family's code (`language.py`, `structure.py`, `timeline.py`,
`action_items.py`) beside its rules as data (`<family>/<rule>.yaml`, whose path is the rule id).

`catalog` reads the rule files; the engine runs the families in one list.
"""
