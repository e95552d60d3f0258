"""The postmortem checks engine: text and config in, findings out. Pure: no network, web or GitHub code.

`document/` parses a postmortem into its model, `rules/` holds the rule families and their data,
`output/` renders findings; `engine.py` composes them and `cli.py` is the `blameless` command.
"""


def tool_version() -> str:
    """The installed package's version (SARIF's `semanticVersion` must be semver)."""
    # Imported here: importlib.metadata pulls in email and socket, which the engine keeps out.
    from importlib import metadata

    try:
        return metadata.version("blameless-bot")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"
