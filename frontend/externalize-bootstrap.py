#!/usr/bin/env python3
"""trunk post_build hook: move trunk's inline bootstrap script out of
index.html into boot-<hash>.js, so the server's CSP (script-src 'self'
'wasm-unsafe-eval', no 'unsafe-inline') runs the app unchanged.

trunk runs hooks with TRUNK_STAGING_DIR set to the folder being built.
"""
import hashlib
import os
import pathlib
import re
import sys

staging = pathlib.Path(os.environ.get("TRUNK_STAGING_DIR", "dist"))
index = staging / "index.html"
html = index.read_text(encoding="utf-8")
pattern = re.compile(r'<script type="module"[^>]*>(.*?)</script>', re.S)
inline = [m for m in pattern.finditer(html) if "src=" not in m.group(0).split(">")[0]]
if not inline:
    sys.exit(0)
for m in reversed(inline):
    body = m.group(1).strip() + "\n"
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    name = f"boot-{digest}.js"
    (staging / name).write_text(body, encoding="utf-8")
    html = html[: m.start()] + f'<script type="module" src="/{name}"></script>' + html[m.end():]
if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) or re.search(r"\sstyle=|<style", html):
    sys.exit("externalize-bootstrap: index.html still has inline script or style")
index.write_text(html, encoding="utf-8")
