"""The decode loop of :func:`transcode.transcode_spans`: one pass over a chunk's stretch of a source.

A span goes through three states: *open* (its frames are being encoded), *waiting* (its video
is done, its audio not yet read: containers interleave audio and video loosely, so the audio
of a clip's last moments can come after the video frame that ends it), and *finished* (its
file is made). Only open and waiting spans hold encoders; the audio window keeps the audio
from a little before the earliest span still to be finished.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from .clip_output import ClipOutput
from .transcode import (
    AUDIO_SEEK_MARGIN_S,
    MOTION_STREAM,
    EncodedClip,
    EncodeSettings,
    TimestampGuesser,
    clip_pts,
    clip_tick,
    frame_tolerance,
    output_size,
)

#: Trim the audio window after this many audio packets (a bound on work, not on memory).
_TRIM_EVERY = 64
#: A clip waits for its audio until the video read is this far past its end: a source whose
#: audio stops early must not make every chunk read to the end of the file.
AUDIO_WAIT_S = 5.0


class _OpenClip:
    """A span being encoded: its output, the motion stream if one is needed, its timing."""

    def __init__(self, output: ClipOutput, motion: ClipOutput | None, first_ts: int, time_base: Fraction):
        self.output, self.motion = output, motion
        self.first_ts, self.time_base = first_ts, time_base
        self.last_time = 0.0
        self.last_duration = 0  # the last frame's duration in the source (0: unknown)
        self.audio_range: tuple[int, int] | None = None
        self.end_time = Fraction(0)  # container clock, seconds: when its video ends

    def add(self, frame: Any, ts: int, t: float) -> None:
        pts = clip_pts((ts - self.first_ts) * self.time_base, self.output.tick, self.output.last_pts)
        self.output.add(frame, pts)
        if self.motion is not None:
            self.motion.add(frame, pts)
        self.last_time = t
        self.last_duration = frame.duration or 0

    def duration(self, next_ts: int | None, frame_ticks: int) -> Fraction:
        """Seconds the clip's video lasts: up to the frame after it, else to the end of its
        last frame (as long as the source says, or one frame of the average rate)."""
        last = round(self.last_duration * self.time_base / self.output.tick) if self.last_duration else frame_ticks
        ticks = self.output.last_pts + max(1, last)
        if next_ts is not None:
            ticks = max(self.output.last_pts + 1, round((next_ts - self.first_ts) * self.time_base / self.output.tick))
        return ticks * self.output.tick

    def abandon(self) -> None:
        self.output.abandon()
        if self.motion is not None:
            self.motion.abandon()


class SpanCutter:
    def __init__(self, container, stream, spans, results: list[EncodedClip], settings: EncodeSettings,
                 workdir: str, *, audio=None, video_end: float | None = None, on_clip=None):
        self.container, self.stream, self.spans, self.results = container, stream, spans, results
        self.on_clip = on_clip
        self.settings, self.workdir, self.audio = settings, workdir, audio
        self.rate = Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate)
        self.tick = clip_tick(self.rate, stream.base_rate, stream.time_base)
        self.frame_ticks = max(1, round(1 / (self.rate * self.tick)))
        self.tol = frame_tolerance(float(self.rate))
        self.origin = stream.start_time or 0  # timestamps count from the stream's first one
        self.timestamp = TimestampGuesser()
        # A span ending at the planned end of the video takes every frame after it too.
        self.ends = [float("inf") if video_end is not None and span.end >= video_end - 1e-9 else span.end
                     for span in spans]
        self.open: dict[int, _OpenClip] = {}
        self.waiting: dict[int, _OpenClip] = {}
        self.done: set[int] = set()  # video done: waiting or finished
        self.failed: dict[int, str] = {}
        self.video_done = False
        self._audio_packets = 0

    # ----------------------------------------------------------------------------------
    # The loop

    def run(self) -> None:
        import av

        first = min(span.start for span in self.spans)
        target = first - (AUDIO_SEEK_MARGIN_S if self.audio is not None else 0.0)
        if first > self.tol and target > 0:
            # Backward seek lands on the key frame at or before the target; earlier frames are
            # then decoded and dropped by the timestamp test.
            try:
                self.container.seek(self.origin + int(target / self.stream.time_base), stream=self.stream,
                                    backward=True, any_frame=False)
            except av.error.FFmpegError:
                pass  # an unseekable source is read from its start; it is only slower
        try:
            self._demux_all()
        except Exception as exc:  # noqa: BLE001 - demuxing a damaged file: stop, keep what we have
            self._fail_unfinished(f"reading the source failed: {type(exc).__name__}: {exc}")
        for index in range(len(self.spans)):
            if index not in self.done:
                self._video_done(index, next_ts=None, ended_early=True)
        if self.audio is not None:
            self.audio.ended = True
        for index in list(self.waiting):
            self._finish(index)

    def _demux_all(self) -> None:
        import av

        last_end = max(self.ends)
        audio_index = self.audio.stream.index if self.audio is not None else None
        streams = [self.stream] + ([self.audio.stream] if self.audio is not None else [])
        for packet in self.container.demux(*streams):
            if packet.stream.index == audio_index:
                self._audio_packet(packet)
            elif self.waiting and packet.pts is not None:
                self._stop_waiting_before(packet.pts * packet.time_base - AUDIO_WAIT_S)
            if packet.stream.index != audio_index and not self.video_done:
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    # Every clip being cut when the damage came is marked failed; later ones go on.
                    self._fail_open(f"decoding failed near t={self._packet_time(packet)}: {exc}")
                    continue
                for frame in frames:
                    ts = self.timestamp(frame.pts, frame.dts)
                    if ts is None or frame.time_base is None:
                        continue  # a frame with no time cannot be placed in a span
                    t = float((ts - self.origin) * frame.time_base)
                    self._route(frame, ts, t)
                    if t >= last_end - self.tol:
                        self.video_done = True
                        break
            if self.video_done and not self.waiting:
                return

    def _audio_packet(self, packet) -> None:
        self.audio.add(packet)
        self._audio_packets += 1
        if self._audio_packets % _TRIM_EVERY == 0:
            self.audio.forget_before(self._earliest_needed_sample())
        for index in [i for i, clip in self.waiting.items() if self.audio.covers(clip.audio_range[1])]:
            self._finish(index)

    def _stop_waiting_before(self, seconds: Fraction) -> None:
        """Finish the clips whose audio should have been read by now (the source has none)."""
        for index in [i for i, clip in self.waiting.items() if clip.end_time < seconds]:
            self._finish(index)

    def _earliest_needed_sample(self) -> int:
        starts = [clip.audio_range[0] for clip in self.waiting.values()]
        starts += [self.audio.sample_of(clip.first_ts * clip.time_base) for clip in self.open.values()]
        origin = self.origin * self.stream.time_base
        starts += [self.audio.sample_of(origin + Fraction(span.start - self.tol))
                   for index, span in enumerate(self.spans) if index not in self.done and index not in self.open]
        return min(starts) if starts else 0

    def _packet_time(self, packet) -> str:
        if packet.pts is None or packet.time_base is None:
            return "?"
        return f"{float((packet.pts - self.origin) * packet.time_base):.3f}s"

    def _route(self, frame, ts: int, t: float) -> None:
        for index, span in enumerate(self.spans):
            if index in self.done:
                continue
            if t >= self.ends[index] - self.tol:
                self._video_done(index, next_ts=ts, ended_early=False)
            elif t >= span.start - self.tol:
                self._clip(index, frame, ts).add(frame, ts, t)

    def _clip(self, index: int, frame, ts: int) -> _OpenClip:
        if index not in self.open:
            width, height = frame.width, frame.height
            settings = self.settings
            output = ClipOutput(os.path.join(self.workdir, f"{index}.mp4"), encoder=settings.encoder,
                                options=settings.encoder_options, threads=settings.encoder_threads, rate=self.rate,
                                tick=self.tick, size=output_size(width, height, settings.target_height))
            motion = None
            if settings.motion_stream and not settings.clip_is_motion_stream(width, height):
                motion = ClipOutput(None, encoder=MOTION_STREAM.encoder, options={}, threads=1, rate=self.rate,
                                    tick=self.tick, size=output_size(width, height, None))
            self.open[index] = _OpenClip(output, motion, ts, frame.time_base)
        return self.open[index]

    # ----------------------------------------------------------------------------------
    # Ending a span

    def _fail_open(self, message: str) -> None:
        for index in self.open:
            self.failed.setdefault(index, message)

    def _fail_unfinished(self, message: str) -> None:
        for index in range(len(self.spans)):
            if index not in self.done:
                self.failed.setdefault(index, message)

    def _video_done(self, index: int, *, next_ts: int | None, ended_early: bool) -> None:
        self.done.add(index)
        result, span = self.results[index], self.spans[index]
        clip = self.open.pop(index, None)
        if clip is None:
            result.error = self.failed.get(index) or f"no frames decoded in [{span.start}, {span.end})"
            return
        result.num_frames = clip.output.count
        result.width, result.height = clip.output.size
        if ended_early and clip.last_time + 1.5 / float(self.rate) < span.end:
            # At the end of the data a span is short when its last frame is well before its end.
            result.error = (f"source ended at {clip.last_time:.3f}s, before the clip's end {span.end:.3f}s "
                            f"({clip.output.count} frames)")
        if self.audio is not None:
            start, duration = clip.first_ts * clip.time_base, clip.duration(next_ts, self.frame_ticks)
            clip.audio_range, clip.end_time = self.audio.span_samples(start, duration), start + duration
        self.waiting[index] = clip
        if self.audio is None or self.audio.covers(clip.audio_range[1]):
            self._finish(index)

    def _finish(self, index: int) -> None:
        self._make(index)
        if self.on_clip is not None:
            self.on_clip(self.results[index])

    def _make(self, index: int) -> None:
        clip = self.waiting.pop(index)
        result = self.results[index]
        if index in self.failed:
            clip.abandon()
            result.error = self.failed[index]
            return
        try:
            result.data = clip.output.finish(self._audio_for(result, clip))
            result.audio_error = result.audio_error or clip.output.audio_error
            if clip.motion is not None:
                result.motion_stream_made = True
                result.motion_data = clip.motion.finish()
        except Exception as exc:  # noqa: BLE001 - one clip's encoder failing must not stop the chunk
            clip.abandon()
            result.data = result.motion_data = None
            result.error = f"encoding failed: {type(exc).__name__}: {exc}"

    def _audio_for(self, result: EncodedClip, clip: _OpenClip):
        if self.audio is None:
            return None
        first, end = clip.audio_range

        def packets(container):
            try:
                return self.audio.track(container, first, end)
            except Exception as exc:  # noqa: BLE001 - bad audio costs the clip its audio, not its video
                result.audio_error = f"{type(exc).__name__}: {exc}"
                return []

        return packets
