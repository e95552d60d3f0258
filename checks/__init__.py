"""The postmortem checks engine: text and config in, findings out. Pure: no network, web or GitHub code."""
