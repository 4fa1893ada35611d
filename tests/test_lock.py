"""The lock files pin what pyproject.toml asks for, agree with each other and with .venv.

``requirements/main.txt`` (runtime) and ``requirements/dev.txt`` (runtime plus the dev extra)
are written by ``make lock``. Each check is a pure function that returns its problems, tried
first on a small bad example (so it can fail), then on the real files and environment.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
MAIN_LOCK = REPO / "requirements" / "main.txt"
DEV_LOCK = REPO / "requirements" / "dev.txt"
DEV_EXTRA = "dev"
REGENERATE = "run `make lock`"
REINSTALL = "reinstall with `.venv/bin/pip install -r requirements/dev.txt`"

Lock = dict[NormalizedName, Version]


def parse_lock(text: str, source: str) -> tuple[Lock, list[str]]:
    """The pins of a lock file (those whose marker holds here) and its malformed lines."""
    pins: Lock = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}: {line!r}"
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            problems.append(f"{where} is not a requirement `name==version`")
            continue
        specifiers = list(requirement.specifier)
        if requirement.url or requirement.extras or len(specifiers) != 1:
            problems.append(f"{where} is not a plain `name==version`")
            continue
        if specifiers[0].operator != "==" or "*" in specifiers[0].version:
            problems.append(f"{where} is not an exact pin `name==version`")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        if name in pins:
            problems.append(f"{where} pins {name} a second time")
        pins[name] = Version(specifiers[0].version)
    return pins, problems


def read_lock(path: Path) -> tuple[Lock, list[str]]:
    return parse_lock(path.read_text(), str(path.relative_to(REPO)))


def pin_problems(requirements: Iterable[str], lock: Lock, lock_name: str, extra: str) -> list[str]:
    """Direct requirements (of ``extra``, or the runtime's for "") missing or out of range."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        pinned = lock.get(name)
        if pinned is None:
            problems.append(f"{requirement} is not pinned in {lock_name}: {REGENERATE}")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{lock_name} pins {name}=={pinned}, outside {requirement}")
    return problems


def agreement_problems(main: Lock, dev: Lock) -> list[str]:
    """Packages of the runtime lock that the dev lock lacks or pins at another version."""
    problems = []
    for name, version in sorted(main.items()):
        if name not in dev:
            problems.append(f"{name}=={version} is in main.txt but not in dev.txt: {REGENERATE}")
        elif dev[name] != version:
            problems.append(f"{name}: main.txt pins {version}, dev.txt {dev[name]}: {REGENERATE}")
    return problems


def environment_problems(lock: Lock, installed: Mapping[NormalizedName, str]) -> list[str]:
    """Locked packages that are missing from the environment or installed at another version."""
    problems = []
    for name, version in sorted(lock.items()):
        found = installed.get(name)
        if found is None:
            problems.append(f"{name}=={version} is locked but not installed: {REINSTALL}")
        elif Version(found) != version:
            problems.append(f"{name} {found} is installed, the lock pins {version}: {REINSTALL}")
    return problems


def installed_versions() -> dict[NormalizedName, str]:
    """Name and version of every distribution importable here (the first one on sys.path)."""
    versions: dict[NormalizedName, str] = {}
    for distribution in distributions():
        name = distribution.metadata["Name"]
        if name:  # a broken install can leave metadata without a name
            versions.setdefault(canonicalize_name(name), distribution.version)
    return versions


def project_requirements() -> tuple[list[str], list[str]]:
    """The runtime requirements of pyproject.toml and those of its dev extra."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return project["dependencies"], project["optional-dependencies"][DEV_EXTRA]


# the checks can fail -------------------------------------------------------------------------


def test_parse_lock_rejects_every_line_that_is_not_an_exact_pin() -> None:
    text = "\n".join(
        [
            "# a comment",
            "good==1.0",
            "    # via good",
            "marked==2.0 ; python_version >= '3'",
            "elsewhere==3.0 ; sys_platform == 'nowhere'",
            "ranged>=1",
            "wild==1.*",
            "extras[s3]==1.0",
            "-e .",
            "--index-url somewhere",
        ]
    )

    pins, problems = parse_lock(text, "x.txt")

    assert pins == {"good": Version("1.0"), "marked": Version("2.0")}
    assert [problem.split(":")[1] for problem in problems] == ["6", "7", "8", "9", "10"]


def test_pin_problems_names_a_missing_pin_and_a_pin_outside_its_range() -> None:
    lock: Lock = {canonicalize_name("Old_Lib"): Version("1.5"), "torch": Version("2.13.0+cpu")}
    requirements = ["old-lib>=2", "missing>=1", "torch==2.13.0", "skipped>=1; extra == 'dev'"]

    problems = pin_problems(requirements, lock, "main.txt", extra="")

    assert len(problems) == 2
    assert "old-lib==1.5, outside old-lib>=2" in problems[0]
    assert problems[1].startswith("missing>=1 is not pinned in main.txt")


def test_agreement_problems_names_a_package_missing_from_dev_and_one_pinned_twice() -> None:
    main: Lock = {"same": Version("1"), "moved": Version("1"), "gone": Version("1")}
    dev: Lock = {"same": Version("1"), "moved": Version("2"), "extra": Version("1")}

    problems = agreement_problems(main, dev)

    assert [problem.split(maxsplit=1)[0] for problem in problems] == ["gone==1", "moved:"]


def test_environment_problems_catches_a_package_changed_or_removed_by_hand() -> None:
    lock: Lock = {"kept": Version("1.0"), "patched": Version("1.0"), "removed": Version("1.0")}
    installed = {canonicalize_name(n): v for n, v in [("kept", "1.0.0"), ("patched", "1.1")]}

    problems = environment_problems(lock, installed)

    assert len(problems) == 2
    assert problems[0].startswith("patched 1.1 is installed, the lock pins 1.0")
    assert problems[1].startswith("removed==1.0 is locked but not installed")


# the real files and environment --------------------------------------------------------------


def test_every_line_of_both_locks_is_an_exact_pin() -> None:
    problems = read_lock(MAIN_LOCK)[1] + read_lock(DEV_LOCK)[1]

    assert problems == []


def test_every_runtime_dependency_is_pinned_within_its_range_in_both_locks() -> None:
    runtime, _ = project_requirements()
    main, _ = read_lock(MAIN_LOCK)
    dev, _ = read_lock(DEV_LOCK)

    problems = pin_problems(runtime, main, "main.txt", extra="") + pin_problems(
        runtime, dev, "dev.txt", extra=DEV_EXTRA
    )

    assert problems == []


def test_every_dev_dependency_is_pinned_within_its_range_in_the_dev_lock() -> None:
    _, development = project_requirements()
    dev, _ = read_lock(DEV_LOCK)

    problems = pin_problems(development, dev, "dev.txt", extra=DEV_EXTRA)

    assert problems == []


def test_the_dev_lock_pins_every_runtime_package_at_the_same_version() -> None:
    main, _ = read_lock(MAIN_LOCK)
    dev, _ = read_lock(DEV_LOCK)

    problems = agreement_problems(main, dev)

    assert problems == []


def test_the_environment_has_exactly_the_versions_of_the_dev_lock() -> None:
    dev, _ = read_lock(DEV_LOCK)

    problems = environment_problems(dev, installed_versions())

    assert problems == []
