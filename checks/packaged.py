"""The package's own YAML data (rules, config schema, section aliases), read back from a JSON cache.

Parsing YAML costs a run more than checking a small document: PyYAML itself takes some 15 ms to
import and its parser (even libyaml's) runs on every start. The data only changes with the
package, so the parsed form is kept as JSON (read in C, never code) in the user's cache folder,
named by a hash of the exact texts: an edited file or another version of the package never reads
a stale entry. Without a usable cache (read-only home, `BLAMELESS_NO_CACHE`) the YAML is parsed
each time, with libyaml's loader when PyYAML has it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_FORMAT = 1
# The package's folder. Its data is read as plain files (the package is always installed
# unzipped): importlib.resources would cost every run some 10 ms of imports (tempfile, shutil…).
PACKAGE_ROOT = Path(__file__).resolve().parent


def load_yaml(text: str) -> Any:
    """Trusted YAML shipped with the package, parsed by libyaml when PyYAML was built with it (the
    wheels are; ten times the pure-Python parser)."""
    import yaml  # only on a cache miss: most runs never import PyYAML for the package's data

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def cache_path(kind: str, files: list) -> Path | None:
    """Where the parsed data of exactly these files is kept (None: caching is off)."""
    if os.environ.get("BLAMELESS_NO_CACHE"):
        return None
    digest = hashlib.sha256(repr((CACHE_FORMAT, files)).encode("utf-8")).hexdigest()[:24]
    base = os.environ.get("BLAMELESS_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    folder = Path(base) if base else Path.home() / ".cache"
    if not os.environ.get("BLAMELESS_CACHE_DIR"):
        folder = folder / "blameless"
    return folder / f"{kind}-{digest}.json"


def parsed(path: Path | None, texts: list[str], load: Callable[[str], Any] | None = None) -> list:
    """Each text's data: from the cache file at `path` when it holds as many entries, else parsed
    with `load` (by default `load_yaml`, looked up at the call so a test can count the parses) and
    written there for the next run."""
    load = load or load_yaml
    if path is not None:
        try:
            data = json.loads(path.read_text("utf-8"))
            if isinstance(data, list) and len(data) == len(texts):
                return data
        except (OSError, ValueError):
            pass  # missing or broken: parsed around, never trusted
    data = [load(text) for text in texts]
    if path is not None:
        store(path, data)
    return data


def store(path: Path, data: list) -> None:
    """Keeps parsed YAML as JSON at `path`, when JSON gives back exactly the same data."""
    try:
        dumped = json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError):
        return  # YAML that JSON cannot hold (a date): parse every time
    if json.loads(dumped) != data:
        return  # e.g. integer keys, which JSON would turn into strings
    write_atomically(path, dumped)


def write_atomically(path: Path, text: str, mode: int | None = None) -> None:
    """Writes a cache file whole or not at all, with the permission bits `mode` when given; a
    folder that cannot be written is left alone (the cache then costs only time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(text, "utf-8")
        if mode is not None:
            scratch.chmod(mode)
        scratch.replace(path)  # atomic: parallel runs never read half a file
    except OSError:
        pass  # a read-only home


def packaged_yaml(name: str) -> Any:
    """One data file of the package (`data/…yaml`), parsed or from the cache."""
    text = (PACKAGE_ROOT / name).read_text("utf-8")
    kind = name.rsplit("/", 1)[-1].removesuffix(".yaml")
    return parsed(cache_path(kind, [(name, text)]), [text])[0]
