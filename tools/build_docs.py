#!/usr/bin/env python
"""Build the documentation site from the committed notebooks, without running them (`make docs`).

The home page is the README; each notebook is a page with its outputs (pictures, tables, logs), its `#| hide` cells and
directive lines left out, and the API of each exported name (signature and docments, as nbdev's `show_doc` writes it)
after the cell that defines it; the navigation groups the modules. The hand-written pages beside the notebooks
(`nbs/*.md`: the results, the measured checks) and the index of the benchmarks (`bench/README.md`) are pages too, in a
"Results" section. Links between these files are written as the repository has them (`nbs/results.md` from the
README, `results.md` from a notebook) and point to their pages on the site; a link to any other file of the repository
(a script, a JSON of results) becomes its path, as the site has no copy of it. Sources go to `_docs_src/`, the static
site to `_docs/` (mkdocs-material + mkdocs-jupyter; plain links, so it reads from disk: open `_docs/index.html`).

The site needs nothing from the network. Notebook pages render their math (`$...$`, `$$...$$`) with MathJax served from
the site itself: the version pinned in `tools/docs_assets/package.json` (and its lock file), fetched by `npm ci` into
`tools/docs_assets/node_modules/` (git-ignored) when missing or of another version, then copied with its loader to
`assets/mathjax/`. The site's CSS is `tools/docs_assets/extra.css`. Code cells show no `In [ ]:` prompts.
"""
import ast, importlib, json, os, re, shutil, subprocess, sys, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC, SITE = ROOT/'_docs_src', ROOT/'_docs'
SECTIONS = [('Building blocks', r'^0'), ('Methods', r'^1'), ('Training and evaluation', r'^[2-9]')]
RESULTS = 'Results'  # the section of the hand-written pages: nbs/*.md (results.md first), then BENCH
BENCH = ('bench/README.md', 'bench.md')  # the benchmarks' index: its path in the repository, its page on the site
ASSETS = ROOT/'tools'/'docs_assets'  # what the site serves besides the pages: package.json pins MathJax; extra.css
MATHJAX = 'assets/mathjax'  # where the site has MathJax; notebook pages, all at the site's root, load MATHJAX/load.js

def site_pages(root:Path=ROOT) -> dict:
    "Repository path -> page of the site, for every file that is a page: README, notebooks, `nbs/*.md`, the bench index"
    pages = {'README.md': 'index.md'}
    for fn in sorted((root/'nbs').glob('*.ipynb')) + sorted((root/'nbs').glob('*.md'), key=lambda f: (f.name != 'results.md', f.name)):
        pages[f'nbs/{fn.name}'] = fn.name
    if (root/BENCH[0]).exists(): pages[BENCH[0]] = BENCH[1]
    return pages

LINK = re.compile(r'(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)')

def site_links(text:str, src:str, pages:dict, html:bool=False) -> str:
    """Markdown `text` of the repository file `src` with its relative links made links of the site: to a page's file
    (or, `html`, to its `.html`: notebooks' markdown is not rewritten by mkdocs), or, for a file that is no page, its path"""
    def fix(m):
        label, target = m[1], m[2]
        if re.match(r'[a-zA-Z][a-zA-Z0-9+.-]*:|#|/', target): return m[0]  # URLs, anchors, absolute paths
        path, _, anchor = target.partition('#')
        path = os.path.normpath(os.path.join(os.path.dirname(src), path)).replace(os.sep, '/')
        if path in pages:
            page = pages[path]
            if html: page = os.path.splitext(page)[0] + '.html'
            return f"[{label}]({page}{'#' + anchor if anchor else ''})"
        return label if label.strip('`') in (path, Path(path).name) else f"{label} (`{path}`)"
    return LINK.sub(fix, text)

def _title(md:str, default:str) -> str: return m[1].strip() if (m := re.search(r'^#\s+(.+)$', md, re.M)) else default

def _directives(src:str) -> dict:
    "nbdev directives (`#| name value`) at the start of a cell"
    d = {}
    for line in src.splitlines():
        m = re.match(r'#\|\s*([\w-]+):?\s*(.*)', line)
        if not m: break
        d[m[1]] = m[2].strip()
    return d

def _strip_directives(src:str) -> str: return re.sub(r'\A(?:#\|.*\n?)+', '', src)

def _defined(src:str) -> list:
    "Public names a cell defines at its top level, in order"
    try: tree = ast.parse(_strip_directives(src))
    except SyntaxError: return []
    names = []
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names.append(n.name)
    return [n for n in names if not n.startswith('_')]

def _api_md(obj) -> str:
    "nbdev's `show_doc` markdown for `obj`, without its source link (the site has no repository URL)"
    from nbdev.showdoc import show_doc
    md = show_doc(obj)._repr_markdown_()
    return re.sub(r'\[source\]\([^)]*\)\{[^}]*\}\n*', '', md).replace('---\n\n', '', 1).strip()

def _md(text:str) -> dict: return dict(cell_type='markdown', metadata={}, source=text)

