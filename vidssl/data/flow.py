"""Optical flow for STS labels: computed on the fly with OpenCV, or read from pre-extracted flow frames.

Flow is an array (T−1, H, W, 2) float32 of (u, v) displacements in pixels from
frame t to frame t+1 (u to the right, v down the rows).

On the fly (:class:`FlowEstimator`): DIS (Kroeger et al., ECCV 2016; presets
``dis_ultrafast``, ``dis_fast`` and ``dis_medium``, the default), Farneback,
or TV-L1 where opencv-contrib provides ``cv2.optflow`` (the flow the official
STS pipeline precomputes; ~200 ms per 112² pair on these machines, against
0.1–0.4 ms for DIS). Measured speeds are in ``benchmarks/sts_labels.py``.

Pre-extracted (:func:`read_flow_frames`): one grayscale JPEG per component and
frame pair, ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` (1-based, the layout of
the common dense_flow / denseflow extractors), each pixel p ∈ [0, 255] standing
for p·2·bound/255 − bound (bound 20 in the official STS data).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidssl.checks import ArgumentError, check_choice
from vidssl.errors import CorruptVideoError, VidsslError

DIS_PRESETS = {
    "dis_ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "dis_fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "dis_medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FLOW_METHODS = (*DIS_PRESETS, "farneback", "tvl1")
DEFAULT_FLOW = "dis_medium"
"""OpenCV's ultrafast and fast DIS presets stop at a quarter of the resolution: at 112-171 px they barely see a
small object move 1 px per frame (0.01 px measured) and put the largest-motion block next to it; medium refines
to half resolution (tests/test_sts_statistics.py finds every pattern-1 block with it)."""
FLOW_BOUND = 20.0
"""Official STS flow JPEGs quantise [−20, 20] px to [0, 255] (ALGORITHMS.md §1.2)."""
FLOW_TEMPLATE = "flow_{}_{:05d}.jpg"


def tvl1_available() -> bool:
    """Whether this OpenCV build has TV-L1 (opencv-contrib's ``cv2.optflow``)."""
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def check_flow_method(method: str, name: str = "method") -> str:
    """``method`` if it is one of :data:`FLOW_METHODS` that this OpenCV can run; errors name parameter ``name``."""
    check_choice(name, method, FLOW_METHODS)
    if method == "tvl1" and not tvl1_available():
        raise ArgumentError(
            name,
            "tvl1 needs cv2.optflow, which this OpenCV lacks (install opencv-contrib-python-headless), "
            "or use dis_fast / farneback, or pre-extracted flow frames (flow_root)",
        )
    return method


class FlowEstimator:
    """Dense flow between consecutive frames of a clip: ``estimator(frames uint8 (T, H, W, 3)) -> (T−1, H, W, 2)``.

    The OpenCV object is created on first use in each process (it cannot be
    pickled into DataLoader workers), single-threaded as the rest of the data
    pipeline (one worker per core), and once per frame size: a DIS engine that
    has seen a small image keeps the finer pyramid scale it chose for it, which
    made later large frames 16× slower and their flow different.

    Example::

        flow = FlowEstimator("dis_medium")(frames)   # (15, 112, 112, 2) for 16 frames
    """

    def __init__(self, method: str = DEFAULT_FLOW) -> None:
        self.method = check_flow_method(method)
        self._engines: dict[tuple[int, int], cv2.DenseOpticalFlow] = {}

    def __repr__(self) -> str:
        return f"FlowEstimator({self.method!r})"

    def __getstate__(self) -> dict:
        return {"method": self.method, "_engines": {}}

    def _calc(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        if self.method == "farneback":
            return cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        engine = self._engines.get(first.shape)
        if engine is None:
            if self.method == "tvl1":
                # The constructor's check_flow_method admits tvl1 only where opencv-contrib provides cv2.optflow.
                assert hasattr(cv2, "optflow")
                engine = cv2.optflow.DualTVL1OpticalFlow_create()
            else:
                engine = cv2.DISOpticalFlow.create(DIS_PRESETS[self.method])
            self._engines[first.shape] = engine
        # The stub wants an output array; OpenCV allocates it when given None (as the Farneback call above).
        return engine.calc(first, second, None)  # type: ignore[call-overload]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 2:
            raise VidsslError(f"frames: expected uint8 (T >= 2, H, W, 3) RGB, got {frames.dtype} {frames.shape}")
        gray = [cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY) for frame in frames]
        flow = np.empty((len(frames) - 1, *gray[0].shape, 2), dtype=np.float32)
        for t in range(len(frames) - 1):
            flow[t] = self._calc(gray[t], gray[t + 1])
        return flow


def quantise_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Flow → uint8 as flow extractors store it: clip to [−bound, bound], map linearly to [0, 255]."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
    return np.rint(scaled).astype(np.uint8)


def dequantise_flow(values: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """uint8 [0, 255] → flow p·2·bound/255 − bound (ALGORITHMS.md §1.2: p·40/255 − 20)."""
    return values.astype(np.float32) * (2 * bound / 255.0) - bound


def flow_frame_paths(folder: str | Path, pair: int, template: str = FLOW_TEMPLATE) -> tuple[Path, Path]:
    """The x and y files of 0-based frame pair ``pair`` (from frame pair to pair+1): files count from 1."""
    folder = Path(folder)
    return folder / template.format("x", pair + 1), folder / template.format("y", pair + 1)


def read_flow_frames(
    folder: str | Path, pairs: np.ndarray, *, bound: float = FLOW_BOUND, template: str = FLOW_TEMPLATE
) -> np.ndarray:
    """(len(pairs), H, W, 2) float32 flow of the 0-based frame pairs from ``folder``'s JPEG pairs."""
    flows = []
    for pair in np.asarray(pairs, dtype=np.int64):
        components = []
        for path in flow_frame_paths(folder, int(pair), template):
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise CorruptVideoError(f"{path}: flow frame missing or unreadable (expected a grayscale image)")
            components.append(image)
        if components[0].shape != components[1].shape:
            raise CorruptVideoError(f"{folder}: flow_x and flow_y of pair {pair + 1} differ in size")
        flows.append(np.stack(components, axis=-1))
    if not flows:
        raise VidsslError(f"{folder}: no flow pairs asked for")
    return dequantise_flow(np.stack(flows), bound)


def count_flow_frames(folder: str | Path, template: str = FLOW_TEMPLATE) -> int:
    """How many consecutive x/y pairs ``folder`` holds from pair 1."""
    count = 0
    while all(path.is_file() for path in flow_frame_paths(folder, count, template)):
        count += 1
    return count


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize flow fields (N, h, w, 2) to height × width, scaling u by width/w and v by height/h (pixels change)."""
    n, h, w, _ = flow.shape
    if (h, w) == (height, width):
        return flow
    out = np.empty((n, height, width, 2), dtype=np.float32)
    for i in range(n):
        out[i] = cv2.resize(flow[i], (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out
