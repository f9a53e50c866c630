"""Where the report puts things: a sampled study leads with its choices, a grid with its ablation;
decision columns first, the rest folded; short config IDs with a legend when labels are long;
the method named in the p header; "—" explained; numbers in scientific notation kept whole."""

from __future__ import annotations

import functools

import pandas as pd

from studies.analysis._report import build_report
from studies.analysis._format import table_html
from tests.studies.analysis._browser import sample_study, tpe_study


@functools.lru_cache(maxsize=1)
def _sampled():
    return build_report(tpe_study(n_configs=16), n_bootstrap=0, datasets="none")


def test_a_sampled_study_leads_with_its_choices_then_the_configs_by_short_id():
    report = _sampled()
    first, second = report.sections[:2]
    assert first.title == "Verdict: which choices mattered" and second.title == "Leaderboard"
    choices = first.tables[0]
    assert choices.attrs["main"][:3] == ["verdict", "parameter", "contrast"]
    assert choices.attrs["headers"]["p_adj"] == "p (max-t)"
    assert set(choices["parameter"]) == {"optimizer", "init", "lr", "weight_decay", "dropout"}
    assert any(p.startswith("Importance: ") for p in first.after)  # the one importance answer, on the first screen
    ids = report.data["config_ids"]
    assert list(ids.values())[:3] == ["c01", "c02", "c03"] and len(ids) == 16
    # figures name configs by ID (one line each: nothing to collide); the legend maps them back
    y = list(second.figures[0].data[0].y)
    assert sorted(y) == sorted(ids.values())
    (legend,) = second.folds
    assert legend.open and list(legend.tables[0]["id"]) == [f"c{i:02d}" for i in range(1, 17)]
    page = report.to_html()
    assert "data-decision='1' title='the interval that made the verdict" in page
    from studies.analysis._text import format_summary

    text = format_summary(report).splitlines()
    assert report.summary().splitlines() == text  # the method the CLI calls is the same text
    assert text[1].startswith("choices: ") and any(line.startswith("importance: ") for line in text)
    # (a line longer than 100 columns wraps onto indented continuation lines)
    assert text[next(i for i, line in enumerate(text)
                     if i > 0 and not line.startswith(("choices: ", " ")))].startswith(
        "configs against the best: Of 15 comparison(s)")  # a count, not one line per sampled config
    assert ">p (max-t)</th>" in page


def test_a_grid_keeps_its_first_screen_with_the_decision_columns_first():
    report = build_report(sample_study(), n_bootstrap=0, datasets="none")
    assert report.sections[0].title == "Verdict: what mattered"
    page = report.to_html()
    verdict = page[page.index("Verdict: what mattered"):page.index("id='s-summary'")]
    headers = [h.split(">")[-1] for h in verdict.split("</th>")[:-1]]
    assert headers[:6] == ["Verdict", "Variant", "Δ objective", "Δ simultaneous 95% CI", "p (Dunnett)",
                           "Repeats to decide"]
    assert "— in Repeats to decide: already decided, or more seeds alone would not decide it" in verdict
    assert "config_ids" not in report.data  # short labels are kept as they are
    ablation = page[page.index("id='s-ablation-against-the-baseline'"):]
    assert "more column(s): " in ablation[:ablation.index("</section>")]


def test_folded_columns_come_in_narrow_tables_and_sampled_floats_stay_on_one_line():
    frame = pd.DataFrame({"verdict": ["worse"], "variant": ["lr=1.78e-06, wd=0.1"], "delta": [-0.1], "p_adj": [0.01],
                          **{f"extra_{i}": [i] for i in range(8)}})
    frame.attrs.update(main=["verdict", "variant", "delta", "p_adj"], decision=["verdict", "delta"],
                       headers={"p_adj": "p (Dunnett)"})
    page = table_html(frame)
    assert "<span class='nw'>lr=<span class='nw'>1.78e-06</span></span>" in page
    assert page.count("<table>") == 3  # the main table, then the 8 other columns in two folded tables of 6 and 2
    assert "8 more column(s): Extra 0" in page and ">p (Dunnett)</th>" in page
    assert page.count("data-decision='1'") == 2
