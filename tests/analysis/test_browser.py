"""The HTML report rendered in headless Chromium: the page is not blank and shows tables and plots.

Needs the Debian package ``chromium`` (``apt-get install -y chromium``); marked ``browser`` (not in
the default run: ``pytest -m browser tests/analysis``).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread

from molgen.analysis.plots import GENERATED_COLOR

WIDTH, HEIGHT = 1280, 4000


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium (apt-get install -y chromium)")


def screenshot(html, png, tmp_path) -> np.ndarray:
    """RGB array (0-1) of the top WIDTH x HEIGHT pixels of the page."""
    cmd = [_chromium(), "--headless", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
           f"--screenshot={png}", html.resolve().as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox (containers, CI)
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    return imread(png)[..., :3]


@pytest.mark.browser
def test_report_renders_with_tables_and_plots(pocket_dir, tmp_path):
    img = screenshot(pocket_dir / "report.html", tmp_path / "report.png", tmp_path)
    assert img.shape == (HEIGHT, WIDTH, 3)
    white = (img > 0.97).all(axis=2)
    assert 0.03 < 1 - white.mean() < 0.6  # neither blank nor a solid block
    # tables: header cells (#f0f0f0 background) in the upper part of the page
    header = (np.abs(img - 240 / 255) < 2 / 255).all(axis=2)
    header_rows = np.flatnonzero(header.sum(axis=1) > 30)
    assert len(header_rows) > 20 and header_rows[0] < HEIGHT // 4
    # plots: the generated-series colour (bars of the summary and histograms), below the first table
    rgb = np.array([int(GENERATED_COLOR[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    blue = (np.abs(img - rgb) < 0.08).all(axis=2)
    blue_rows = np.flatnonzero(blue.sum(axis=1) > 5)
    assert blue.sum() > 5000 and blue_rows[0] > header_rows[0]
    # a plot region: a tall band of rows with plot colour, taller than any table row
    assert len(blue_rows) > 200
    # dark text somewhere in every quarter of the first screen (headings, table text, axis labels)
    dark = (img < 0.3).all(axis=2)
    assert all(dark[q * 300:(q + 1) * 300].sum() > 100 for q in range(4))


@pytest.mark.browser
def test_first_screen_shows_the_overview_table(pocket_dir, tmp_path):
    """The at-a-glance table (its row headers are #f7f7f7) fills part of the first 800 pixels."""
    img = screenshot(pocket_dir / "report.html", tmp_path / "report.png", tmp_path)
    row_head = (np.abs(img - 247 / 255) < 1.5 / 255).all(axis=2)
    rows = np.flatnonzero(row_head[:800].sum(axis=1) > 40)
    assert len(rows) > 6 * 12 and rows.min() < 300  # six table rows, high on the first screen
