"""Browser tests: Playwright driving Debian chromium against a live server on loopback."""
