"""Blameless Bot as a GitHub Action: the three jobs inside a workflow run, with the workflow token.

It runs the same jobs (`app.jobs`) through the same GitHub layer (`app.github`) as the App, and
never imports the App's server.
"""
