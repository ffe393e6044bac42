"""Labels written as markup, rendered by a real browser (issue 20, item 9): on the data card,
in its preview and in the class-balance chart (plotly draws <a href>, <b> and <span style>
itself) they show as the text they are, never as a link, bold or coloured text; a URL in a
label is not turned into a link. The server and page fixtures come from tests/browser.py."""

from __future__ import annotations

import hostile_input as hi
from browser import assert_no_errors, load_dataset, open_settled, wait_js


def test_markup_in_labels_shows_as_text_on_the_card_and_the_chart(server, page, tmp_path):
    data = hi.markup_csv(tmp_path / "markup.csv")
    open_settled(page, server)
    card = load_dataset(page, data, "classes (5)", "the card of the markup labels")
    for label in hi.MARKUP_LABELS:
        assert label in card, (label, card)  # shown exactly as written
    assert page.locator("#dataset-card a").count() == 0  # no link, not even from the URL
    assert page.locator("#dataset-card span[style]").count() == 0
    preview = page.locator("#dataset-preview")  # the first rows, labels among them
    assert preview.locator("a").count() == 0 and preview.locator("b").count() == 0
    wait_js(
        page,
        "() => document.querySelectorAll('#class-balance .xtick text').length >= 5",
        "the class-balance chart's class names",
    )
    ticks = page.eval_on_selector_all(
        "#class-balance .xtick text", "els => els.map(e => e.textContent)"
    )
    for label in ("<b>bold</b>", '<span style="color:red">red</span>'):
        assert label in ticks, ticks
    assert page.locator("#class-balance svg a").count() == 0  # (the modebar is not an svg)
    assert page.locator("#class-balance tspan[style*='bold']").count() == 0
    assert page.locator("#class-balance tspan[style*='red']").count() == 0
    assert_no_errors(page, "markup labels")
