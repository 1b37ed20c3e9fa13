#!/usr/bin/env python3
"""Runtime proof for wharf's example binaries, using the `wasmtime` PyPI package.

Usage:
    python3 run_component.py FILE.wasm FUNC [ARG ...]

Examples:
    python3 run_component.py hello.wasm greet Alice        # prints: Hello, Alice!
    python3 run_component.py hello-module.wasm add 2 3     # prints: 5

FILE is either a WebAssembly component (header version bytes 0d 00 01 00) or a
core module (version bytes 01 00 00 00); the kind is detected from the header.
No imports are provided (no WASI): the binary must be self-contained.

Arguments are given as strings and converted according to the function's
parameter types (strings, chars, bools, integers, floats). The return value is
printed on stdout. Exit status: 0 on success, 2 on any failure (with a message
on stderr).
"""

import sys

MAGIC = b"\x00asm"
CORE_VERSION = b"\x01\x00\x00\x00"
COMPONENT_VERSION = b"\x0d\x00\x01\x00"

USAGE = "usage: run_component.py FILE.wasm FUNC [ARG ...]"


class RunError(Exception):
    """A failure reported to the user with exit status 2."""


def detect_kind(data: bytes) -> str:
    if len(data) < 8 or data[:4] != MAGIC:
        raise RunError("not a WebAssembly binary (missing \\0asm magic)")
    version = data[4:8]
    if version == CORE_VERSION:
        return "module"
    if version == COMPONENT_VERSION:
        return "component"
    raise RunError("unknown WebAssembly version/layer bytes: %s" % version.hex(" "))


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError("expected true or false")


def parse_int(text: str) -> int:
    return int(text, 0)


# ---------------------------------------------------------------------------
# Core modules
# ---------------------------------------------------------------------------


def convert_core_arg(wasmtime, ty, text: str):
    if ty == wasmtime.ValType.i32() or ty == wasmtime.ValType.i64():
        return parse_int(text)
    if ty == wasmtime.ValType.f32() or ty == wasmtime.ValType.f64():
        return float(text)
    raise ValueError("unsupported parameter type %s" % ty)


def format_core_result(result) -> str:
    if result is None:
        return ""
    if isinstance(result, (list, tuple)):
        return " ".join(str(r) for r in result)
    return str(result)


def run_core_module(wasmtime, data: bytes, func_name: str, args):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, data)
    if module.imports:
        names = ", ".join("%s::%s" % (i.module, i.name) for i in module.imports)
        raise RunError("core module has imports, which this runner does not provide: %s" % names)
    instance = wasmtime.Instance(store, module, [])
    exports = instance.exports(store)
    try:
        func = exports[func_name]
    except KeyError:
        available = ", ".join(sorted(e.name for e in module.exports)) or "(none)"
        raise RunError("module has no export %r (exports: %s)" % (func_name, available))
    if not isinstance(func, wasmtime.Func):
        raise RunError("export %r is not a function" % func_name)
    params = func.type(store).params
    if len(params) != len(args):
        raise RunError("%s expects %d argument(s), got %d" % (func_name, len(params), len(args)))
    converted = []
    for i, (ty, text) in enumerate(zip(params, args)):
        try:
            converted.append(convert_core_arg(wasmtime, ty, text))
        except ValueError as e:
            raise RunError("argument %d (%r): %s" % (i + 1, text, e))
    return format_core_result(func(store, *converted))


# ---------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------


def convert_component_arg(component, ty, text: str):
    if isinstance(ty, component.String):
        return text
    if isinstance(ty, component.Char):
        if len(text) != 1:
            raise ValueError("expected exactly one character")
        return text
    if isinstance(ty, component.Bool):
        return parse_bool(text)
    int_types = (
        component.S8, component.S16, component.S32, component.S64,
        component.U8, component.U16, component.U32, component.U64,
    )
    if isinstance(ty, int_types):
        return parse_int(text)
    if isinstance(ty, (component.F32, component.F64)):
        return float(text)
    raise ValueError("unsupported parameter type %r" % (ty,))


def format_component_result(result) -> str:
    if result is None:
        return ""
    if isinstance(result, bool):
        return "true" if result else "false"
    return str(result)


def run_component(wasmtime, data: bytes, func_name: str, args):
    from wasmtime import component

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    comp = component.Component(engine, data)
    ctype = comp.type
    imports = ctype.imports(engine)
    if imports:
        raise RunError(
            "component has imports, which this runner does not provide: %s"
            % ", ".join(sorted(imports))
        )
    exports = ctype.exports(engine)
    if func_name not in exports:
        available = ", ".join(sorted(exports)) or "(none)"
        raise RunError("component has no export %r (exports: %s)" % (func_name, available))

    linker = component.Linker(engine)
    instance = linker.instantiate(store, comp)
    func = instance.get_func(store, func_name)
    if func is None:
        raise RunError("export %r is not a function" % func_name)
    params = func.type(store).params
    if len(params) != len(args):
        raise RunError("%s expects %d argument(s), got %d" % (func_name, len(params), len(args)))
    converted = []
    for i, ((pname, ty), text) in enumerate(zip(params, args)):
        try:
            converted.append(convert_component_arg(component, ty, text))
        except ValueError as e:
            raise RunError("argument %d (%s = %r): %s" % (i + 1, pname, text, e))
    result = func(store, *converted)
    func.post_return(store)
    return format_component_result(result)


def main(argv) -> int:
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    path, func_name, args = argv[1], argv[2], argv[3:]
    try:
        try:
            import wasmtime
        except ImportError as e:
            raise RunError("the `wasmtime` Python package is not available: %s" % e)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise RunError("cannot read %s: %s" % (path, e.strerror or e))
        kind = detect_kind(data)
        if kind == "module":
            output = run_core_module(wasmtime, data, func_name, args)
        else:
            output = run_component(wasmtime, data, func_name, args)
    except RunError as e:
        print("run_component: error: %s: %s" % (path, e), file=sys.stderr)
        return 2
    except Exception as e:  # wasmtime errors, traps, ...
        print("run_component: error: %s: %s: %s" % (path, type(e).__name__, e), file=sys.stderr)
        return 2
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
