"""The links of README.md and docs/*.md resolve: every relative link (`[text](path#anchor)`, images too) names a
file that exists and, with `#anchor`, a heading of that file by GitHub's anchor rules; every section a text
cites by name (`docs/performance.md`, "Region form") is a heading of that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# `docs/x.md`, "Title" or docs/x.md, "Title": a section cited by its heading (line breaks allowed between).
CITATION = re.compile(r"`?([\w./-]+\.md)`?,\s+\"([^\"]+)\"")
FENCE = re.compile(r"^(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `# comment` in a bash block is no heading, and its
    `[x](y)` no link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def headings(path: Path) -> list[str]:
    return [m.group(1).strip() for line in prose_lines(path.read_text(encoding="utf-8"))
            if (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line))]  # fmt: skip


def github_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of PATH: the heading's text without its markdown (code
    backticks, emphasis, link targets), lower case, every character but letters, digits, '_', '-' and
    spaces dropped, spaces made hyphens; a repeated anchor gets -1, -2, ... in order."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for heading in headings(path):
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
        text = re.sub(r"[`*]", "", text).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def broken_links(doc: Path) -> list[str]:
    text = "\n".join(prose_lines(doc.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(REPO) if linked.is_relative_to(REPO) else linked}")
        elif anchor and linked.suffix == ".md" and anchor not in github_anchors(linked):
            broken.append(f"{target}: no heading of {linked.relative_to(REPO)} has the anchor #{anchor}")
    for name, section in CITATION.findall(text):
        cited = next((p for p in (REPO / name, doc.parent / name) if p.is_file()), None)
        wanted = " ".join(section.split())
        if cited is None:
            broken.append(f'{name}, "{wanted}": no file {name}')
        elif not any(re.sub(r"[`*]", "", h).startswith(wanted) for h in headings(cited)):
            broken.append(f'{name}, "{wanted}": no heading of {cited.relative_to(REPO)} starts so')
    return broken


def test_the_anchor_rules_are_githubs():
    # Headings as GitHub renders them, anchors read off github.com for headings of this repository's kind.
    doc = REPO / "docs" / "serving.md"
    anchors = github_anchors(doc)
    assert "what-is-open-without-a-key" in anchors
    assert "python-client-and-sean-synth---url" in anchors  # `--url`: the backticks go, both hyphens stay
    assert "get-v1info" in anchors  # "### `GET /v1/info`": the slashes go


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_every_relative_link_and_cited_section_resolves(doc):
    broken = broken_links(doc)
    assert not broken, f"{doc.relative_to(REPO)}: broken links:\n" + "\n".join(broken)
