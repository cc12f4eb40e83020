# app: the Python component guest. One line to stdout, two to stderr, then
# exits with the code given as its first argument (default 0) through
# wasi:cli/exit's exit-with-code. A second argument "fail" returns an error
# from run instead (exit 1, as `wasmtime run`), "spin" loops forever.
import sys

from wit_world import exports
from wit_world.imports import environment, exit
from componentize_py_types import Err


class Run(exports.Run):
    def run(self) -> None:
        args = environment.get_arguments()
        code = int(args[1]) if len(args) > 1 else 0
        mode = args[2] if len(args) > 2 else ""
        print("hello from python")
        print("hello from python on stderr", file=sys.stderr)
        print(f"python exits with {code}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        if mode == "fail":
            raise Err(None)
        while mode == "spin":
            code += 1
        if code != 0:
            exit.exit_with_code(code)
