"""Writing videos: uint8 RGB frames to an H.264 ``.mp4`` that the readers of :mod:`vidssl.data.video` seek in.

Used by the SynthMotion generator and by test fixtures that need real encoded files.
"""

from __future__ import annotations

import os

import av
import numpy as np

from vidssl.errors import VidsslError

KEYFRAME_INTERVAL = 16  # frames between H.264 keyframes, so readers' seeks pay off
CRF = 23


def write_mp4(frames: np.ndarray, path: str | os.PathLike, *, fps: int) -> None:
    """Encode uint8 RGB frames (T, H, W, 3) as H.264/yuv420p, a keyframe every ``KEYFRAME_INTERVAL`` frames.

    One encoder thread, so the bytes depend only on the frames.
    """
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise VidsslError(f"{path}: yuv420p needs even frame sizes, got {height}x{width}")
    keyint = KEYFRAME_INTERVAL
    options = {
        "crf": str(CRF),
        "preset": "veryfast",
        "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:threads=1",
    }
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