def convert(fn:Path, pages:dict|None=None) -> tuple:
    "A copy of notebook `fn` for the site (its markdown's links made the site's, with `pages`: `site_pages()`); `(title, notebook)`"
    nb = json.loads(fn.read_text())
    mod, cells, title = None, [], fn.stem
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            if title == fn.stem and (m := re.match(r'#\s+(.+)', src)): title = m[1].strip()
            if pages is not None: c = dict(c, source=site_links(src, f'nbs/{fn.name}', pages, html=True))
            cells.append(c); continue
        d = _directives(src)
        if 'default_exp' in d: mod = importlib.import_module(f"self_supervised.{d['default_exp']}")
        if 'hide' in d or 'default_exp' in d or not _strip_directives(src).strip(): continue
        cells.append(dict(c, source=_strip_directives(src)))
        if 'export' in d and mod is not None:
            for name in _defined(src):
                if name in getattr(mod, '__all__', []): cells.append(_md(_api_md(getattr(mod, name))))
    return title, dict(nb, cells=cells)

def mathjax(dest:Path) -> str:
    """Copy MathJax (the version `ASSETS/package.json` pins; `npm ci` fetches it when `ASSETS/node_modules` lacks it)
    and its loader (`ASSETS/load-mathjax.js`, as `load.js`) to folder `dest`; the version copied"""
    want = json.loads((ASSETS/'package.json').read_text())['dependencies']['mathjax']
    pkg = ASSETS/'node_modules'/'mathjax'
    have = json.loads((pkg/'package.json').read_text())['version'] if (pkg/'package.json').exists() else None
    if have != want:
        if not (npm := shutil.which('npm')):
            sys.exit(f"The site serves MathJax {want} from disk and npm fetches it: install npm (Debian: `apt-get install npm`), "
                     f"or run `npm ci` in {ASSETS.relative_to(ROOT)} where npm is.")
        print(f"Fetching MathJax {want} (npm ci in {ASSETS.relative_to(ROOT)})", flush=True)
        subprocess.run([npm, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], cwd=ASSETS, check=True)
        have = json.loads((pkg/'package.json').read_text())['version']
        if have != want: sys.exit(f"npm ci installed MathJax {have}, package.json pins {want}: update package-lock.json (npm install)")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(pkg/'es5'/'tex-svg-full.js', dest)  # one file: the TeX input with every extension, SVG output (no fonts)
    shutil.copy(pkg/'LICENSE', dest/'LICENSE')
    shutil.copy(ASSETS/'load-mathjax.js', dest/'load.js')
    return have

def build(run_mkdocs:bool=True):
    warnings.filterwarnings('ignore')
    sys.path.insert(0, str(ROOT))
    if SRC.exists(): shutil.rmtree(SRC)
    docs = SRC/'docs'; docs.mkdir(parents=True)
    site = site_pages()
    mds = {}  # the hand-written pages: site file -> title
    for path, page in site.items():
        if not path.endswith('.md'): continue
        text = (ROOT/path).read_text()
        (docs/page).write_text(site_links(text, path, site))
        if page != 'index.md': mds[page] = _title(text, Path(page).stem)
    shutil.copy(ASSETS/'extra.css', docs/'extra.css')
    mathjax(docs/MATHJAX)
    pages = {}
    for fn in sorted((ROOT/'nbs').glob('*.ipynb')):
        title, nb = convert(fn, site)
        (docs/fn.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False))
        pages[fn.name] = title
    nav = [{'Home': 'index.md'}]
    for section, pat in SECTIONS:
        items = [{t: f} for f, t in pages.items() if re.match(pat, f)]
        if items: nav.append({section: items})
    if mds: nav.append({RESULTS: [{t: f} for f, t in mds.items()]})
    cfg = dict(site_name='self_supervised', docs_dir='docs', site_dir=str(SITE), use_directory_urls=False,
               theme=dict(name='material', font=False,
                          features=['navigation.sections', 'navigation.indexes', 'toc.follow', 'toc.integrate']),
               # no_prompt: no `In [ ]:` / output prompts in the HTML (hiding them with CSS loses to mkdocs-jupyter's
               # more specific `.jupyter-wrapper .jp-CodeCell .jp-Cell-inputWrapper .jp-InputPrompt{display:block}`)
               plugins=[{'mkdocs-jupyter': dict(execute=False, include_source=True, ignore_h1_titles=False, no_prompt=True,
                                                custom_mathjax_url=f'{MATHJAX}/load.js')}],
               extra_css=['extra.css'], markdown_extensions=['tables', 'admonition', 'pymdownx.superfences', 'attr_list'], nav=nav)
    (SRC/'mkdocs.yml').write_text(json.dumps(cfg, indent=1))  # JSON is YAML
    if run_mkdocs:
        subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '-q', '-f', str(SRC/'mkdocs.yml')], check=True,
                       env=dict(os.environ, NO_MKDOCS_2_WARNING='1'))
        print(f"Site written to {SITE}: open {SITE/'index.html'}")

if __name__ == '__main__': build()
