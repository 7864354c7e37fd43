"""The docs site builds offline with `mkdocs build --strict`, and a broken link fails that build."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from site_build import DOCS, mkdocs_build


def test_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = mkdocs_build(DOCS / "mkdocs.yml", site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").is_file()
    for page in ("development", "architecture", "wire-api", "extending", "api"):
        assert (site / page / "index.html").is_file(), page


def test_the_api_reference_documents_every_public_name(tmp_path: Path) -> None:
    import worldflux

    site = tmp_path / "site"
    result = mkdocs_build(DOCS / "mkdocs.yml", site)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (site / "api" / "index.html").read_text("utf-8")
    assert "<!-- api-reference -->" not in page  # the marker was replaced
    for name in worldflux.__all__:
        if name != "__version__":
            assert f'id="{name.lower()}"' in page, name
    # Docstrings and signatures come from the code itself.
    assert "An action: its kind, exactly one primary value and namespaced extras." in page
    assert "create_world_model" in page and "model_id" in page


def test_broken_internal_link_fails_the_strict_build(tmp_path: Path) -> None:
    shutil.copytree(DOCS / "content", tmp_path / "content")
    shutil.copytree(DOCS / "hooks", tmp_path / "hooks")
    (tmp_path / "content" / "broken.md").write_text(
        "# Broken\n\nSee [the missing page](no-such-page.md).\n"
    )
    config = yaml.safe_load((DOCS / "mkdocs.yml").read_text())
    config["nav"].append({"Broken": "broken.md"})
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stdout + result.stderr
