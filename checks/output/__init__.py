"""The outputs: findings as text, JSON, SARIF and workflow commands (`formats`), and the one
Markdown summary (`summary`) that check runs and Action job summaries share.
"""
