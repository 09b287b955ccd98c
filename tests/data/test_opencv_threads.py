"""OpenCV's thread pool never starts in a vidssl process, so forked DataLoader workers cannot deadlock on it."""
import subprocess
import sys
import textwrap

import cv2

import vidssl.data  # noqa: F401  (importing the package is what switches the pool off)

SCRIPT = textwrap.dedent(
    """
    import numpy as np, torch, cv2
    import vidssl.data
    from vidssl.engine.trainer import _worker_init
    image = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    for _ in range(5):
        cv2.GaussianBlur(image, (23, 23), 3.0)  # would start OpenCV's pool in this (parent) process
    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return 8
        def __getitem__(self, i):
            return torch.tensor(i)
    loader = torch.utils.data.DataLoader(Data(), batch_size=2, num_workers=2, worker_init_fn=_worker_init)
    print(sum(int(b.sum()) for b in loader))
    """
)


def test_importing_vidssl_data_sets_one_opencv_thread():
    assert cv2.getNumThreads() == 1


def test_forked_workers_start_after_opencv_work_in_the_parent():
    # a parent that blurred large frames in-process (train.workers=0), then forks DataLoader workers that set
    # their OpenCV thread count: with OpenCV's pool running in the parent this hung forever (seen in CI runs)
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "28"
