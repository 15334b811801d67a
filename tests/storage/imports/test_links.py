"""Finding paper references in a line of a document: every written form, with spans, keys and broken ids."""

from __future__ import annotations

import pytest

from storage.identity import PaperKey
from storage.imports.links import find_refs, may_hold_ref, without_refs


def _keys(line: str, *, alone: bool = False) -> list[tuple[str, str | None, int | None]]:
    refs = find_refs(line, alone=alone)
    return [(ref.kind, ref.key.key if ref.key else None, ref.key.version if ref.key else None) for ref in refs]


@pytest.mark.parametrize(
    ("line", "kind", "key", "version", "text"),
    [
        ("<https://arxiv.org/abs/2401.10034>", "arxiv", "arxiv:2401.10034", None, "<https://arxiv.org/abs/2401.10034>"),
        (
            "[paper](https://arxiv.org/pdf/2401.10034v2)",
            "arxiv",
            "arxiv:2401.10034",
            2,
            "(https://arxiv.org/pdf/2401.10034v2)",
        ),
        (
            "https://arxiv.org/pdf/2401.10034v1.pdf",
            "arxiv",
            "arxiv:2401.10034",
            1,
            "https://arxiv.org/pdf/2401.10034v1.pdf",
        ),
        ("www.arxiv.org/abs/2408.03314", "arxiv", "arxiv:2408.03314", None, "www.arxiv.org/abs/2408.03314"),
        (
            "http://export.arxiv.org/abs/2404.19756v4",
            "arxiv",
            "arxiv:2404.19756",
            4,
            "http://export.arxiv.org/abs/2404.19756v4",
        ),
        ("Source: (arXiv:2410.10630)", "arxiv", "arxiv:2410.10630", None, "(arXiv:2410.10630)"),
        ("arXiv: 2502.11873", "arxiv", "arxiv:2502.11873", None, "arXiv: 2502.11873"),
        (
            "🔗 http://arxiv.org/abs/hep-th/9901001",
            "arxiv",
            "arxiv:hep-th/9901001",
            None,
            "http://arxiv.org/abs/hep-th/9901001",
        ),
        ("arXiv:math.GT/0309136v2", "arxiv", "arxiv:math/0309136", 2, "arXiv:math.GT/0309136v2"),
        (
            "https://huggingface.co/papers/2503.04412",
            "arxiv",
            "arxiv:2503.04412",
            None,
            "https://huggingface.co/papers/2503.04412",
        ),
        ("hf.co/papers/2401.10037", "arxiv", "arxiv:2401.10037", None, "hf.co/papers/2401.10037"),
        (
            "Published: doi:10.1145/3580305.3599256",
            "doi",
            "doi:10.1145/3580305.3599256",
            None,
            "doi:10.1145/3580305.3599256",
        ),
        (
            "https://dx.doi.org/10.1038/S41592-024-02511-7",
            "doi",
            "doi:10.1038/s41592-024-02511-7",
            None,
            "https://dx.doi.org/10.1038/S41592-024-02511-7",
        ),
        (
            "https://doi.org/10.48550/arXiv.2401.10034",
            "doi",
            "arxiv:2401.10034",
            None,
            "https://doi.org/10.48550/arXiv.2401.10034",
        ),
        (
            "Paper: https://openreview.net/forum?id=abc&utm_source=x",
            "url",
            "url:https://openreview.net/forum?id=abc",
            None,
            "https://openreview.net/forum?id=abc&utm_source=x",
        ),
        ("Code at www.github.com/x/y", "url", "url:https://www.github.com/x/y", None, "www.github.com/x/y"),
    ],
)
def test_each_written_form_gives_its_canonical_key_and_span(
    line: str, kind: str, key: str, version: int | None, text: str
) -> None:
    (ref,) = find_refs(line)
    assert (ref.kind, ref.key, ref.why) == (kind, PaperKey(key, version), "")
    assert line[ref.start : ref.end] == text


def test_bare_id_counts_only_when_asked_and_alone_on_its_line() -> None:
    assert find_refs("2401.10034") == []
    assert _keys("  2401.10034v3 ", alone=True) == [("arxiv", "arxiv:2401.10034", 3)]
    assert _keys("see 2401.10034 for details", alone=True) == []
    (short,) = find_refs("2401.100", alone=True)
    assert (short.key, short.written, short.why) == (None, "2401.100", "an arXiv id cut short: 2401.100")


def test_cut_short_or_impossible_id_is_a_finding_with_the_text_as_written() -> None:
    (cut,) = find_refs("https://arxiv.org/abs/2412.0498")
    assert (cut.kind, cut.key, cut.written, cut.why) == ("arxiv", None, "2412.0498", "an arXiv id cut short: 2412.0498")
    (month,) = find_refs("arXiv:2413.00001.")
    assert (month.key, month.written, month.why) == (None, "2413.00001", "not an arXiv id: 2413.00001")
    (odd,) = find_refs("https://arxiv.org/list/cs.LG/recent")
    assert (odd.kind, odd.key, odd.why) == ("url", None, "not a paper link: https://arxiv.org/list/cs.LG/recent")


def test_trailing_punctuation_is_not_part_of_the_reference() -> None:
    for line in ("Read https://arxiv.org/abs/2401.10034.", "(see arXiv:2401.10034v2),", "**arXiv:2401.10034**!"):
        (ref,) = find_refs(line)
        assert ref.written in ("2401.10034", "2401.10034v2")
        assert ref.key is not None and ref.key.key == "arxiv:2401.10034"
    (url,) = find_refs("More at https://example.org/paper?id=7;")
    assert (url.written, url.end) == ("https://example.org/paper?id=7", 38)


def test_doi_followed_by_a_full_stop_or_closing_a_markdown_link() -> None:
    (dot,) = find_refs("Published version: https://doi.org/10.1038/nature14539.")
    assert (dot.key, dot.written) == (PaperKey("doi:10.1038/nature14539"), "10.1038/nature14539")
    (link,) = find_refs("[journal](https://doi.org/10.1016/S0140-6736(20)30183-5)")
    assert link.key == PaperKey("doi:10.1016/s0140-6736(20)30183-5")


def test_several_refs_on_one_line_come_in_order_with_their_spans() -> None:
    line = "Code: https://github.com/x/y, paper (arXiv:2401.10034) and doi:10.1145/3580305.3599256; old hep-th/9901001"
    refs = find_refs(line)
    assert [(ref.kind, ref.key.key if ref.key else None) for ref in refs] == [
        ("url", "url:https://github.com/x/y"),
        ("arxiv", "arxiv:2401.10034"),
        ("doi", "doi:10.1145/3580305.3599256"),
    ]
    assert [line[ref.start : ref.end] for ref in refs] == [
        "https://github.com/x/y",
        "(arXiv:2401.10034)",
        "doi:10.1145/3580305.3599256",
    ]
    assert without_refs(line, refs) == "Code: , paper  and ; old hep-th/9901001"


def test_prose_that_names_arxiv_is_no_reference() -> None:
    assert find_refs("It was posted on arXiv: see the link below.") == []
    assert find_refs("Attention Is All You Need (Vaswani et al., 2017)") == []
    assert not may_hold_ref("A title with 2401.10034 in it")
    assert may_hold_ref("see HF.CO/papers/2401.10034")
