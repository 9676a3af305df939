"""autoresearch-mcp's evaluation hook (on PYTHONPATH for a run; nothing in the workspace changes).

When the run imports the read-only module that defines the metric function (karpathy's layout:
prepare.evaluate_bpb), the function is wrapped so that every value it returns is written to the
server's report file. The server then checks that the metric the run printed is the value the
function returned: an edit like `val_bpb = 0.9 * evaluate_bpb(...)` is caught, and so is a run that
never calls it. Then any other sitecustomize on the path runs, as it would have without this one.
"""
import os
import sys


def _install():
    spec = os.environ.pop("AUTORESEARCH_EVAL_HOOK", None)
    if not spec:
        return
    import functools
    import importlib.abc
    import json

    try:
        want = json.loads(spec)
        mod_name, fn_name, report = want["module"], want["function"], want["report"]
    except Exception:
        return
    # Opened now, before train.py runs; the path leaves the environment.
    try:
        out = open(report, "a", buffering=1)
    except OSError:
        return

    def wrap(module):
        fn = getattr(module, fn_name, None)
        if not callable(fn) or getattr(fn, "__autoresearch_wrapped__", False):
            return

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            value = fn(*args, **kwargs)
            try:
                out.write(json.dumps({"value": float(value)}) + "\n")
            except Exception:
                out.write(json.dumps({"value": None, "type": type(value).__name__}) + "\n")
            return value

        wrapped.__autoresearch_wrapped__ = True
        setattr(module, fn_name, wrapped)

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != mod_name:
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                found = finder.find_spec(name, path, target)
                if found is not None:
                    break
            else:
                return None
            loader = found.loader
            if loader is None or not hasattr(loader, "exec_module"):
                return found
            run = loader.exec_module

            class Loader(importlib.abc.Loader):
                def create_module(self, s):
                    return loader.create_module(s) if hasattr(loader, "create_module") else None

                def exec_module(self, module):
                    run(module)
                    wrap(module)

            found.loader = Loader()
            return found

    sys.meta_path.insert(0, Finder())


def _chain():
    """Runs the sitecustomize this one shadows, if there is one."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    found = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if found is None or found.origin is None or os.path.abspath(found.origin) == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)


_install()
_chain()
