"""Finding a python job's function: for real in the job's process, or on paper for
``trayjobs check`` (which must not run the user's code, so it reads the source)."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from ...errors import UserError
from .params import PythonParams

__all__ = ["load_function", "find_problems", "declare_as"]


def load_function(params: PythonParams, job: str) -> Callable[..., Any]:
    """Import the job's function. Changes ``sys.path`` for good: only in a job process
    that is not reused afterwards."""
    for folder in reversed(params.folders):
        sys.path.insert(0, folder)
    try:
        if params.script is not None:
            module = _load_file(params.script, job)
        else:
            _not_shadowed(params, job)
            module = importlib.import_module(params.module)
    except SyntaxError as exc:
        # Saved half-edited since `check` read it, say: trying the same file again later
        # cannot help (a UserError is not retried).
        said = _syntax_error(exc, Path(exc.filename) if exc.filename else params.script)
        then = "; fix it, then run the job again" if said.startswith("has a syntax") else ""
        raise UserError(f"job {job!r}: {exc.filename or _loaded(params)} {said}{then}") from None
    except SystemExit as exc:
        # A script whose work runs at its top level, ending in sys.exit(): as it was loaded,
        # before the function was called. Every attempt would do the same.
        raise UserError(f"job {job!r}: {_loaded(params)} called sys.exit({exc.code!r}) as it "
                        f"was loaded: code at its top level runs when the job loads it; put "
                        f"the work in a function, def {params.attribute.split('.')[0]}(ctx), "
                        f"or run the script as a command job") from None
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] in (params.module or "").split(".")[:1]:
            raise  # the job's own module, gone since `check`: said as it is
        # Not installed where the job runs: another attempt finds it no more than this one.
        raise UserError(f"job {job!r}: {_loaded(params)} imports {exc.name!r}, which is not "
                        f"installed in trayjobs' environment ({sys.executable}); install it "
                        f"there (`{sys.executable} -m pip install ...`), or add the folder "
                        f"that holds it to the job's 'path'") from None
    obj: Any = module
    for part in params.attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"job {job!r}: {params.target()} does not exist: "
                            f"{module.__name__} has no {params.attribute!r}") from None
    if isinstance(obj, type):  # calling it makes an object: no job was run, nor failed
        raise UserError(f"job {job!r}: {params.target()} is a class, not a function; name a "
                        f"function with '{'function' if params.script is not None else 'call'}'"
                        f" (a class's static or class method: 'Class.method')")
    if not callable(obj):
        what = type(obj).__name__
        raise UserError(f"job {job!r}: {params.target()} is {'an' if what[0] in 'aeiou' else 'a'} "
                        f"{what} ({obj!r:.40}), not a function; name a function with "
                        f"'{'function' if params.script is not None else 'call'}'")
    return obj


def _not_shadowed(params: PythonParams, job: str) -> None:
    """A module of the job's ``path`` named as one this process has imported already (one
    of Python's, ``json``, or ``trayjobs``) is never read: the import finds the one
    imported, which has not the function, or worse, has one of that name."""
    top = params.module.split(".")[0]
    have = sys.modules.get(top)
    if have is None or not params.folders:
        return
    mine = importlib.machinery.PathFinder.find_spec(top, params.folders)
    if mine is None or mine.origin == getattr(have, "__file__", None):
        return
    where = getattr(have, "__file__", None) or "built in"
    raise UserError(f"job {job!r}: {mine.origin or top} cannot be imported as {top!r}: "
                    f"trayjobs' Python has a module of that name imported already ({where}); "
                    f"rename yours, or name it by file (file = ...)")


def _loaded(params: PythonParams) -> str:
    return str(params.script) if params.script is not None else params.module


def _load_file(path: Path, job: str):
    if not path.is_file():
        raise UserError(f"job {job!r}: file = {str(path)!r} {_not_a_file(path)}; "
                        "fix the path in the job's 'file'")
    sys.path.insert(0, str(path.parent))  # as `python file.py` does: its neighbours import
    name = _module_name(path)
    # Read as Python source whatever its name ends in, as `python script` does: without a
    # loader given, a script with no .py (~/bin/sync-notes) had no spec and failed the run.
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look their module up here
    spec.loader.exec_module(module)
    return module


def _module_name(path: Path) -> str:
    """The name the file is loaded under: its own, as the processes of a spawn or forkserver
    pool (multiprocessing, ProcessPoolExecutor) import it to find the function they run;
    under another name they could not, and the pool waited for ever. A name taken already
    (``json.py``, ``trayjobs.py``), or one of Python's, gets a prefix instead."""
    stem = path.stem
    if (stem.isidentifier() and stem not in sys.modules and stem != "trayjobs"
            and stem not in sys.stdlib_module_names and stem not in sys.builtin_module_names):
        found = importlib.machinery.PathFinder.find_spec(stem, sys.path)
        if found is not None and found.origin and Path(found.origin) == path:
            return stem
    return f"trayjobs_job_{stem}"


