#!/usr/bin/env python
"""Build the documentation site from the committed notebooks, without running them (`make docs`).

The home page is the README; each notebook is a page with its outputs (pictures, tables, logs), its `#| hide` cells and
directive lines left out, and the API of each exported name (signature and docments, as nbdev's `show_doc` writes it)
after the cell that defines it; the navigation groups the modules. Sources go to `_docs_src/`, the static site to
`_docs/` (mkdocs-material + mkdocs-jupyter; plain links, so it reads from disk: open `_docs/index.html`).
"""
import ast, importlib, json, os, re, shutil, subprocess, sys, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC, SITE = ROOT/'_docs_src', ROOT/'_docs'
SECTIONS = [('Building blocks', r'^0'), ('Methods', r'^1'), ('Training and evaluation', r'^[2-9]')]

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

def convert(fn:Path) -> tuple:
    "A copy of notebook `fn` for the site; `(title, notebook)`"
    nb = json.loads(fn.read_text())
    mod, cells, title = None, [], fn.stem
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            if title == fn.stem and (m := re.match(r'#\s+(.+)', src)): title = m[1].strip()
            cells.append(c); continue
        d = _directives(src)
        if 'default_exp' in d: mod = importlib.import_module(f"self_supervised.{d['default_exp']}")
        if 'hide' in d or 'default_exp' in d or not _strip_directives(src).strip(): continue
        cells.append(dict(c, source=_strip_directives(src)))
        if 'export' in d and mod is not None:
            for name in _defined(src):
                if name in getattr(mod, '__all__', []): cells.append(_md(_api_md(getattr(mod, name))))
    return title, dict(nb, cells=cells)

def build(run_mkdocs:bool=True):
    warnings.filterwarnings('ignore')
    sys.path.insert(0, str(ROOT))
    if SRC.exists(): shutil.rmtree(SRC)
    docs = SRC/'docs'; docs.mkdir(parents=True)
    readme = (ROOT/'README.md').read_text()
    (docs/'index.md').write_text(re.sub(r'\]\(nbs/([^)]+\.ipynb)\)', r'](\1)', readme))  # notebook links: their pages
    (docs/'extra.css').write_text(".md-grid { max-width: 1400px; }\n.jp-InputPrompt, .jp-OutputPrompt { display: none; }\n")
    pages = {}
    for fn in sorted((ROOT/'nbs').glob('*.ipynb')):
        title, nb = convert(fn)
        (docs/fn.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False))
        pages[fn.name] = title
    nav = [{'Home': 'index.md'}]
    for section, pat in SECTIONS:
        items = [{t: f} for f, t in pages.items() if re.match(pat, f)]
        if items: nav.append({section: items})
    cfg = dict(site_name='self_supervised', docs_dir='docs', site_dir=str(SITE), use_directory_urls=False,
               theme=dict(name='material', font=False, features=['navigation.sections', 'navigation.indexes', 'toc.follow']),
               plugins=[{'mkdocs-jupyter': dict(execute=False, include_source=True, ignore_h1_titles=False)}],
               extra_css=['extra.css'], markdown_extensions=['tables', 'admonition', 'pymdownx.superfences', 'attr_list'], nav=nav)
    (SRC/'mkdocs.yml').write_text(json.dumps(cfg, indent=1))  # JSON is YAML
    if run_mkdocs:
        subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '-q', '-f', str(SRC/'mkdocs.yml')], check=True,
                       env=dict(os.environ, NO_MKDOCS_2_WARNING='1'))
        print(f"Site written to {SITE}: open {SITE/'index.html'}")

if __name__ == '__main__': build()
