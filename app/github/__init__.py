"""The GitHub layer: the one client every request goes through, App auth, repository config,
markers, events and the job context.

The App and the Action both reach GitHub only through here; it knows nothing of the jobs or the
server.
"""
