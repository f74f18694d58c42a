"""The manual inside the project (README.md and docs/, issue 18 item 7):
every link between its pages leads to a page, and a heading, that exist;
no page sends a reader outside the project for the WebAPI's reference; and
docs/webapi.md names every key of the OpenAPI description."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "boards").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading):
    """The anchor GitHub gives a heading: lower case, backticks and
    punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page):
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if re.match(r"#+ ", line)}


def test_slug_is_githubs():
    assert slug("Firmware updates (OTA)") == "firmware-updates-ota"
    assert slug("POST /ota/v1/Update") == "post-otav1update"
    assert slug("Heap on a board (32-bit)") == "heap-on-a-board-32-bit"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_of_the_manual_leads_somewhere(page):
    text = page.read_text()
    assert "shared/spec" not in text  # a user of the project has no such file
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists() and (dest == ROOT or ROOT in dest.parents), (page.name, target)
        if anchor:
            assert dest.suffix == ".md" and anchor in anchors(dest), (page.name, target)


def test_the_webapi_reference_names_every_key_of_the_description():
    doc = json.loads((ROOT / "firmware" / "app" / "openapi.json").read_text())
    text = (ROOT / "docs" / "webapi.md").read_text()
    keys = set()

    def walk(node):
        if isinstance(node, dict):
            keys.update((node.get("properties") or {}).keys())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc["components"])
    walk(doc["paths"])
    missing = sorted(k for k in keys if k not in text)
    assert not missing
