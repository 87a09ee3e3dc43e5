"""Each chapter says what it needs to run (CPU is enough? which cells want a GPU?), in the
box the chapters share: an admonition titled "What this chapter needs" (see Chapter 1)."""
from __future__ import annotations

import re

import pytest

from site_tools import markdown_text, source_path, toc_notebooks

NEEDS = re.compile(r"^(`{3,}|:{3,})\{admonition\}\s*What this chapter needs\s*\n(.*?)^\1\s*$",
                   re.M | re.S)


@pytest.mark.parametrize("doc", toc_notebooks())
def test_chapter_states_what_it_needs(doc):
    text = markdown_text(source_path(doc))
    box = NEEDS.search(text)
    assert box, f"{doc}: no '{{admonition}} What this chapter needs' box (say CPU or GPU, and time)"
    assert re.search(r"\b(CPU|GPU)\b", box.group(2)), f"{doc}: the box names neither CPU nor GPU"
