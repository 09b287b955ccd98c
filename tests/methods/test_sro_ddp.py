"""SRO's contrastive branch under 2-process gloo DDP: keys gathered into every queue, shuffled BN round trip."""
import math
import os

import torch

from forked_ddp import needs_fork, run_forked
from vidssl.engine.distributed import cleanup, init_distributed
from vidssl.methods.sro import SRO
from vidssl.models import build_backbone
from vidssl.ops.collectives import all_gather_no_grad, shuffle_across_processes, unshuffle_across_processes


def _batch(rank: int) -> dict:
    gen = torch.Generator().manual_seed(100 + rank)  # each process its own videos
    return {
        "clips": torch.randint(0, 255, (2, 2, 3, 8, 16, 16), generator=gen, dtype=torch.uint8),
        "order_label": torch.randint(0, math.factorial(3), (2,), generator=gen),
        "rates": torch.randint(1, 9, (2, 3), generator=gen),
    }


def _worker(out_dir: str) -> None:
    info = init_distributed("cpu")
    rank = info.rank
    x = torch.arange(6.0).view(3, 2) + 100 * rank
    gathered = all_gather_no_grad(x)
    shuffled, permutation = shuffle_across_processes(x)
    restored = unshuffle_across_processes(shuffled * 1.0, permutation)

    torch.manual_seed(0)  # identical weights on both processes, as DDP would broadcast
    method = SRO(build_backbone("tiny", width=0.125), contrast="cosine", queue_size=8, head_hidden=16)
    batch = _batch(rank)
    # K in inference mode: every key depends on its own clip only, so shuffled BN must hand back the same keys
    method.key_backbone.eval()
    method.key_projection.eval()
    key_input = batch["clips"][:, 1].float() / 255
    method.shuffle_bn = True
    keys_shuffled = method.encode_keys(key_input)
    method.shuffle_bn = False
    keys_plain = method.encode_keys(key_input)

    method.train()
    method.shuffle_bn = True
    captured = {}
    encode = method.encode_keys

    def recording_encode(key_in):
        captured["keys"] = encode(key_in)
        return captured["keys"]

    method.encode_keys = recording_encode
    loss, _ = method.training_step(batch)
    torch.save(
        {"gathered": gathered, "shuffled": shuffled, "permutation": permutation, "restored": restored, "x": x,
         "keys_shuffled": keys_shuffled, "keys_plain": keys_plain, "queue": method.queue.keys.clone(),
         "pointer": int(method.queue.pointer), "step_keys": captured["keys"], "loss": loss.item()},
        os.path.join(out_dir, f"rank{rank}.pt"),
    )
    cleanup()


@needs_fork
def test_keys_are_gathered_from_every_process_and_shuffled_bn_gives_each_its_own_keys(tmp_path):
    assert run_forked(_worker, tmp_path) == [0, 0]
    r0, r1 = (torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2))

    # gather: rank order, identical everywhere
    expected = torch.cat([r0["x"], r1["x"]])
    assert torch.equal(r0["gathered"], expected) and torch.equal(r1["gathered"], expected)
    # shuffle: one permutation for all; the two shares are a permutation of the global batch; unshuffle restores
    assert torch.equal(r0["permutation"], r1["permutation"])
    assert sorted(torch.cat([r0["shuffled"], r1["shuffled"]])[:, 0].tolist()) == sorted(expected[:, 0].tolist())
    assert torch.equal(r0["restored"], r0["x"]) and torch.equal(r1["restored"], r1["x"])
    # shuffled BN hands every process back the keys of its own clips
    for r in (r0, r1):
        torch.testing.assert_close(r["keys_shuffled"], r["keys_plain"], atol=1e-5, rtol=0)
    # after a training step both queues hold the same 4 new keys: rank 0's two, then rank 1's two
    assert r0["pointer"] == r1["pointer"] == 4
    assert torch.equal(r0["queue"], r1["queue"])
    torch.testing.assert_close(r0["queue"][:4], torch.cat([r0["step_keys"], r1["step_keys"]]))
    assert not torch.allclose(r0["step_keys"], r1["step_keys"])
