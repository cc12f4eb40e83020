# logger: the Python component guest of wasi:logging. Four records at four
# levels, with and without a context, between two plain stderr lines.
import sys

from wit_world import exports
from wit_world.imports import logging
from wit_world.imports.logging import Level


class Run(exports.Run):
    def run(self) -> None:
        print("python logger starts", file=sys.stderr, flush=True)
        logging.log(Level.INFO, "startup", "python logger ready")
        logging.log(Level.WARN, "db", "slow query took 120 ms")
        logging.log(Level.DEBUG, "", "no context here")
        logging.log(Level.CRITICAL, "disk", "out of space")
        print("python logger ends", file=sys.stderr, flush=True)
