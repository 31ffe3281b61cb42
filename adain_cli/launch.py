"""Where this process sits in a torchrun launch (torch-free, so the CLI can ask before loading torch)."""

from __future__ import annotations

import os
from typing import NamedTuple


class Launch(NamedTuple):
    rank: int
    world: int
    local_rank: int


def torchrun_launch() -> Launch:
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them; a single process otherwise."""
    return Launch(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                  int(os.environ.get("LOCAL_RANK", "0")))  # fmt: skip
