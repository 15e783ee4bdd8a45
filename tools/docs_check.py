#!/usr/bin/env python
"""Look at the built site as a reader would (`make docs-check`): pages opened from disk in headless Chromium, in a window
1280 px wide, driven over Chromium's DevTools protocol on a pipe (nothing to install besides Chromium; numpy and Pillow
read the screenshots). What it checks:

- the home page and the augmentations page are not blank, and the augmentations page shows its pictures;
- every page whose notebook has math in its markdown (the losses page) shows it rendered: MathJax, which the site serves
  itself (`tools/build_docs.py`), loaded and turned each formula into an `mjx-container`, as many displayed (`$$...$$`)
  and inline (`$...$`) ones as the notebook has, none of them a TeX error, and no raw `$$`, `$...$`, `\\(` or `\\[` is
  left in the page's text outside code;
- on every page it opens, no script or style sheet comes from the network, no code block scrolls sideways (a `pre`, its `code`, or a box around it inside the cell whose
  content is wider than the box), and no `In [ ]:`/`Out[ ]:` prompt is shown; on notebook pages a line of code has room
  for at least `MIN_CHARS` characters before it wraps.

A screenshot is blank when nearly every pixel is the page's background. A picture shows as tiles of the screenshot
that are neither background nor text: few near-white pixels and varied colors (text sits on white or light gray).
Screenshots (the top 6000 px of each of these pages) are written to `_docs_src/screenshots/` (git-ignored) for a person
to look at. `--all` also checks code blocks and prompts on every other page of the site.
"""
import base64, fcntl, io, json, os, re, select, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SITE, SRC, SHOTS = ROOT/'_docs', ROOT/'_docs_src'/'docs', ROOT/'_docs_src'/'screenshots'
WIDTH, SHOT_HEIGHT = 1280, 6000
MIN_CHARS = 130  # a notebook's code line of this many characters fits its box at WIDTH without wrapping
# pages looked at besides the math pages (found from the notebooks), by glob: what each must show
PAGES = {'index.html': 'content', '*_augmentations.html': 'pictures', '*_vision.simclr.html': 'code', '*_config.html': 'code'}

def chromium() -> str:
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if p := shutil.which(name): return p
    sys.exit("docs-check needs Chromium: on Debian `apt-get update && apt-get install chromium`.")

