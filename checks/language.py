"""Blameless-language checks (placeholder until the rule family lands)."""


def check(doc, config):
    return iter(())
