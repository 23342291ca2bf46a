"""The README stays a front door: short, its links resolve, its make targets exist."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_LINES = 280
# [text](target): the target up to an optional #anchor or "title".
LINK = re.compile(r"\[[^\]]*\]\(\s*([^)\s#]*)[^)]*\)")
MAKE_TARGET = re.compile(r"`make ([a-z][\w-]*)")


def markdown_files():
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(path):
    text = path.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target):
            yield target


def makefile_targets():
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*):", text, flags=re.MULTILINE))


def test_the_readme_is_short_enough_to_read_in_five_minutes():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.name)
def test_every_relative_link_points_to_an_existing_file(path):
    broken = [t for t in relative_links(path) if not (path.parent / t).exists()]
    assert broken == [], f"{path.relative_to(ROOT)} links to missing files: {broken}"


def test_the_link_check_sees_links():
    # Guards the regex: the README's links to docs/ must be found, or the check above proves nothing.
    assert any(t.startswith("docs/") for t in relative_links(README))


def test_every_make_target_the_readme_names_exists():
    named = set(MAKE_TARGET.findall(README.read_text(encoding="utf-8")))
    assert {"run", "test"} <= named
    assert named - makefile_targets() == set()
