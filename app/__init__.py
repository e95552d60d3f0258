"""Blameless Bot on GitHub: the three jobs, the GitHub layer they share, and the webhook server.

`app.jobs` holds what the bot does and `app.github` how it talks to GitHub; both run under the
App (`app.server`) and under the Action (`action/`). Nothing outside `app.server` imports it.
"""
