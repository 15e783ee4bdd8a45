"""The package's modules import each other without a cycle, counting the imports inside functions too, and the
methods (`self_supervised/vision/`) never import the command line: each module depends only on the ones below it."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent/'self_supervised'

def _module(f:Path) -> str:
    parts = f.relative_to(PKG.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)

def imports() -> dict:
    "`{module: set of self_supervised modules it imports}`, from every import statement of its source (functions' included)"
    out = {}
    for f in PKG.rglob('*.py'):
        if f.name == '_modidx.py': continue
        name, deps = _module(f), set()
        pkg = name if f.name == '__init__.py' else name.rsplit('.', 1)[0]
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom):
                base = '.'.join(pkg.split('.')[:len(pkg.split('.')) - n.level + 1]) if n.level else ''
                mod = '.'.join(o for o in (base, n.module or '') if o)
                if not mod.startswith('self_supervised'): continue
                # `from self_supervised import x` imports the package, or its submodule x
                for a in n.names: deps.add(f'{mod}.{a.name}' if (PKG.parent/f'{mod}.{a.name}'.replace('.', '/')).with_suffix('.py').exists() else mod)
            elif isinstance(n, ast.Import):
                deps |= {a.name for a in n.names if a.name.startswith('self_supervised')}
        out[name] = deps - {name}
    return out

def cycle(graph:dict) -> list:
    "A cycle of `graph` as a list of modules, or []"
    state, stack = {}, []
    def visit(m):
        state[m] = 1; stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1: return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)): return c
        state[m] = 2; stack.pop()
        return []
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c
    return []

def test_no_import_cycle():
    g = imports()
    assert len(g) > 20 and 'self_supervised.train' in g['self_supervised.cli'], g   # the graph is read
    assert cycle(g) == [], ' -> '.join(cycle(g))

def test_cycle_is_found():
    assert cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert cycle({'a': {'b'}, 'b': set()}) == []

def test_methods_do_not_import_the_command_line():
    g = imports()
    bad = {m: sorted(d for d in deps if d.startswith(('self_supervised.cli', 'self_supervised.demo', 'self_supervised.train')))
           for m, deps in g.items() if m.startswith('self_supervised.vision')}
    assert not any(bad.values()), bad
