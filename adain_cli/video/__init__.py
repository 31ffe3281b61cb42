"""Frame streams in and out: `read.py` (what a clip is, its frames decoded in the background), `write.py`
(a clip written like its source), `audio.py` (its sound copied or re-encoded on the way out)."""

from adain_cli.video.read import ClipInfo, Frame, probe, read_frames
from adain_cli.video.write import ClipWriter, WrittenClip

__all__ = ["ClipInfo", "ClipWriter", "Frame", "WrittenClip", "probe", "read_frames"]