def find_problems(params: PythonParams) -> list[tuple[str, str]]:
    """What stops the function from being found, read from the files without importing them."""
    if params.script is not None:
        path = params.script
        if not path.is_file():
            return [("file", f"{params.file!r} {_not_a_file(path)}")]
        return _check_source(path, params.attribute, key="function", source_key="file")
    module = params.module
    spec = _find_spec(module, params.folders)
    if spec is None:
        where = f" (nor in {', '.join(params.path)})" if params.path else ""
        return [("call", f"cannot import {module!r}: no such module in trayjobs' "
                         f"environment{where}")]
    origin = spec.origin or ""
    if origin.endswith(".py"):
        return _check_source(Path(origin), params.attribute, key="call", module=module)
    return []  # compiled or built in: only importing would tell


def _find_spec(module: str, folders: list[str]):
    """The module's spec, found like an import would, without executing its packages."""
    parts = module.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0], folders + sys.path)
    if spec is None and not folders:
        try:
            spec = importlib.util.find_spec(parts[0])  # built-in and frozen modules
        except (ImportError, ValueError):
            spec = None
    for i in range(1, len(parts)):
        if spec is None or not spec.submodule_search_locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:i + 1]),
                                                        list(spec.submodule_search_locations))
    return spec


def _check_source(path: Path, attribute: str, *, key: str, module: str | None = None,
                  source_key: str | None = None) -> list[tuple[str, str]]:
    """``key``: the key naming the function; ``source_key``: the one naming the file, where
    a syntax error or a file that cannot be read is told (``key`` when not given)."""
    what = module or str(path)
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        return [(source_key or key, f"{what} {_syntax_error(exc, path)}")]
    except OSError as exc:
        return [(source_key or key, f"cannot read {path}: {exc.strerror}")]
    name = attribute.split(".")[0]
    names: set[str] = set()
    for node in tree.body:
        # Top-level statements, and what an ``if``/``try`` at the top level may define.
        for n in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                        ast.ClassDef)) else [node]:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                for alias in n.names:
                    if alias.name == "*":
                        return []  # anything may come from there
                    names.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)
    if name in names or "__getattr__" in names:
        return _not_callable(tree, attribute, what, key) or _misshapen(tree, attribute, what, key)
    return _missing(names, name, what, key)


#: Values written as such that no call can be made of: ``main = 5``, ``main = "sync"``.
_LITERALS = (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.JoinedStr,
             ast.ListComp, ast.DictComp, ast.SetComp)


def _not_callable(tree: ast.Module, attribute: str, what: str, key: str
                  ) -> list[tuple[str, str]]:
    """The name given only ever set to a literal at the top level, never defined,
    imported or set otherwise: calling it fails every run, so ``check`` says so."""
    values = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                node.name == attribute:
            return []
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name).split(".")[0] == attribute for a in node.names):
                return []
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign,
                                                           ast.For, ast.With)) else [])
        for target in targets:
            for n in ast.walk(target):
                if isinstance(n, ast.Name) and n.id == attribute:
                    if not (isinstance(node, (ast.Assign, ast.AnnAssign)) and target is n
                            and isinstance(node.value, _LITERALS)):
                        return []  # set in a way only running it would tell
                    values.append(node.value)
        if isinstance(node, (ast.NamedExpr, ast.Global)) or (
                isinstance(node, ast.Name) and node.id == attribute
                and isinstance(node.ctx, ast.Del)):
            return []
    if not values:
        return []
    shown = ast.unparse(values[-1])
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    name = "function" if key == "function" else "call"
    return [(key, f"{what}: {attribute} is {shown}, not a function; name a function with "
                  f"'{name}'")]


