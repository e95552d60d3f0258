"""The App's own server: settings, the webhook endpoint, the durable queue and delivery store, the
worker and the `blameless-bot` CLI.

It composes the jobs and the GitHub layer and is imported by nothing else in the project.
"""
