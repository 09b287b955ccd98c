"""Video data: readers, records, samplers, clip transforms, pretext samplers, SynthMotion.

OpenCV's own thread pool stays off in every process that imports this package.
Data work scales by processes instead (one DataLoader worker per core, each
single-threaded), and a pool started in the main process — by augmenting
in-process with ``train.workers=0``, say — deadlocks forked DataLoader workers
later, when they set their OpenCV thread count (``cv2.setNumThreads`` waits on
the pool's inherited, never-released condition variable).
"""
import cv2

cv2.setNumThreads(1)
