"""Every workflow we ship or document passes actionlint and GitHub's JSON schemas, offline.

- `.github/workflows/*.yml`, and every ```yaml block of README.md that is a workflow (has
  `on:`), through actionlint (which also checks `uses: ./` against action.yml's inputs) and
  check-jsonschema's vendored `vendor.github-workflows` schema;
- `action.yml` through `vendor.github-actions`, plus the consistency actionlint cannot see: each
  input reaches the program, each output is one the program writes;
- `.pre-commit-hooks.yaml`: the hook runs `blameless check` on the right files.

Both tools run with the proxy pointed at a closed local port, so a tool that tried to download a
schema or a binary would fail here rather than quietly depend on the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from action.workflow import Outcome
from checks.config import Config, selects

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
DOCS = ROOT / "README.md"
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def tool(name: str) -> str:
    """The tool from the venv's dev extra (or PATH); a skip locally, a failure in CI."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def is_workflow(data: object) -> bool:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    return isinstance(data, dict) and ("on" in data or True in data) and "jobs" in data


def documented_workflows() -> list[str]:
    blocks = re.findall(r"^```ya?ml\n(.*?)^```", DOCS.read_text("utf-8"), re.S | re.M)
    return [block for block in blocks if is_workflow(yaml.safe_load(block))]


@pytest.fixture(scope="module")
def docs_repository(tmp_path_factory) -> Path:
    """The documented workflows as files of a scratch repository (actionlint finds them there)."""
    root = tmp_path_factory.mktemp("docs-workflows")
    folder = root / ".github" / "workflows"
    folder.mkdir(parents=True)
    for index, block in enumerate(documented_workflows(), 1):
        (folder / f"docs-{index}.yml").write_text(block, "utf-8")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_the_repository_has_its_workflows_and_the_docs_show_each_job():
    assert {p.name for p in WORKFLOWS} >= {"postmortem-checks.yml", "ci.yml"}
    commands = " ".join(documented_workflows())
    for trigger in ("pull_request:", "issues:", "pull_request_target:", "schedule:"):
        assert trigger in commands
    assert len(documented_workflows()) >= 4


