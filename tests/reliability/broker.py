"""A second Kafka broker of a test's own, to stop and start: never the shared one on 9092.

It is scripts/local-kafka.sh run from a copy of the scripts in a temp folder (the script keeps
its state under <root>/.edgewatch/kafka), on free ports. The jars come from the repository's
own download when there is one (a link), else the script downloads them (Maven's cache).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from edgewatch.settings import REPO_ROOT
from tests.api.test_http import free_port


class SecondBroker:
    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(REPO_ROOT / "scripts", root / "scripts")
        libs = REPO_ROOT / ".edgewatch" / "kafka" / "libs"
        if (libs / ".complete").exists():
            (root / ".edgewatch" / "kafka").mkdir(parents=True)
            (root / ".edgewatch" / "kafka" / "libs").symlink_to(libs)
        self.port, controller = free_port(), free_port()
        self._env = {**os.environ, "KAFKA_PORT": str(self.port), "KAFKA_CONTROLLER_PORT": str(controller),
                     "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m", "KAFKA_START_TIMEOUT": "180"}
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _script(self, command: str) -> None:
        done = subprocess.run(["bash", str(self.root / "scripts" / "local-kafka.sh"), command], env=self._env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"local-kafka.sh {command}: {done.stdout[-2000:]}{done.stderr[-3000:]}"

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        """A clean stop (SIGTERM); the topics and the groups' offsets stay for the next start."""
        self._script("stop")
