"""What the browser tests share: signing in through the login page, and full-page screenshots
kept in test-output/screenshots (git-ignored) to look at after a run."""

from pathlib import Path

from tests.factories import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def fill_sign_in(page, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def sign_in(page, live_server, username: str, next_path: str) -> None:
    """Sign in on the login page and wait for the page it sends on to."""
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    fill_sign_in(page, username)
    page.wait_for_url(f"{live_server.url}{next_path}")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
