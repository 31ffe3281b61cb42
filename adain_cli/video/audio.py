"""A clip's sound on the way out: the source's first audio stream muxed into the output as the video goes,
its packets copied where the container takes the codec, else decoded and re-encoded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any, Literal

from adain_cli.video.read import ClipInfo

AUDIO_CODECS = {"webm": "libopus", "avi": "mp3"}  # when audio must be re-encoded; others: aac
# The audio codecs each container holds as they are (packets copied); any other is re-encoded.
AUDIO_HELD = {"mp4": {"aac", "mp3", "alac"}, "mov": {"aac", "mp3", "alac", "pcm_s16le"},
              "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "pcm_s16le"},
              "webm": {"opus", "vorbis"}, "avi": {"mp3", "ac3", "pcm_s16le"}}  # fmt: skip


OPUS_RATES = (48000, 24000, 16000, 12000, 8000)  # the only rates libopus takes (the encoder resamples to it)


def _encoder_rate(codec: str, rate: int | None) -> int:
    """The sample rate to encode at: the source's where the codec takes it, else 48 kHz (44.1 kHz to opus)."""
    if not rate or (codec == "libopus" and rate not in OPUS_RATES):
        return 48000
    return rate


class AudioCopy:
    """The source's first audio stream, muxed into `output` as the video goes: packets copied where the
    container takes the codec, else decoded and re-encoded (`kind` says which; `note` says why)."""

    def __init__(self, source: ClipInfo, output: Any, *, container_format: str) -> None:
        self.output = output
        self.kind: Literal["copied", "re-encoded", "none"] = "none"
        self.note: str | None = None
        self.input: Any = None
        self.packets: Iterator[Any] = iter(())
        self.pending: Any = None
        self.encoded = Fraction(0)  # the time re-encoded packets (which carry no pts) have reached
        if not source.audio:
            return
        import av

        self.input = av.open(str(source.path))
        audio_in = self.input.streams.audio[0]
        held = audio_in.codec_context.name
        if held in AUDIO_HELD.get(container_format, set()):
            self.stream = output.add_stream_from_template(audio_in)
            self.packets = (p for p in self.input.demux(audio_in) if p.dts is not None)
            self.encoder = None
            self.kind = "copied"
        else:
            codec = AUDIO_CODECS.get(container_format, "aac")
            self.stream = output.add_stream(codec, rate=_encoder_rate(codec, audio_in.codec_context.sample_rate))
            self.encoder = self.stream
            self.packets = self._reencoded(audio_in)
            self.kind = "re-encoded"
            self.note = (
                f"audio re-encoded from {held} to {codec} (the {container_format} container does not take {held})"
            )

    def _reencoded(self, audio_in: Any) -> Iterator[Any]:
        encoder = self.encoder
        if encoder is None:  # only a re-encoded track is read through here
            return
        for frame in self.input.decode(audio_in):
            frame.pts = None
            yield from encoder.encode(frame)
        yield from encoder.encode(None)

    def mux_until(self, seconds: Fraction | None) -> None:
        """Mux the audio packets that start by `seconds` (all of them when None)."""
        self._mux_while(lambda start: seconds is None or start <= seconds)

    def mux_before(self, end: Fraction | None) -> None:
        """Mux the audio packets left that start before `end` (all of them when None); the rest is dropped."""
        self._mux_while(lambda start: end is None or start < end)

    def _mux_while(self, keep: Callable[[Fraction], bool]) -> None:
        if self.input is None:
            return
        while True:
            packet = self.pending if self.pending is not None else next(self.packets, None)
            self.pending = None
            if packet is None:
                return
            start = self._start(packet)
            if start is not None and not keep(start):
                self.pending = packet
                return
            if packet.pts is None and packet.duration and packet.time_base:
                self.encoded += packet.duration * packet.time_base
            if self.encoder is None:
                packet.stream = self.stream
            self.output.mux(packet)

    def _start(self, packet: Any) -> Fraction | None:
        """When `packet` starts: its pts, or for a re-encoded one the length of those muxed before it."""
        if not packet.time_base:
            return None
        return packet.pts * packet.time_base if packet.pts is not None else self.encoded

    def close(self) -> None:
        if self.input is not None:
            self.input.close()