def test_actionlint_passes_on_the_repositorys_workflows():
    done = run([tool("actionlint"), "-no-color", *map(str, WORKFLOWS)], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_passes_on_every_workflow_in_the_docs(docs_repository):
    files = sorted((docs_repository / ".github" / "workflows").glob("*.yml"))
    done = run([tool("actionlint"), "-no-color", *map(str, files)], docs_repository)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_wrong_input_to_the_action(tmp_path):
    """The dogfood workflow's `uses: ./` is checked against action.yml: a typo is an error."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    (tmp_path / ".github" / "workflows" / "typo.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./\n        with:\n          fail_on: never\n",
        "utf-8",
    )
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    done = run([tool("actionlint"), "-no-color"], tmp_path)
    assert done.returncode == 1 and 'input "fail_on" is not defined' in done.stdout


def test_workflows_match_githubs_workflow_schema(docs_repository):
    documented = sorted((docs_repository / ".github" / "workflows").glob("*.yml"))
    command = [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    done = run([*command, *map(str, WORKFLOWS), *map(str, documented)], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_yml_matches_githubs_action_schema():
    command = [tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", "action.yml"]
    done = run(command, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_input_reaches_the_program_and_every_output_is_written():
    action = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
    assert action["runs"]["using"] == "composite"
    run_step = next(step for step in action["runs"]["steps"] if step.get("id") == "run")
    passed = {
        name.removeprefix("INPUT_").lower().replace("_", "-"): value
        for name, value in run_step["env"].items()
        if name.startswith("INPUT_")
    }
    program_inputs = set(action["inputs"]) - {"python-version"}  # used by the setup step
    assert passed == {name: f"${{{{ inputs.{name} }}}}" for name in program_inputs}
    assert set(action["outputs"]) == set(Outcome(0).outputs())
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    assert action["inputs"]["token"]["default"] == "${{ github.token }}"


def _pyproject_requirements(pattern: str) -> dict[str, str]:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    block = re.search(pattern, pyproject, re.S | re.M).group(1)
    return {_name(d): d for d in re.findall(r'"([^"]+)"', block)}


def test_the_action_installs_only_the_engine_and_its_extra_from_pyproject():
    """action/requirements.in is pyproject's default dependencies plus its `[action]` extra,
    with the same specifiers, so the two cannot drift apart."""
    declared = _pyproject_requirements(r"^dependencies = \[(.*?)^\]")
    declared |= _pyproject_requirements(r"^action = \[(.*?)^\]")
    lines = (ROOT / "action" / "requirements.in").read_text("utf-8").splitlines()
    required = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert {_name(r) for r in required} == set(declared)
    for requirement in required:
        assert _specifier(declared[_name(requirement)]) == _specifier(requirement), requirement


def test_the_action_lock_pins_every_package_with_hashes_and_satisfies_the_requirements():
    """action/requirements.txt is what `pip install --require-hashes` reads: every package,
    dependencies included, at one version with its sha256, within requirements.in's ranges."""
    from packaging.requirements import Requirement

    text = (ROOT / "action" / "requirements.txt").read_text("utf-8")
    pin = r"^([A-Za-z0-9_.\[\]-]+)==([^ ;\\]+)[^\n]*((?:\n +--hash=sha256:[0-9a-f]{64}[ \\]*)+)"
    entries = re.findall(pin, text, re.M)
    pinned = {_name(name): version for name, version, _ in entries}
    requirements = [r for r in text.splitlines() if r and not r.startswith((" ", "#"))]
    assert len(requirements) == len(entries), "a line of the lock has no ==version or no hash"
    wanted = (ROOT / "action" / "requirements.in").read_text("utf-8").splitlines()
    for line in wanted:
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert requirement.name.lower() in pinned, requirement.name
            assert requirement.specifier.contains(pinned[requirement.name.lower()]), line
    action = (ROOT / "action.yml").read_text("utf-8")
    assert "--require-hashes" in action and "action/requirements.txt" in action


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower()


def _specifier(requirement: str) -> str:
    return re.sub(r"^[A-Za-z0-9_.-]+(\[[^\]]*\])?", "", requirement).replace(" ", "")


def test_the_action_runs_without_the_apps_server_dependencies(tmp_path):
    """What action.yml does not install must not be needed: flask, gunicorn, huey, redis and
    pyjwt are blocked, and the entry point still runs a check end to end."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'flask', 'gunicorn', 'huey', 'redis', 'jwt'}:\n"
        "            raise ImportError(f'{name} is not installed by action.yml')\n"
        "sys.meta_path.insert(0, Block())\n",
        "utf-8",
    )
    (tmp_path / "event.json").write_text("{}", "utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_WORKSPACE": str(ROOT),
        "GITHUB_REPOSITORY": "blameless-bot/blameless-bot",
        "INPUT_PATHS": "examples/postmortems/2026-03-14-checkout-latency.md",
        "INPUT_TOKEN": "",
    }
    check = subprocess.run(
        [sys.executable, "-m", "action"], env=env, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    imports = "import action.main, app.github.client, app.jobs.open_postmortem.issue, app.jobs.action_items"
    loaded = subprocess.run(
        [sys.executable, "-c", imports], env=env, capture_output=True, text=True, check=False
    )
    assert loaded.returncode == 0, loaded.stderr


def test_the_pre_commit_hook_runs_blameless_check_on_postmortem_markdown():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    (hook,) = hooks
    assert hook["id"] == "blameless-check"
    assert hook["entry"].startswith("blameless check") and hook["language"] == "python"
    assert hook["types"] == ["markdown"]
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])

    def picked(path: str) -> bool:
        return bool(files.search(path)) and not exclude.search(path)

    default_paths = Config()
    for path in ("docs/postmortems/2026-03-14-checkout.md", "postmortems/a.md", "incidents/b.md"):
        assert picked(path), path
    assert selects(default_paths, "docs/postmortems/2026-03-14-checkout.md")
    for path in ("README.md", "docs/guide.md", "docs/postmortems/TEMPLATE.md"):
        assert not picked(path), path


def test_a_checkout_cannot_shadow_the_actions_own_code(tmp_path):
    """The step runs in the checkout, which may be a pull request's: an `action/` package
    there must not be what `python -m action` runs. action.yml's PYTHONSAFEPATH sees to it;
    without it, the checkout's package would win."""
    action = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
    run_env = next(s for s in action["runs"]["steps"] if s.get("id") == "run")["env"]
    workspace = tmp_path / "checkout"
    (workspace / "action").mkdir(parents=True)
    marker = tmp_path / "pwned"
    (workspace / "action" / "__init__.py").write_text("", "utf-8")
    (workspace / "action" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').close()\n", "utf-8")
    env = {
        **os.environ,
        "PYTHONSAFEPATH": run_env["PYTHONSAFEPATH"],
        "PYTHONPATH": str(ROOT),
        "GITHUB_EVENT_NAME": "issues",
        "GITHUB_WORKSPACE": str(workspace),
        "INPUT_TOKEN": "",
    }
    ours = subprocess.run(
        [sys.executable, "-m", "action"], cwd=workspace, env=env, capture_output=True, text=True
    )
    assert ours.returncode == 0 and "nothing to do" in ours.stdout
    assert not marker.exists()
    del env["PYTHONSAFEPATH"]
    subprocess.run([sys.executable, "-m", "action"], cwd=workspace, env=env, capture_output=True)
    assert marker.exists()  # the hazard is real


def test_third_party_actions_and_the_base_image_are_pinned_by_digest():
    """A tag can be moved to other code; a commit SHA or an image digest cannot."""
    texts = [(ROOT / "action.yml").read_text("utf-8")] + [p.read_text("utf-8") for p in WORKFLOWS]
    for text in texts:
        for used in re.findall(r"uses:\s*([^\s#]+)", text):
            if not used.startswith(("./", "docker://")):
                assert re.search(r"@[0-9a-f]{40}$", used), f"{used} is not pinned to a commit"
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text("utf-8"), re.M)[1]
    assert re.search(r"@sha256:[0-9a-f]{64}$", base), base


def test_the_default_install_is_the_engine_and_the_cli_alone(tmp_path):
    """`pip install blameless-bot` (the pre-commit hook's environment) brings no App or GitHub
    library: the CLI checks documents with all of them blocked."""
    declared = _pyproject_requirements(r"^dependencies = \[(.*?)^\]")
    assert set(declared) == {"markdown-it-py", "pyyaml", "wcmatch"}
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "BLOCKED = {'flask', 'gunicorn', 'huey', 'redis', 'jwt', 'githubkit', 'hishel', 'httpx'}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is not in the default install')\n"
        "sys.meta_path.insert(0, Block())\n",
        "utf-8",
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    check = subprocess.run(
        [sys.executable, "-m", "checks.cli", "check", "examples/postmortems", "--format", "sarif"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 1 and '"version": "2.1.0"' in check.stdout, check.stderr
