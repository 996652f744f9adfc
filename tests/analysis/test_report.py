"""The report: written by the workflow's report step, self-contained, with the tables and plots."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from html.parser import HTMLParser

from molgen.analysis import load_run, write_html_report
from molgen.pipeline import write_report


class _Page(HTMLParser):
    """Every src/href value, the text of table cells, and the headings."""

    def __init__(self) -> None:
        super().__init__()
        self.links, self.cells, self.headings, self.tables = [], [], [], 0
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]
        self.tables += tag == "table"
        self._in = tag if tag in ("td", "th", "h1", "h2", "h3") else None

    def handle_data(self, data):
        if self._in in ("td", "th"):
            self.cells.append(data)
        elif self._in in ("h1", "h2", "h3"):
            self.headings.append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def assert_self_contained(text: str) -> _Page:
    page = _parse(text)
    for link in page.links:
        assert link.startswith(("data:", "#")), f"external reference: {link[:80]}"
    assert not re.search(r"<(script|link|iframe|object)\b", text, re.IGNORECASE)
    assert not re.search(r"url\(", text) and "@import" not in text
    for uri in (u for u in page.links if u.startswith("data:")):
        assert uri.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,"))
        raw = base64.b64decode(uri.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" or b"<svg" in raw
    return page


def test_report_step_writes_the_rich_report(quick_dir):
    m = json.loads((quick_dir / "manifest.json").read_text())
    outputs = m["steps"]["report"]["outputs"]
    assert m["steps"]["report"]["status"] == "complete" and outputs["html"] == str(quick_dir / "report.html")
    text = (quick_dir / "report.html").read_text()
    page = assert_self_contained(text)
    # the summary tables: steps, validation metrics with their values, checks
    metrics = json.loads((quick_dir / "steps" / "validate" / "metrics.json").read_text())
    assert "<table>" in text and page.tables >= 4
    assert {"Steps", "Validation: validate", "Metrics", "Checks (pass rate)"} <= set(page.headings)
    for key in ("n_input", "atom_stable_edm", "mol_stable_edm", "valid", "pb_valid"):
        assert key in page.cells
    assert f"{metrics['atom_stable_edm']:.3f}" in page.cells and "16" in page.cells
    # the plots, embedded: summary, properties, bond lengths, bond angles; the molecule grid
    pngs = [u for u in page.links if u.startswith("data:image/png")]
    assert len(pngs) >= 4 and all(len(u) > 5000 for u in pngs)
    # no molecule of a 6-step model is valid: the best-molecules section says so instead of a grid
    assert not any(u.startswith("data:image/svg+xml") for u in page.links)
    assert "No molecule qualifies: none of the 16 is valid, one fragment, no radical, not hydrogen only." in text
    assert 'alt="property distributions"' in text and 'alt="bond lengths"' in text
    # report.json: the summary, as before
    report = json.loads((quick_dir / "report.json").read_text())
    assert [s["name"] for s in report["steps"]] == ["generate", "validate", "report"]
    assert report["validation"]["validate"]["summary"]["n_input"] == 16 and report["status"] == "complete"


def test_report_of_a_docking_run(pocket_dir):
    text = (pocket_dir / "report.html").read_text()
    page = assert_self_contained(text)
    assert "Docking: dock" in page.headings and 'alt="Vina scores"' in text
    assert "best_kcal_mol" in page.cells and "ligand is outside the docking box" in " ".join(page.cells)
    assert any(h.startswith("Best molecules") and "vina_kcal_mol" in h for h in page.headings)
    report = json.loads((pocket_dir / "report.json").read_text())
    assert report["docking"]["dock"]["num_ok"] == 4 and report["docking"]["dock"]["num_failed"] == 1


def test_report_elsewhere_survives_a_failing_plot(quick_dir, tmp_path, monkeypatch):
    from molgen.analysis import plots

    def boom(*a, **k):
        raise RuntimeError("no luck")

    monkeypatch.setattr(plots, "plot_property_distributions", boom)
    out = write_html_report(load_run(quick_dir), tmp_path / "r" / "copy.html")
    text = out.read_text()
    assert "Validation: validate" in text and 'alt="bond lengths"' in text
    assert "property plot: not drawn (no luck)" in text


def test_report_of_a_failed_run(quick_dir, tmp_path):
    """A run whose validate step failed: the steps table says so; no validation section."""
    shutil.copytree(quick_dir, dst := tmp_path / "failed")
    m = json.loads((dst / "manifest.json").read_text())
    m["status"] = "failed"
    m["steps"]["validate"].update(status="failed", error="step 'validate' failed: boom")
    (dst / "manifest.json").write_text(json.dumps(m))
    text = write_report(dst).read_text()
    page = assert_self_contained(text)
    assert "failed" in page.cells and "step 'validate' failed: boom" in page.cells
    assert "Validation: validate" not in page.headings


def _overview(text: str) -> dict[str, list[str]]:
    """The rows of the at-a-glance table: stage -> its cells."""
    body = text.split('<table class="overview">', 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    rows = {}
    for tr in re.findall(r"<tr><th>(.*?)</th>(.*?)</tr>", body):
        rows[tr[0]] = re.findall(r"<td[^>]*>(.*?)</td>", tr[1])
    return rows


def test_first_screen_table_of_a_quick_run(quick_dir):
    import pandas as pd

    text = (quick_dir / "report.html").read_text()
    # the at-a-glance table comes first, before the steps table
    assert text.index('<table class="overview">') < text.index('<h2 id="steps">')
    rows = _overview(text)
    assert list(rows) == ["generated", "valid", "connected", "unique", "PoseBusters-valid", "docked"]
    t = pd.read_parquet(quick_dir / "steps" / "validate" / "table.parquet")
    n = len(t)
    assert rows["generated"][:2] == [str(n), "100.0%"] and "3 sampler steps" in rows["generated"][2]
    for stage, col in (("valid", "valid"), ("connected", "valid_connected"), ("PoseBusters-valid", "pb_valid")):
        k = int(t[col].sum())
        assert rows[stage][:2] == [f"{k:,}", f"{k / n:.1%}"]
    assert "bonds: predicted, hydrogens: auto" in rows["valid"][2]
    # the checks this run chose (4 of them, one not PoseBusters), with their thresholds
    assert rows["PoseBusters-valid"][2] == html.escape(
        "all 4 PoseBusters checks pass: bond lengths within 25% of the distance-geometry bounds; bond angles "
        "within 25%; no unpaired electrons; no internal clash (tolerance 30%)")
    assert rows["docked"] == ["not run", "", "no dock step"]
    report = json.loads((quick_dir / "report.json").read_text())
    assert [r["stage"] for r in report["overview"]] == ["generated", "valid", "connected", "unique", "pb_valid",
                                                         "docked"]


def test_first_screen_reads_the_recorded_thresholds(quick_dir, tmp_path):
    shutil.copytree(quick_dir, dst := tmp_path / "strict")
    path = dst / "steps" / "validate" / "metrics.json"
    m = json.loads(path.read_text())
    m["config"]["bond_length_tol"] = 0.4
    path.write_text(json.dumps(m))
    rows = _overview(write_report(dst).read_text())
    assert "bond lengths within 40% of the distance-geometry bounds" in rows["PoseBusters-valid"][2]


def test_first_screen_and_best_molecules_of_a_docking_run(pocket_dir):
    text = (pocket_dir / "report.html").read_text()
    rows = _overview(text)
    assert rows["generated"][:2] == ["5", "100.0%"] and rows["docked"][:2] == ["4", "80.0%"]
    assert rows["docked"][2] == html.escape(
        "Vina score (vina, exhaustiveness 8; box around mcl1_extra_flips_ligands.sdf + 4 Å) into "
        "mcl1_extra_flips_protein.pdb; 1 of 5 failed; best " +
        f"{json.loads((pocket_dir / 'steps' / 'dock' / 'summary.json').read_text())['best_kcal_mol']:.2f} kcal/mol")
    # the best molecules: ranked by a stated key; fewer than the grid holds, and how many there were
    page = _parse(text)
    heading = [h for h in page.headings if h.startswith("Best molecules")]
    assert heading == [("Best molecules (final outputs), ranked by Vina score (kcal/mol) (vina_kcal_mol; lower "
                        "is better)")]
    # the ligand outside the box has no pose in final.sdf, so no structure to show
    assert ("4 of 5 molecules qualify (valid, one fragment, no radical, not hydrogen only); fewer than the "
            "grid&#x27;s 12: 4 shown.") in text