def _syntax_error(exc: SyntaxError, path: Path | None = None) -> str:
    """What is wrong with a file Python cannot read, after its name."""
    other = _not_python(path) if path is not None else None
    if other:
        return other
    at = f" at line {exc.lineno}" if exc.lineno else ""  # none for a NUL byte
    if "codec can't decode" in (exc.msg or ""):
        # Python reads source as UTF-8: "(unicode error) 'utf-8' codec can't decode byte
        # 0xe9 in position 3" says nothing of what to do.
        return (f"is not UTF-8 text{at} (Python reads its files as UTF-8); save it as UTF-8, "
                f"or name its encoding on its first line: # -*- coding: latin-1 -*-")
    return f"has a syntax error{at}: {exc.msg}"


#: How a program's file starts: ELF (Linux), Mach-O (macOS, also universal).
_PROGRAMS = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def _not_python(path: Path) -> str | None:
    """Why ``path``, which Python cannot read, is no Python file at all (a shell script, a
    program), or None: its syntax error would be the wrong thing to fix."""
    try:
        with open(path, "rb") as f:
            start = f.read(4096)
    except OSError:
        return None
    instead = f'run it as a command job: kind = "command", command = ["{path}"]'
    first = start.split(b"\n", 1)[0]
    # python3, pypy3, `uv run --script`: a Python file's own, whatever its syntax error
    if first.startswith(b"#!") and not any(word in first for word in (b"py", b"uv")):
        runner = first[2:].decode("utf-8", "backslashreplace").strip()
        return f"is not Python: its first line runs it with {runner}; {instead}"
    if start.startswith(_PROGRAMS):
        return f"is not Python but a program; {instead}"
    return None


def _not_a_file(path: Path) -> str:
    if path.is_dir():
        return "is a folder, not a Python file"
    # A named pipe, socket or device: reading it for the check could wait for ever.
    return "is not a regular file" if path.exists() else "does not exist"


def _misshapen(tree: ast.Module, attribute: str, what: str, key: str
               ) -> list[tuple[str, str]]:
    """A top-level function that cannot work as a job's, seen in its source: one that
    needs more than the run's context, or a generator (calling it would run nothing)."""
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.ClassDef)) and n.name == attribute]
    if not defs or defs[-1].decorator_list:  # a decorator may change what is called
        return []
    if isinstance(defs[-1], ast.ClassDef):
        name = "function" if key == "function" else "call"
        return [(key, f"{what}: {attribute} is a class, not a function; name a function with "
                      f"'{name}' (a class's static or class method: '{attribute}.method')")]
    fn = defs[-1]
    args = fn.args
    positional = args.posonlyargs + args.args
    needed = [a.arg for a in positional[:len(positional) - len(args.defaults)]]
    keywords = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    if len(needed) > 1 or keywords:
        return [(key, f"{what}: {fn.name}({', '.join(needed + keywords)}) needs "
                      f"{_arguments(needed, keywords)}, but a job's function is given the "
                      f"run's context alone{declare_as(fn.name, needed[1:], keywords)}")]
    todo = list(fn.body)
    while todo:  # its own statements, not those of functions or classes defined in it
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return [(key, f"{what}: {fn.name} is a generator (it uses yield), so calling it "
                          f"runs none of its code; return the result instead, and report "
                          f"progress with ctx.progress()")]
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                 ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return []


def _arguments(positional: list[str], keywords: list[str]) -> str:
    n = len(positional) + len(keywords)
    said = f"{n} argument{'s' * (n != 1)}"
    if keywords:
        named = ", ".join(keywords)
        said += f" ({named} {'only by name' if len(keywords) == 1 else 'only by names'})"
    return said


def declare_as(name: str, extra: list[str], keywords: list[str]) -> str:
    """How a function that wants more than the run's context (``extra`` positional
    parameters after it, ``keywords`` given only by name) is to be declared, after a
    sentence saying it is given the context alone."""
    rest = [a for a in extra + keywords if a != "ctx"]
    if keywords == ["ctx"] and not extra:
        how = (f", as its one positional argument (not by name, which `*` asks for): "
               f"declare it def {name}(ctx)")
    else:
        how = f", as its one positional argument: declare it def {name}(ctx)"
    how += f", or def {name}() if it needs nothing"
    if rest:
        them = "it" if len(rest) == 1 else "them"
        how += (f"; read {', '.join(repr(a) for a in rest)} from ctx.params (set in the job's "
                f"params), or give {them} a default")
    return how


def _missing(names: set[str], name: str, what: str, key: str) -> list[tuple[str, str]]:
    import difflib
    close = difflib.get_close_matches(name, sorted(names), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return [(key, f"{what} defines no function {name!r}{hint}")]