class Chromium:
    "Headless Chromium, driven over the DevTools protocol on a pipe (it reads commands on its fd 3, answers on fd 4)"
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix='docs-check-')
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()
        def fds():  # in the child: the pipes become fds 3 and 4 (via copies above 10, whichever numbers they had)
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(a, 3); os.dup2(b, 4)
        self.log = open(Path(self.profile)/'chromium.log', 'wb')
        self.proc = subprocess.Popen(
            [chromium(), '--headless', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
             '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
             '--no-default-browser-check', f'--user-data-dir={self.profile}', 'about:blank'],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, close_fds=False, preexec_fn=fds)
        os.close(cmd_r); os.close(out_w)
        self.buf, self.n, self.events = b'', 0, []

    def _message(self, timeout:float) -> dict:
        end = time.monotonic() + timeout
        while b'\0' not in self.buf:
            if not select.select([self.out_r], [], [], max(0, end - time.monotonic()))[0]:
                raise TimeoutError(f"Chromium did not answer in {timeout:.0f} s")
            if not (chunk := os.read(self.out_r, 1 << 20)):
                raise RuntimeError(f"Chromium quit: see {self.log.name}")
            self.buf += chunk
        msg, self.buf = self.buf.split(b'\0', 1)
        return json.loads(msg)

    def send(self, method:str, session:str|None=None, timeout:float=60, **params) -> dict:
        self.n += 1
        data = json.dumps(dict(id=self.n, method=method, params=params, **({'sessionId': session} if session else {})))
        data = data.encode() + b'\0'
        while data: data = data[os.write(self.cmd_w, data):]
        while (msg := self._message(timeout)).get('id') != self.n: self.events.append(msg)
        if 'error' in msg: raise RuntimeError(f"{method}: {msg['error']}")
        return msg['result']

    def wait_for(self, method:str, session:str, timeout:float=120) -> dict:
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get('method') == method and e.get('sessionId') == session: return self.events.pop(i)
            self.events.append(self._message(max(0, end - time.monotonic())))

    def open(self, url:str, width:int=WIDTH, height:int=900) -> str:
        "A new tab showing `url` once loaded (pictures, scripts); its session"
        target = self.send('Target.createTarget', url='about:blank')['targetId']
        s = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        for domain in ('Page', 'Runtime', 'Log'): self.send(f'{domain}.enable', s)
        self.send('Emulation.setDeviceMetricsOverride', s, width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.send('Page.navigate', s, url=url)
        self.wait_for('Page.loadEventFired', s)
        self.js(s, 'document.fonts.ready.then(() => true)')
        return s

    def js(self, session:str, expr:str, timeout:float=60):
        "The value of JavaScript expression `expr` in the tab (awaited when a promise)"
        r = self.send('Runtime.evaluate', session, timeout, expression=expr, awaitPromise=True, returnByValue=True)
        if 'exceptionDetails' in r: raise RuntimeError(f"JavaScript error: {r['exceptionDetails']}")
        return r['result'].get('value')

    def errors(self, session:str) -> list:
        "Errors the page reported (exceptions, resources that did not load) since it opened"
        out = []
        for e in self.events:
            if e.get('sessionId') != session: continue
            if e.get('method') == 'Runtime.exceptionThrown': out.append(e['params']['exceptionDetails'].get('text', ''))
            if e.get('method') == 'Log.entryAdded' and e['params']['entry']['level'] == 'error': out.append(e['params']['entry']['text'])
        return out

    def screenshot(self, session:str, out:Path, height:int=SHOT_HEIGHT) -> np.ndarray:
        "The top `height` px of the page at `WIDTH`, written to `out`"
        self.send('Emulation.setDeviceMetricsOverride', session, width=WIDTH, height=height, deviceScaleFactor=1, mobile=False)
        self.js(session, 'new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))')
        png = base64.b64decode(self.send('Page.captureScreenshot', session, timeout=120, format='png')['data'])
        out.write_bytes(png)
        return np.asarray(Image.open(io.BytesIO(png)).convert('RGB')).astype(np.int16)

    def close_tab(self, session:str):
        self.send('Page.close', session)
        self.events = [e for e in self.events if e.get('sessionId') != session]

    def close(self):
        try: self.send('Browser.close', timeout=10)
        except Exception: pass
        try: self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        os.close(self.cmd_w); os.close(self.out_r); self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

# In the page: its code blocks and prompts. A block scrolls when the `pre`, its `code` or a box around it (up to its
# notebook cell, or the article) has hidden content to scroll to; `natural` is the width of its longest line unwrapped.
CODE_JS = r"""(() => {
  const art = document.querySelector('article') || document.body;
  const scrolls = el => /auto|scroll/.test(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth + 1;
  const blocks = [];
  for (const pre of art.querySelectorAll('pre')) {
    if (!pre.getClientRects().length) continue;  // not shown
    const boxes = [pre, ...pre.querySelectorAll(':scope > code')];
    for (let el = pre.parentElement; el && el !== art && !el.classList.contains('jp-Cell'); el = el.parentElement) boxes.push(el);
    const box = pre.querySelector(':scope > code') || pre;
    const ws = box.style.whiteSpace; box.style.whiteSpace = 'pre'; const natural = box.scrollWidth; box.style.whiteSpace = ws;
    blocks.push({scrolls: boxes.filter(scrolls).length > 0, natural, box: box.clientWidth,
                 nb: !!pre.closest('.jupyter-wrapper'), input: !!pre.closest('.jp-InputArea'),
                 text: pre.innerText.split('\n').sort((a, b) => b.length - a.length)[0].slice(0, 60)});
  }
  // room for characters on a line of a notebook's code cell: its box (less padding) over the width of a character
  let chars = null;
  const pre = art.querySelector('.jupyter-wrapper .jp-InputArea pre');
  if (pre) {
    const cs = getComputedStyle(pre), span = document.createElement('span');
    span.style.cssText = 'position:absolute;visibility:hidden;white-space:pre';
    span.textContent = '0'.repeat(100); pre.appendChild(span);
    const w = span.getBoundingClientRect().width / 100; span.remove();
    chars = Math.floor((pre.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)) / w);
  }
  const prompts = [...art.querySelectorAll('.jp-InputPrompt, .jp-OutputPrompt, .prompt')]
    .filter(p => p.getBoundingClientRect().width > 0 && p.innerText.trim()).length;
  // scripts and style sheets the page would fetch from the network (it must work offline, opened from disk)
  const remote = [...document.querySelectorAll('script[src], link[rel=stylesheet][href]')].map(e => e.src || e.href)
    .filter(u => !u.startsWith('file:'));
  return {blocks, chars, prompts, remote, fontSize: pre ? getComputedStyle(pre).fontSize : null,
          content: (document.querySelector('.md-content') || art).clientWidth, viewport: document.documentElement.clientWidth};
})()"""

# In the page: wait for MathJax to typeset, then what it made of the formulas and what raw TeX is left
MATH_JS = r"""(async () => {
  for (let i = 0; i < 300 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 100));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return {loaded: false};
  await MathJax.startup.promise;
  const art = document.querySelector('article') || document.body;
  const math = [...art.querySelectorAll('mjx-container')];
  const display = math.filter(m => m.getAttribute('display') === 'true').length;
  const errors = art.querySelectorAll('mjx-merror, [data-mml-node="merror"]').length;
  const skip = 'pre, code, script, style, mjx-container, textarea';
  const walk = document.createTreeWalker(art, NodeFilter.SHOW_TEXT,
    {acceptNode: n => n.parentElement.closest(skip) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = [];
  while (walk.nextNode()) {
    const t = walk.currentNode.nodeValue;
    if (/\$\$|\$[^$\s][^$]*\$|\\\(|\\\[/.test(t)) raw.push(t.trim().slice(0, 80));
  }
  return {loaded: true, version: MathJax.version, total: math.length, display, inline: math.length - display, errors, raw};
})()"""

def formulas(nb:Path) -> tuple:
    "Formulas in the markdown of notebook `nb`: `(displayed, inline)`, `$$...$$` and `$...$` outside code"
    display = inline = 0
    for c in json.loads(nb.read_text())['cells']:
        if c['cell_type'] != 'markdown': continue
        s = re.sub(r'```.*?```', '', ''.join(c['source']), flags=re.S)
        s = re.sub(r'`[^`\n]*`', '', s).replace('\\$', '')
        s, n = re.subn(r'\$\$.+?\$\$', '', s, flags=re.S)
        display, inline = display + n, inline + len(re.findall(r'\$[^$\n]+?\$', s))
    return display, inline

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

def pages(everything:bool) -> dict:
    """Page -> what it must show: PAGES ('content', 'pictures', 'code': long lines), the math pages ('math') and, with
    `everything`, every other page ('layout': its code blocks and prompts, no screenshot)"""
    out = {}
    for pat, what in PAGES.items():
        found = sorted(SITE.glob(pat))
        if not found: sys.exit(f"docs-check: no page {pat} in {SITE}: update PAGES in {Path(__file__).name}")
        for p in found: out[p.name] = what
    for nb in sorted(SRC.glob('*.ipynb')):
        if sum(formulas(nb)): out[nb.stem + '.html'] = 'math'
    if 'math' not in out.values(): sys.exit("docs-check: no notebook has math ($...$, $$...$$) to check the renderer with")
    if everything:
        for p in sorted(SITE.glob('*.html')):
            if p.name not in ('404.html',): out.setdefault(p.name, 'layout')
    return out

def check(browser:Chromium, page:str, what:str) -> list:
    "Look at `page` for `what` it must show; what is wrong with it"
    bad, notes = [], []
    s = browser.open((SITE/page).as_uri())
    if what == 'math':
        m = browser.js(s, MATH_JS, timeout=90)
        want_display, want_inline = formulas(SRC/(Path(page).stem + '.ipynb'))
        if not m['loaded']: bad.append(f"{page}: MathJax did not load (its errors: {browser.errors(s) or 'none'})")
        else:
            notes.append(f"MathJax {m['version']} rendered {m['total']} formulas ({m['display']} displayed, {m['inline']} inline; "
                         f"the notebook has {want_display} and {want_inline}), {m['errors']} TeX errors, {len(m['raw'])} raw TeX texts left")
            if (m['display'], m['inline']) != (want_display, want_inline):
                bad.append(f"{page}: {m['display']} displayed and {m['inline']} inline formulas rendered, the notebook has {want_display} and {want_inline}")
            if m['errors']: bad.append(f"{page}: {m['errors']} formulas are TeX errors")
            if m['raw']: bad.append(f"{page}: raw TeX left unrendered: {m['raw'][:3]}")
    c = browser.js(s, CODE_JS)
    blocks, scrolling = c['blocks'], [b for b in c['blocks'] if b['scrolls']]
    if blocks:
        w = max(blocks, key=lambda b: b['natural'] - b['box'])
        wrapped = sum(b['natural'] > b['box'] + 1 for b in blocks)
        notes.append(f"{len(blocks)} code blocks, {len(scrolling)} scroll sideways, {wrapped} wrap a line; widest line "
                     f"{w['natural']} px in a {w['box']} px box" + (f"; {c['chars']} characters a line at {c['fontSize']}" if c['chars'] else '')
                     + f" (content {c['content']} px of {c['viewport']} px)")
    for b in scrolling[:3]: bad.append(f"{page}: a code block scrolls sideways ({b['natural']} px in {b['box']} px): {b['text']!r}")
    if c['chars'] is not None and c['chars'] < MIN_CHARS:
        bad.append(f"{page}: a line of code has room for {c['chars']} characters at {WIDTH} px, under {MIN_CHARS}")
    if not blocks: notes.append('no code blocks')
    if c['prompts']: bad.append(f"{page}: {c['prompts']} In/Out prompts shown")
    if c['remote']: bad.append(f"{page}: loads from the network, so not offline: {c['remote'][:3]}")
    if what != 'layout':
        out = SHOTS/(Path(page).stem + '.png')
        im = browser.screenshot(s, out)
        share, tiles = content_share(im), picture_tiles(im)
        notes.append(f"{share:.1%} of the screenshot is content, {tiles} picture tiles ({out.relative_to(ROOT)})")
        if share < 0.02: bad.append(f"{page} looks blank")
        if what == 'pictures' and tiles < 20: bad.append(f"{page} shows no pictures")
    if errs := browser.errors(s): notes.append(f"errors the page reported: {errs[:3]}")
    print(f"{page} ({what}): " + '; '.join(notes))
    browser.close_tab(s)
    return bad

def main():
    if not (SITE/'index.html').exists(): sys.exit("No site in _docs/: run `make docs` first.")
    SHOTS.mkdir(parents=True, exist_ok=True)
    todo, bad = pages('--all' in sys.argv[1:]), []
    browser = Chromium()
    try:
        for page, what in todo.items(): bad += check(browser, page, what)
    finally: browser.close()
    if bad: sys.exit("docs-check failed:\n  " + '\n  '.join(bad))
    print(f"docs-check: the pages have content, the augmentations page shows its pictures, the math is rendered; on the "
          f"{len(todo)} pages looked at nothing comes from the network, no code block scrolls sideways at {WIDTH} px, no prompt shows")

if __name__ == '__main__': main()
