"""RGBDiff modality: T+1 decoded frames become T differences on the device, everywhere a clip is used."""
import numpy as np
import pytest
import torch

from vidssl.config.schema import ClipConfig, ModelConfig
from vidssl.data.transforms import frames_for_modality, normalize_on_device, to_model_input
from vidssl.data.transforms.functional import RGBDIFF_SCALE
from vidssl.errors import VidsslError
from vidssl.eval.features import EvalClips, extract_features
from vidssl.methods.transrank import TransRank
from vidssl.models import build_backbone
from vidssl.recipes.pretext.transrank import TransRankConfig
from vidssl.recipes.pretrain import build_pretext_sampler
from vidssl.recipes.run_config import RunConfig


def test_rgbdiff_is_the_scaled_difference_of_consecutive_frames():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (2, 3, 5, 4, 4), generator=g, dtype=torch.uint8)
    got = to_model_input(x, "rgbdiff")
    assert got.shape == (2, 3, 4, 4, 4)
    for t in range(4):
        expected = (x[:, :, t + 1].double() - x[:, :, t].double()) / 255 / RGBDIFF_SCALE
        assert torch.allclose(got[:, :, t].double(), expected, atol=1e-6)
    assert torch.equal(to_model_input(x, "rgb"), normalize_on_device(x))


def test_frames_needed_and_bad_modality():
    assert frames_for_modality(8, "rgb") == 8 and frames_for_modality(8, "rgbdiff") == 9
    with pytest.raises(VidsslError, match="^modality: expected one of rgb, rgbdiff, got 'flow'$"):
        frames_for_modality(8, "flow")
    with pytest.raises(VidsslError, match="rgbdiff input"):
        to_model_input(torch.zeros(1, 3, 1, 4, 4, dtype=torch.uint8), "rgbdiff")


class CountingReader:
    def read(self, path, indices):
        return np.stack([np.full((12, 12, 3), i, np.uint8) for i in indices])


class Rec:
    path, num_frames = "v.mp4", 200


def test_transrank_sampler_decodes_one_extra_frame_and_method_sees_the_clip_length():
    clip = ClipConfig(frames=4, size=12, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0, color_jitter_p=0, grayscale_p=0,
                      jitter=(1.0, 1.0))  # no temporal jitter: the 1x interval is exactly 2
    config = RunConfig(method=TransRankConfig(), clip=clip, model=ModelConfig(modality="rgbdiff"))
    sampler = build_pretext_sampler(config)
    sample = sampler(Rec(), CountingReader(), np.random.default_rng(0))
    assert sample["clips"].shape == (3, 3, 5, 12, 12)
    # the 1x clip continues the paper's index rule by one frame: rho + [0, d, ..., 4d]
    one_x = sample["frame_indices"][sample["transform_ids"] == 0][0]
    assert torch.equal(one_x, one_x[0] + 2 * torch.arange(5))
    torch.manual_seed(0)
    method = TransRank(build_backbone("tiny"), transforms=("1x", "2x", "rev"), modality="rgbdiff")
    batch = {k: v.unsqueeze(0) for k, v in sample.items()}
    loss, _ = method.training_step(batch)
    assert torch.isfinite(loss)


def test_features_with_rgbdiff_equal_backbone_on_hand_made_differences(tmp_path):
    from videofixtures import numbered_frames, write_video
    from vidssl.data.datasets import VideoRecord
    from vidssl.data.video import PyAVReader, probe

    path = tmp_path / "v.mkv"
    write_video(path, numbered_frames(20, 32, 32), codec="ffv1")
    meta = probe(path)
    record = VideoRecord(str(path), 0, meta.num_frames, meta.fps, meta.height, meta.width)
    torch.manual_seed(0)
    backbone = build_backbone("tiny").eval()
    clips = EvalClips(num_clips=1, clip_len=4, size=32, resize_short=32, modality="rgbdiff")
    feats = extract_features(backbone, [record], PyAVReader(), clips, workers=0, progress=False)
    frames = PyAVReader().read(str(path), list(range(8, 13)))  # VCOP centre of 20 frames for a 5-frame span
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0)
    with torch.no_grad():
        expected = backbone(to_model_input(clip, "rgbdiff"))
    assert torch.allclose(torch.from_numpy(feats.by_layer["pool"]), expected, atol=1e-5)
