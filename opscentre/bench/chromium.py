"""Headless Chromium as the benches and the browser tests launch it: Debian's, WebGL through
SwiftShader (plotly's map traces need it), no network of its own; and when a map is drawn."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
MAP_READY = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  return !!(gd && gd.data && gd.data.length && gd._fullLayout && gd._fullLayout.map
            && document.querySelector('canvas.maplibregl-canvas'));
}"""
