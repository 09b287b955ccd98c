"""Video data: readers, records, samplers, clip transforms, pretext samplers, SynthMotion.

The face names the path of one video to a sample: :func:`probe` measures it
(:class:`VideoMeta`), :func:`load_records` lists a dataset as
:class:`VideoRecord` s, :func:`make_reader` builds a reader by kind and
:class:`VideoDataset` pairs records, a reader and a sampler. Frame-index rules
(``sampling``), transforms (``transforms``), the method samplers (``pretext``)
and SynthMotion (``synthmotion``) are imported from their modules.

OpenCV's own thread pool stays off in every process that imports this package.
Data work scales by processes instead (one DataLoader worker per core, each
single-threaded), and a pool started in the main process — by augmenting
in-process with ``train.workers=0``, say — deadlocks forked DataLoader workers
later, when they set their OpenCV thread count (``cv2.setNumThreads`` waits on
the pool's inherited, never-released condition variable).
"""
import cv2

from vidssl.data.datasets import VideoDataset, VideoRecord, load_records
from vidssl.data.video import VideoMeta, make_reader, probe

cv2.setNumThreads(1)  # importing runs no OpenCV work, so the pool is still unstarted here

__all__ = ["VideoDataset", "VideoMeta", "VideoRecord", "load_records", "make_reader", "probe"]
