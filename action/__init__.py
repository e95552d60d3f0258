"""Blameless Bot as a GitHub Action: the three jobs inside a workflow run."""
