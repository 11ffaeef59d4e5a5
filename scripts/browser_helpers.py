"""Driving the app's Streamlit widgets in a real browser (Playwright), shared by the end-to-end tests and
``scripts/screenshots.py``."""
from __future__ import annotations


def wait_until_idle(page, settle_ms: int = 500) -> None:
    """Wait until the page's script run has finished (Streamlit's running indicator is gone)."""
    page.wait_for_timeout(settle_ms)
    page.wait_for_selector("[data-testid='stStatusWidget']", state="hidden", timeout=180000)


def choose_options(page, label: str, values: list[str]) -> None:
    """Set the multiselect labelled ``label`` to exactly ``values`` (cleared first)."""
    box = page.get_by_role("combobox", name=label, exact=True)
    clear = page.locator(f"div[data-testid='stMultiSelect']:has-text('{label}')").get_by_role("button", name="Clear all")
    box.wait_for(timeout=30000)
    page.wait_for_timeout(300)  # the chips and their clear button render just after the box
    if clear.count():
        clear.click()
    for value in values:
        box.click()
        box.fill(value)
        page.wait_for_timeout(300)
        option = page.get_by_role("option", name=value, exact=True)
        if option.count():  # Enter takes the first partial match ("HOPO-methylthio" for "HOPO-methyl")
            option.first.click()
        else:
            box.press("Enter")
    page.keyboard.press("Escape")
