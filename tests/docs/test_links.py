"""Every relative link in the README and docs/ reaches a file, and every #anchor a heading that exists."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.docs.markdown import anchors, documents, headings, is_relative, links, slug
from tests.harness import ROOT

README_LIMIT = 12 * 1024


def test_the_readme_is_a_front_page_under_12_kb() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert 0 < size < README_LIMIT, f"README.md is {size} bytes; move reference material to docs/"


def test_slugs_follow_github_s_rules() -> None:
    assert slug("`POST /api/agent/run`: start a run") == "post-apiagentrun-start-a-run"
    assert slug("Retention and `410`") == "retention-and-410"
    assert slug("SQLite (`EVENT_STORE=sqlite`)") == "sqlite-event_storesqlite"
    assert slug("1. Start") == "1-start"
    assert slug("[Linked](x.md) heading") == "linked-heading"


def test_every_document_has_headings_and_the_readme_links_into_docs() -> None:
    for path in documents():
        assert headings(path), f"{path.relative_to(ROOT)} has no heading"
    targets = {link.target.split("#")[0] for link in links(ROOT / "README.md")}
    pages = {f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")}
    assert pages - targets == set(), "README.md should link every page of docs/"


def test_every_relative_link_resolves_to_a_file_and_heading() -> None:
    checked: list[str] = []
    broken: list[str] = []
    for document in documents():
        for link in links(document):
            if not is_relative(link.target):
                continue
            path_part, _, anchor = link.target.partition("#")
            target = (document.parent / unquote(path_part)).resolve() if path_part else document
            checked.append(link.target)
            if ROOT.resolve() not in target.parents and target != ROOT.resolve():
                broken.append(f"{link.where()}: {link.target} leaves the repository")
            elif not target.exists():
                broken.append(f"{link.where()}: {link.target} names no file")
            elif anchor:
                if target.suffix != ".md":
                    broken.append(f"{link.where()}: {link.target} has an anchor into a file that is not Markdown")
                elif anchor not in anchors(target):
                    broken.append(f"{link.where()}: no heading in {target.relative_to(ROOT)} has the anchor #{anchor}")
    assert len(checked) >= 50, f"only {len(checked)} relative links found: is the link pattern still right?"
    assert any("#" in target for target in checked), "no anchor was checked"
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("see [the API](api.md) and", "api.md"),
        ("a [wrapped\nlink](stream.md#events)", "stream.md#events"),
        ("[`docs/openapi.json`](docs/openapi.json)", "docs/openapi.json"),
        ("![a picture](tests/artifacts/chat-page.png)", "tests/artifacts/chat-page.png"),
    ],
)
def test_the_link_pattern_finds_links_as_github_renders_them(tmp_path, text: str, target: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Page\n\n{text}\n\n```sh\ncurl [not](a-link.md)\n```\n\n`[not](a-link-either.md)`\n")
    assert [link.target for link in links(page)] == [target]
