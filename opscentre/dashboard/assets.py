"""Where the web pages' static files live (CSS, the small JS files the CSP allows): shared by the
operator console and the public view, so the public app imports nothing of the console."""

from pathlib import Path

ASSETS = str(Path(__file__).parent / "assets")
