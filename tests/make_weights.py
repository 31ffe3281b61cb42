"""Write random-initialised weights in the exact public layout to FOLDER (for CI's smoke test of the installed
command): `python tests/make_weights.py FOLDER`."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: this checkout's tests package
from tests.public_weights import random_public_state_dicts

if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    encoder, decoder = random_public_state_dicts(seed=0)
    torch.save(encoder, folder / "vgg_normalised.pth")
    torch.save(decoder, folder / "decoder.pth")
