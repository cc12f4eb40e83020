# pylog: Python's own `logging` on stderr, for wasmhost's lifting: the default
# format of logging.basicConfig (LEVEL:logger:msg), the common asctime forms,
# and logging.exception's message with its traceback (a multi-line block).
# A command of the `app` world; it takes no arguments.
import logging
import sys

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
        logging.error("disk full")
        logging.getLogger("app.db").warning("slow query")
        handler = logging.getLogger().handlers[0]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.info("started")
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        logging.getLogger("app").critical("out of memory")
        handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
        try:
            int("not a number")
        except ValueError:
            logging.exception("parse failed")
        print("after the traceback", file=sys.stderr, flush=True)
