"""``python -m pinnlab.study.worker CONFIG_JSON``: one study worker process, by hand.

``pinnlab study`` starts its workers with :data:`pinnlab.study.runner.WORKER_COMMAND` instead,
which ignores SIGINT before importing anything (``-m`` imports the pinnlab package first).
"""

import sys

from pinnlab.study.runner import worker_main

if __name__ == "__main__":
    sys.exit(worker_main())
