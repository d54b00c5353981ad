"""`gcl-search train` wiring: overrides reach the recipe, library errors become one-line exit-1 messages."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gcl_search.cli import main
from gcl_search.training.setup import DONE_FILE, SNAPSHOT_FILE

RECIPE = Path(__file__).resolve().parents[2] / "training" / "icecat-minilm-gcl.toml"


def test_finished_run_is_refused_with_a_hint(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / SNAPSHOT_FILE).write_text("{}")
    (out / DONE_FILE).write_text("{}")
    result = CliRunner().invoke(main, ["train", "--recipe", str(RECIPE), "--output-dir", str(out)])
    assert result.exit_code == 1
    assert "finished run" in result.output and "--overwrite" in result.output


def test_bad_recipe_key_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(RECIPE.read_text().replace("epochs = 2", "epochs = 0"))
    result = CliRunner().invoke(main, ["train", "--recipe", str(bad)])
    assert result.exit_code == 1
    assert "bad.toml" in result.output and "epochs must be >= 1" in result.output


def test_resume_without_a_run_is_refused(tmp_path):
    result = CliRunner().invoke(
        main,
        ["train", "--recipe", str(RECIPE), "-o", str(tmp_path / "none"), "--resume", "--weighting", "binary"],
    )
    assert result.exit_code == 1 and "nothing to resume" in result.output


def test_unknown_weighting_is_a_usage_error():
    result = CliRunner().invoke(main, ["train", "--recipe", str(RECIPE), "--weighting", "cubic"])
    assert result.exit_code == 2 and "cubic" in result.output
