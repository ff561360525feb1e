"""deploy/Dockerfile, checked statically (no container engine here): sources, user, variants, entry point.

The image itself is not built by the tests; docs/operations.md says so and gives the build commands.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib

import pytest
from dockerfile_parse import DockerfileParser

from tests.conftest import REPO
from tests.ops.conftest import DEPLOY, parse_command

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    parser.content  # noqa: B018 - read now: a missing file fails here
    return parser


def instructions(dockerfile: DockerfileParser, name: str) -> list[str]:
    return [item["value"] for item in dockerfile.structure if item["instruction"] == name]


def final_stage(dockerfile: DockerfileParser) -> list[dict]:
    structure = dockerfile.structure
    last_from = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
    return structure[last_from:]


def exec_form(value: str) -> list[str]:
    return json.loads(value) if value.lstrip().startswith("[") else shlex.split(value)


def test_every_copied_source_exists_in_the_build_context(dockerfile):
    """The build context is the repository root (compose says `context: ..`)."""
    copies = instructions(dockerfile, "COPY")
    assert copies
    for value in copies:
        words = [w for w in value.split() if not w.startswith("--")]
        if "--from=" in value:
            continue  # from the build stage, not from the context
        *sources, _target = words
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"


def installed_packages() -> set[str]:
    """The top-level packages pyproject.toml installs (`include = ["searchcore*", ...]`)."""
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*").rstrip(".") for pattern in patterns}


def test_the_image_gets_every_package_pyproject_installs(dockerfile):
    """A package left out of the image makes its commands fail there (`eval` without relevance/)."""
    assert installed_packages() >= {"searchcore", "localsearch", "ingest", "sidecar", "relevance"}
    copied = set()
    for value in instructions(dockerfile, "COPY"):
        if "--from=" not in value:
            *sources, _target = [w for w in value.split() if not w.startswith("--")]
            copied.update(source.rstrip("/") for source in sources)
    missing = installed_packages() - copied
    assert not missing, f"deploy/Dockerfile does not COPY {sorted(missing)}, which pyproject.toml installs"


def test_every_command_of_the_cli_is_in_an_installed_package():
    from sidecar.cli import SUBCOMMANDS

    packages = {module.split(".")[0] for module, _help in SUBCOMMANDS.values()}
    assert "relevance" in packages  # eval, train-reranker
    assert packages <= installed_packages(), f"commands live in {sorted(packages - installed_packages())}"


def test_dockerignore_keeps_the_copied_sources_and_drops_the_rest():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "data", "tests"} <= ignored
    assert not ignored & (installed_packages() | {"pyproject.toml", "README.md"})


def test_base_images_are_slim_python_of_the_supported_version(dockerfile):
    requires = PYPROJECT["project"]["requires-python"]   # e.g. ">=3.11,<3.12"
    minor = re.search(r">=\s*3\.(\d+)", requires).group(1)
    default_image = next(v for v in instructions(dockerfile, "ARG") if v.startswith("PYTHON_IMAGE="))
    image = default_image.split("=", 1)[1]
    assert re.fullmatch(rf"python:3\.{minor}-slim(-\w+)?", image), image
    assert all(parent == image for parent in dockerfile.parent_images), dockerfile.parent_images


def test_torch_pin_and_both_variants(dockerfile):
    pinned = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch=="))
    assert f"TORCH_VERSION={pinned.split('==')[1]}" in instructions(dockerfile, "ARG")
    torch_install = next(v for v in instructions(dockerfile, "RUN") if "torch==" in v)
    assert "cpu)" in torch_install and "cuda)" in torch_install
    assert "download.pytorch.org/whl/cpu" in torch_install.split("cuda)")[0]
    assert "exit 1" in torch_install  # an unknown VARIANT fails the build instead of guessing


def test_models_are_baked_by_build_arg_or_mounted(dockerfile):
    assert "BAKE_RERANKER=\"\"" in instructions(dockerfile, "ARG")
    bake = next(v for v in instructions(dockerfile, "RUN") if "BAKE_RERANKER" in v)
    assert "/models/" in bake and "CrossEncoder" in bake
    env = " ".join(item["value"] for item in final_stage(dockerfile) if item["instruction"] == "ENV")
    assert "RERANK_MODELS_DIR=/models" in env and "HF_HUB_OFFLINE=1" in env
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/" in env


def test_runs_as_a_non_root_user_created_in_the_image(dockerfile):
    stage = final_stage(dockerfile)
    users = [item for item in stage if item["instruction"] == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1]["value"].split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(item["value"] for item in stage if item["instruction"] == "RUN")
    assert f"--uid {user}" in created
    last_run = max(i for i, item in enumerate(stage) if item["instruction"] == "RUN")
    assert stage.index(users[-1]) > last_run, "USER must come after the last RUN"


def test_entry_point_and_command_are_a_valid_serve_invocation(dockerfile):
    entrypoint = exec_form(instructions(dockerfile, "ENTRYPOINT")[-1])
    assert entrypoint == list(PYPROJECT["project"]["scripts"])  # ["rerank-sidecar"]
    command = exec_form(instructions(dockerfile, "CMD")[-1])
    args = parse_command(command)
    assert args.command == "serve" and args.host == "0.0.0.0"
    assert instructions(dockerfile, "EXPOSE") == [str(args.port)]
    healthcheck = instructions(dockerfile, "HEALTHCHECK")[-1]
    assert f"http://127.0.0.1:{args.port}/-/healthy" in healthcheck

