"""The code's pointers into the reference resolve in the repository: every ``docs/<page>.md#anchor``
cited in the code, the README and the reference itself names a page and a heading that exist, and
no comment cites a section of a document the repository does not hold (``CONTRACT §n``)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CODE = [ROOT / "main.py", *sorted((ROOT / "sync").rglob("*.py")), *sorted((ROOT / "local").rglob("*.py")),
        *sorted((ROOT / "tests").rglob("*.py")), *sorted((ROOT / "bench").rglob("*.py"))]

# ``docs/connections.md#link-tokens, #api-tokens``: a page, an anchor, and more anchors of the same page.
CITATION = re.compile(r"docs/([\w-]+\.md)((?:#[\w-]+)?(?:,\s*#[\w-]+)*)")
DOCS_LINK = re.compile(r"\]\(([\w-]+\.md)(#[\w-]+)?\)")  # a link from one page of docs/ to another
SECTION = re.compile(r"(RFC \d+ )?§\s*\d")  # a numbered section: an RFC's is a citation that resolves


def cites_outside(line: str) -> bool:
    return any(not m.group(1) for m in SECTION.finditer(line))


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if in_fence or not re.match(r"#{1,6} ", line):
            continue
        base = slug(line.lstrip("#"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def citations(text: str):
    for match in CITATION.finditer(text):
        yield match.group(1), re.findall(r"#([\w-]+)", match.group(2))


def test_the_slug_is_githubs():
    assert slug(" Reading and using `openapi.yaml`") == "reading-and-using-openapiyaml"
    assert slug("Connections: connecting a Google account, status, disconnect") == \
        "connections-connecting-a-google-account-status-disconnect"
    assert slug("After the 202") == "after-the-202"


def test_a_section_number_without_its_document_is_caught():
    assert cites_outside("# the bulk lane (CONTRACT §7)") and cites_outside("pings (§9)")
    assert not cites_outside("# RFC 6749 §5.1: scope may be left out") and not cites_outside("docs/drift.md")


def test_the_citation_reading_finds_shorthand_anchors():
    found = list(citations("(docs/connections.md#link-tokens, #api-tokens) and docs/drift.md."))
    assert found == [("connections.md", ["link-tokens", "api-tokens"]), ("drift.md", [])]


@pytest.mark.parametrize("path", [ROOT / "main.py", *sorted((ROOT / "sync").rglob("*.py"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_citation_of_a_document_outside_the_repository(path):
    bad = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
           if cites_outside(line)]
    assert not bad, "cite docs/<page>.md#anchor instead:\n" + "\n".join(bad)


def test_every_cited_page_and_anchor_exists():
    pages = {p.name: anchors(p) for p in DOCS.glob("*.md")}
    broken = []
    sources = [(p, citations(p.read_text(encoding="utf-8"))) for p in [*CODE, ROOT / "README.md"]]
    sources += [(p, ((m.group(1), [m.group(2)[1:]] if m.group(2) else []) for m in DOCS_LINK.finditer(p.read_text())))
                for p in DOCS.glob("*.md")]
    count = 0
    for path, found in sources:
        for page, names in found:
            count += 1
            if page not in pages:
                broken.append(f"{path.relative_to(ROOT)}: docs/{page} does not exist")
                continue
            broken += [f"{path.relative_to(ROOT)}: docs/{page}#{name} is no heading of that page"
                       for name in names if name not in pages[page]]
    assert count > 50  # the reading found the citations (there are many)
    assert not broken, "\n".join(broken)
