#!/usr/bin/env python3
"""trunk post_build hook, two steps:

1. Moves trunk's inline bootstrap script out of index.html into
   boot-<hash>.js, so the server's CSP (script-src 'self'
   'wasm-unsafe-eval', no 'unsafe-inline') runs the app unchanged.
2. Vendors TradingView's lightweight-charts (Apache-2.0; npm package pinned
   in vendor/package-lock.json, installed by scripts/build-spa): its
   standalone build becomes lightweight-charts-<hash>.js (a same-origin
   file, loaded with `defer` before the app starts, so the app finds
   `window.LightweightCharts`), with its LICENSE and NOTICE beside it.
   Nothing is fetched at run time.

trunk runs hooks with TRUNK_STAGING_DIR set to the folder being built.
"""
import base64
import hashlib
import os
import pathlib
import re
import shutil
import sys

here = pathlib.Path(__file__).resolve().parent
staging = pathlib.Path(os.environ.get("TRUNK_STAGING_DIR", "dist"))
index = staging / "index.html"
html = index.read_text(encoding="utf-8")

# 1. The bootstrap.
pattern = re.compile(r'<script type="module"[^>]*>(.*?)</script>', re.S)
inline = [m for m in pattern.finditer(html) if "src=" not in m.group(0).split(">")[0]]
for m in reversed(inline):
    body = m.group(1).strip() + "\n"
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    name = f"boot-{digest}.js"
    (staging / name).write_text(body, encoding="utf-8")
    html = html[: m.start()] + f'<script type="module" src="/{name}"></script>' + html[m.end():]
if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) or re.search(r"\sstyle=|<style", html):
    sys.exit("post-build: index.html still has inline script or style")

# 2. lightweight-charts.
package = here / "vendor" / "node_modules" / "lightweight-charts"
script = package / "dist" / "lightweight-charts.standalone.production.js"
if not script.is_file():
    sys.exit("post-build: lightweight-charts is missing: run `npm ci` in frontend/vendor (scripts/build-spa does)")
# The attribution logo's <style>: the server's CSP allows it by its hash
# (crates/trader-server/src/middleware.rs), which must follow the library.
style = re.search(r'createElement\("style"\),this\.\w+\.innerText="([^"]*)"', script.read_text(encoding="utf-8"))
if style:
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    csp = (here.parent / "crates" / "trader-server" / "src" / "middleware.rs").read_text(encoding="utf-8")
    if f"'sha256-{digest}'" not in csp:
        sys.exit(f"post-build: the server's CSP must allow lightweight-charts' logo style: 'sha256-{digest}' (middleware.rs)")
if "lightweight-charts-" not in html:
    body = script.read_bytes()
    name = f"lightweight-charts-{hashlib.sha256(body).hexdigest()[:16]}.js"
    (staging / name).write_bytes(body)
    shutil.copyfile(package / "LICENSE", staging / "lightweight-charts-LICENSE.txt")
    shutil.copyfile(here / "vendor" / "lightweight-charts-NOTICE", staging / "lightweight-charts-NOTICE.txt")
    tag = f'<script defer src="/{name}"></script>'
    # Before the app's module script: deferred and module scripts run in
    # document order, so the library is there when the app starts.
    at = html.find('<script type="module"')
    if at < 0:
        at = html.find("</head>")
    html = html[:at] + tag + html[at:]

index.write_text(html, encoding="utf-8")
