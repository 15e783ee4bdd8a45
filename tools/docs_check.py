#!/usr/bin/env python
"""Look at the built site as a reader would (`make docs-check`): headless Chromium screenshots of the home page and of
the augmentations page, checked for content (not blank) and, on the augmentations page, for pictures.

A screenshot is blank when nearly every pixel is the page's background. A picture shows as tiles of the screenshot
that are neither background nor text: few near-white pixels and varied colors (text sits on white or light gray).
Screenshots are written to `_docs_src/screenshots/` (git-ignored) so that a person can look at them too.
"""
import shutil, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SITE, SHOTS = ROOT/'_docs', ROOT/'_docs_src'/'screenshots'
PAGES = {'index.html': False, '02_augmentations.html': True}  # page: must show pictures

def chromium() -> str:
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if p := shutil.which(name): return p
    sys.exit("docs-check needs Chromium: on Debian `apt-get update && apt-get install chromium`.")

def screenshot(page:str, height:int=6000) -> np.ndarray:
    out = SHOTS/(Path(page).stem + '.png')
    subprocess.run([chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', f'--window-size=1280,{height}',
                    f'--screenshot={out}', (SITE/page).as_uri()], check=True, capture_output=True, timeout=180)
    return np.asarray(Image.open(out).convert('RGB')).astype(np.int16)

def content_share(im:np.ndarray) -> float:
    "Share of pixels that differ from the page's most common color"
    flat = im.reshape(-1, 3)
    vals, counts = np.unique(flat[::7], axis=0, return_counts=True)
    bg = vals[counts.argmax()]
    return float((np.abs(flat - bg).sum(1) > 30).mean())

def picture_tiles(im:np.ndarray, t:int=24) -> int:
    "Tiles of `t` x `t` pixels that look like a picture: under 10% near-white pixels and a spread of brightness"
    h, w = (im.shape[0] // t) * t, (im.shape[1] // t) * t
    tiles = im[:h, :w].reshape(h // t, t, w // t, t, 3).transpose(0, 2, 1, 3, 4).reshape(-1, t * t, 3)
    light = (tiles.min(-1) > 225).mean(1)
    spread = tiles.mean(-1).std(1)
    return int(((light < 0.1) & (spread > 12)).sum())

def main():
    if not (SITE/'index.html').exists(): sys.exit("No site in _docs/: run `make docs` first.")
    SHOTS.mkdir(parents=True, exist_ok=True)
    bad = []
    for page, pictures in PAGES.items():
        im = screenshot(page)
        share, tiles = content_share(im), picture_tiles(im)
        print(f"{page}: {share:.1%} of the screenshot is content, {tiles} picture tiles ({SHOTS/(Path(page).stem + '.png')})")
        if share < 0.02: bad.append(f"{page} looks blank")
        if pictures and tiles < 20: bad.append(f"{page} shows no pictures")
    if bad: sys.exit("docs-check failed: " + '; '.join(bad))
    print("docs-check: the pages have content and the augmentations page shows its pictures")

if __name__ == '__main__': main()
