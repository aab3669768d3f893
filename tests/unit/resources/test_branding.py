"""A team's brand colours go into the web view's CSS (`--brand`, `--accent` in a <style> of
base.html) as written, so only #rrggbb is accepted: anything else could add CSS rules or
close the style element. `chargectl validate` refuses the rest naming the file, line and
field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from controller.cli.app import main
from controller.resources.team import Branding

HOSTILE = [
    "red; background: url(http://x)",
    "#ffffff; background: url(http://x)",
    "#ffffff</style><script>alert(1)</script>",
    "</style>",
    "#ffffff\n",
    "#fff",
    "#12345g",
    "red",
    "",
]


def test_a_hex_colour_is_accepted() -> None:
    branding = Branding.model_validate({"primaryColor": "#1a2B3c", "accentColor": "#FFFFFF"})
    assert (branding.primary_color, branding.accent_color) == ("#1a2B3c", "#FFFFFF")


@pytest.mark.parametrize("colour", HOSTILE)
@pytest.mark.parametrize("field", ["primaryColor", "accentColor"])
def test_anything_but_a_hex_colour_is_refused(field: str, colour: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Branding.model_validate({field: colour})
    assert refused.value.errors()[0]["loc"] == (field,)


SVG_LOGO = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4="


@pytest.mark.parametrize("logo", ["https://cdn.example.com/logo.svg", SVG_LOGO])
def test_a_logo_over_https_or_inline_is_accepted(logo: str) -> None:
    assert Branding.model_validate({"logoUrl": logo}).logo_url == logo


@pytest.mark.parametrize(
    "logo",
    [
        "http://cdn.example.com/logo.svg",  # the view's policy would block it: say so now
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "data:image/svg+xml,<svg onload=alert(1)>",  # not base64: raw markup
        'https://x.example/a.svg" onerror="alert(1)',
        "data:image/png;base64," + "A" * 40_000,  # too large to send on every page
    ],
)
def test_any_other_logo_is_refused(logo: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Branding.model_validate({"logoUrl": logo})
    assert refused.value.errors()[0]["loc"] == ("logoUrl",)


TEAM = """\
apiVersion: chargectl.io/v1alpha1
kind: Team
metadata:
  name: ops
spec:
  displayName: Ops
  handle: ops
  branding:
    primaryColor: "#0a7d4f"
    accentColor: "red; background: url(http://x)"
"""


def test_validate_names_the_file_line_and_field_of_a_colour_that_could_inject_css(
    tmp_path: Path,
) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(team)])
    assert result.exit_code != 0
    assert f"{team}:10:" in result.output
    assert "spec.branding.accentColor" in result.output
    assert "red; background: url(http://x)" in result.output
    assert "primaryColor" not in result.output  # the good one is not complained about


def test_validate_refuses_a_colour_closing_the_style_element(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        TEAM.replace("red; background: url(http://x)", "#fff</style><script>x()</script>"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["validate", str(team)])
    assert result.exit_code != 0
    assert f"{team}:10:" in result.output and "spec.branding.accentColor" in result.output
