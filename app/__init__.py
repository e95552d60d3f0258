"""Blameless Bot, the GitHub App: webhooks in, queued jobs out."""
