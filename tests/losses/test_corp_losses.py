"""CORP relation module and losses against literal loops over equations (1), (5), (6), (8) and §3.2's pair counting."""
import itertools
import math

import pytest
import torch

from vidssl.errors import VidsslError
from vidssl.losses.corp import (
    CorpFLoss,
    CorpMLoss,
    corp_f_joint_logits,
    corp_f_joint_loss,
    pair_labels,
    video_pair_weights,
)
from vidssl.models.relation import DecouplingAttention, MixedAttention, PairClassifier

DIM, HEADS = 8, 4


def randomised(module, seed):
    """Every parameter redrawn from N(0, 1) in float64 (default inits are small and could hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g, dtype=torch.float64))
    return module


def features(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def log_softmax_entry(row, index):
    """−log softmax(row)[index] in plain Python."""
    values = [float(v) for v in row.detach()]
    top = max(values)
    return -(values[index] - top - math.log(sum(math.exp(v - top) for v in values)))


# ---------------------------------------------------------------- relation module


def test_decoupling_parts_are_symmetric_and_antisymmetric():
    attention = randomised(DecouplingAttention(DIM, HEADS), seed=1)
    z_i, z_j = features(6, DIM, seed=2), features(6, DIM, seed=3)
    s_ij, a_ij = attention.parts(z_i, z_j)
    s_ji, a_ji = attention.parts(z_j, z_i)
    assert s_ij.shape == a_ij.shape == (6, HEADS // 2)
    torch.testing.assert_close(s_ji, s_ij, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a_ji, -a_ij, rtol=1e-12, atol=1e-12)
    assert a_ij.abs().min() > 0  # not trivially zero
    torch.testing.assert_close(attention(z_i, z_j), torch.cat([s_ij, a_ij], dim=-1))


def test_decoupling_sum_is_bilinear_form_of_equation_7():
    attention = randomised(DecouplingAttention(DIM, HEADS), seed=4)
    g, p, q = attention.g.weight, attention.p.weight, attention.q.weight
    m = g.T @ g + p.T @ q - q.T @ p  # eq. (7): Σ g gᵀ + Σ (p qᵀ − q pᵀ)
    z_i, z_j = features(5, DIM, seed=5), features(5, DIM, seed=6)
    expected = torch.einsum("nd,de,ne->n", z_i, m, z_j)
    torch.testing.assert_close(attention(z_i, z_j).sum(-1), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dim, heads", [(8, 4), (10, 3), (3, 4)])  # d/h = 2, d not a multiple of h, d < h
def test_mixed_attention_matches_per_head_loop(dim, heads):
    attention = randomised(MixedAttention(dim, heads), seed=7)
    head_dim = max(dim // heads, 1)
    z_i, z_j = features(4, dim, seed=8), features(4, dim, seed=9)
    got = attention(z_i, z_j).detach()
    assert got.shape == (4, heads)
    for n in range(4):
        for k in range(heads):
            u_k = attention.u.weight[k * head_dim : (k + 1) * head_dim]  # U_k ∈ R^{(d/h) × d}
            v_k = attention.v.weight[k * head_dim : (k + 1) * head_dim]
            assert u_k.shape == (head_dim, dim)
            expected = torch.dot(u_k @ z_i[n], v_k @ z_j[n]).item()
            assert float(got[n, k]) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("mlp_layers", [1, 2])
@pytest.mark.parametrize("num_classes", [2, 3])
def test_decoupling_classifier_is_swap_equivariant(num_classes, mlp_layers):
    classifier = randomised(
        PairClassifier(DIM, num_classes, heads=HEADS, mlp_layers=mlp_layers, hidden=6, pair_classifier="symmetric"),
        seed=10 + mlp_layers,
    )
    z_i, z_j = features(7, DIM, seed=11), features(7, DIM, seed=12)
    forward, swapped = classifier(z_i, z_j), classifier(z_j, z_i)
    assert forward.shape == (7, num_classes)
    if num_classes == 3:
        torch.testing.assert_close(swapped[:, 0], forward[:, 0], rtol=1e-12, atol=1e-12)  # P1 unchanged
        torch.testing.assert_close(swapped[:, 1:], forward[:, [2, 1]], rtol=1e-12, atol=1e-12)  # P2 ↔ P3
    else:
        torch.testing.assert_close(swapped, forward[:, [1, 0]], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(forward[:, -1], forward[:, -2])  # the order logits do depend on the order


def test_decoupling_classifier_logits_follow_the_design_formula():
    classifier = randomised(PairClassifier(DIM, 3, heads=HEADS, mlp_layers=2, hidden=5, pair_classifier="symmetric"),
                            seed=13)
    z_i, z_j = features(3, DIM, seed=14), features(3, DIM, seed=15)
    s, a = classifier.relation.parts(z_i, z_j)
    plus, minus = classifier.mlp(torch.cat([s, a], -1)), classifier.mlp(torch.cat([s, -a], -1))
    expected = torch.stack([(plus[:, 0] + minus[:, 0]) / 2, plus[:, 1], minus[:, 1]], dim=1)
    torch.testing.assert_close(classifier(z_i, z_j), expected)


def test_mixed_classifier_is_plain_mlp_and_not_equivariant():
    classifier = randomised(PairClassifier(DIM, 3, attention="mixed", heads=HEADS, mlp_layers=1), seed=16)
    z_i, z_j = features(5, DIM, seed=17), features(5, DIM, seed=18)
    forward = classifier(z_i, z_j)
    torch.testing.assert_close(forward, classifier.mlp(classifier.relation(z_i, z_j)))
    assert not torch.allclose(classifier(z_j, z_i)[:, 1:], forward[:, [2, 1]])


@pytest.mark.parametrize("attention", ["decoupling", "mixed"])
def test_classifier_broadcasts_leading_dimensions(attention):
    classifier = randomised(PairClassifier(DIM, 3, attention=attention, heads=HEADS), seed=19)
    z = features(4, DIM, seed=20)
    grid = classifier(z[:, None], z[None, :])
    assert grid.shape == (4, 4, 3)
    for i, j in itertools.product(range(4), range(4)):
        torch.testing.assert_close(grid[i, j], classifier(z[i : i + 1], z[j : j + 1])[0])


# ---------------------------------------------------------------- clip pairs of CORP_m


@pytest.mark.parametrize("k", [2, 3, 4])
def test_each_video_pair_has_4k2_minus_2k_ordered_clip_pairs(k):
    starts = torch.cat([torch.arange(k) * 10, torch.arange(k) * 7 + 3])
    pairs = pair_labels(starts, torch.arange(2).repeat_interleave(k))
    assert len(pairs.labels) == 4 * k * k - 2 * k
    assert [(pairs.labels == c).sum().item() for c in range(3)] == [2 * k * k, k * (k - 1), k * (k - 1)]


def test_pair_labels_hand_made_example():
    starts = torch.tensor([10, 30, 5, 7])
    video_ids = torch.tensor([0, 0, 1, 1])
    expected = {(0, 1): 1, (1, 0): 2, (2, 3): 1, (3, 2): 2}  # every other pair crosses videos: 0
    pairs = pair_labels(starts, video_ids)
    got = {(int(i), int(j)): int(c) for i, j, c in zip(pairs.first, pairs.second, pairs.labels)}
    assert set(got) == {(i, j) for i in range(4) for j in range(4) if i != j}
    assert got == {pair: expected.get(pair, 0) for pair in got}


def test_video_pair_weights_count_every_clip_pair_of_every_video_pair():
    b, k = 4, 3
    pairs = pair_labels(torch.arange(b * k), torch.arange(b).repeat_interleave(k))
    weights = video_pair_weights(pairs.labels, b)
    assert weights.sum().item() == (b * b - b) / 2 * (4 * k * k - 2 * k)


def test_pair_labels_rejects_equal_starts_in_one_video():
    pair_labels(torch.tensor([5, 5]), torch.tensor([0, 1]))  # different videos: fine
    with pytest.raises(VidsslError, match="starts"):
        pair_labels(torch.tensor([5, 9, 5]), torch.tensor([0, 1, 0]))


# ---------------------------------------------------------------- CORP_m loss


def distinct_starts(b, k, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(40, generator=g)[:k] for _ in range(b)])


def corp_m_loop(z, starts, classifier):
    """§3.2 literally: for each of the (B² − B)/2 video pairs, sum CE over its 4K² − 2K ordered clip pairs; mean."""
    b, k, _ = z.shape
    video_pairs = [(x, y) for x in range(b) for y in range(b) if x < y]
    total = 0.0
    for x, y in video_pairs:
        clips = [(x, c) for c in range(k)] + [(y, c) for c in range(k)]
        ordered = [(p, q) for p in clips for q in clips if p != q]
        assert len(ordered) == 4 * k * k - 2 * k
        for (v1, c1), (v2, c2) in ordered:
            if v1 != v2:
                label = 0
            else:
                label = 1 if starts[v1, c1] < starts[v2, c2] else 2
            logits = classifier(z[v1, c1][None], z[v2, c2][None])[0]
            total += log_softmax_entry(logits, label)
    assert len(video_pairs) == (b * b - b) // 2
    return total / len(video_pairs)


@pytest.mark.parametrize("b, k", list(itertools.product([2, 3, 4], [2, 3])))
def test_corp_m_loss_matches_video_pair_loop(b, k):
    classifier = randomised(PairClassifier(DIM, 3, heads=HEADS, mlp_layers=2, hidden=6), seed=21)
    z = features(b, k, DIM, seed=b * 10 + k)
    starts = distinct_starts(b, k, seed=b + k)
    loss, logs = CorpMLoss()(z, starts, classifier)
    assert loss.item() == pytest.approx(corp_m_loop(z, starts, classifier), rel=1e-10)
    assert set(logs) == {"acc_pair", "acc_order"} and all(isinstance(v, float) for v in logs.values())


def oracle_3way(sign=1.0):
    """A classifier that reads (video id, start) from the features: right (sign 1) or with the order reversed (−1)."""

    def classify(z_i, z_j):
        same = z_i[..., 0] == z_j[..., 0]
        earlier = sign * torch.sign(z_j[..., 1] - z_i[..., 1])
        return 20.0 * torch.stack([(~same).double(), same * (earlier > 0), same * (earlier < 0)], dim=-1)

    return classify


def test_corp_m_logs_accuracies():
    b, k = 3, 3
    starts = distinct_starts(b, k, seed=22)
    z = torch.stack([torch.arange(b).repeat_interleave(k).double(), starts.reshape(-1).double()], -1).view(b, k, 2)
    loss, logs = CorpMLoss()(z, starts, oracle_3way())
    assert logs == {"acc_pair": 1.0, "acc_order": 1.0} and loss.item() < 1e-3
    _, logs = CorpMLoss()(z, starts, oracle_3way(-1.0))
    n_same = b * k * (k - 1)
    assert logs["acc_order"] == 0.0
    assert logs["acc_pair"] == pytest.approx(1 - n_same / (b * k * (b * k - 1)))


def test_corp_m_gradient_reaches_features_and_classifier():
    classifier = PairClassifier(DIM, 3, heads=HEADS)
    z = torch.randn(2, 2, DIM, requires_grad=True)
    loss, _ = CorpMLoss()(z, distinct_starts(2, 2, seed=23), classifier)
    loss.backward()
    assert z.grad.abs().sum() > 0
    assert all(p.grad is not None for p in classifier.parameters())


# ---------------------------------------------------------------- CORP_f loss


def unit(*shape, seed):
    return torch.nn.functional.normalize(features(*shape, seed=seed), dim=-1)


def corp_f_loop(z, starts, classifier, tau, keys, offset):
    """Equation (6) literally: (1/B) Σ over local anchors of −log Prob(¬P1) (eq. 5) − log Prob(order | ¬P1)."""
    b = z.shape[0]
    total = z.new_zeros(())
    for v, c in itertools.product(range(b), range(2)):
        anchor, partner = z[v, c], z[v, 1 - c]
        own = offset + 2 * v + c
        similarities = torch.stack([anchor @ keys[k] / tau for k in range(len(keys)) if k != own])
        total = total + torch.logsumexp(similarities, 0) - anchor @ partner / tau
        order = 0 if starts[v, c] < starts[v, 1 - c] else 1
        total = total - classifier(anchor[None], partner[None])[0].log_softmax(-1)[order]
    return total / b


def test_corp_f_loss_matches_anchor_loop_and_joint_4b_minus_2_way():
    b, tau = 3, 0.1
    classifier = randomised(PairClassifier(DIM, 2, heads=HEADS, mlp_layers=2, hidden=6), seed=24)
    z, starts = unit(b, 2, DIM, seed=25), distinct_starts(b, 2, seed=26)
    loss, logs = CorpFLoss(tau)(z, starts, classifier)
    expected = corp_f_loop(z, starts, classifier, tau, z.reshape(-1, DIM), 0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    assert logs["loss/nce"] + logs["loss/order"] == pytest.approx(loss.item(), rel=1e-10)
    logits, targets = corp_f_joint_logits(z, starts, classifier, temperature=tau)
    assert logits.shape == (2 * b, 4 * b - 2)
    joint = corp_f_joint_loss(z, starts, classifier, temperature=tau)
    assert joint.item() == pytest.approx(loss.item(), abs=1e-5)
    # the target entry of the explicit logits is the partner with the true order
    for a in range(2 * b):
        v, c = divmod(a, 2)
        partner_among_others = 2 * v + 1 - c - (1 if 2 * v + 1 - c > a else 0)
        assert int(targets[a]) == 2 * partner_among_others + int(starts[v, 1 - c] < starts[v, c])


def test_corp_f_joint_logits_entries_are_similarity_plus_order_log_probability():
    b, tau = 2, 0.2
    classifier = randomised(PairClassifier(DIM, 2, heads=HEADS, mlp_layers=1), seed=27)
    z, starts = unit(b, 2, DIM, seed=28), distinct_starts(b, 2, seed=29)
    with torch.no_grad():
        logits, _ = corp_f_joint_logits(z, starts, classifier, temperature=tau)
    flat = z.reshape(-1, DIM)
    for i in range(2 * b):
        others = [k for k in range(2 * b) if k != i]
        for position, k in enumerate(others):
            order_log_prob = classifier(flat[i][None], flat[k][None])[0].log_softmax(-1).detach()
            for o in range(2):
                expected = float(flat[i] @ flat[k] / tau + order_log_prob[o])
                assert float(logits[i, 2 * position + o]) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("local_first", [True, False])
def test_corp_f_with_gathered_negatives_matches_loop_and_backpropagates(local_first):
    b, other_b, tau = 2, 3, 0.1
    classifier = randomised(PairClassifier(DIM, 2, heads=HEADS, mlp_layers=2, hidden=6), seed=30)
    z = unit(b, 2, DIM, seed=31).requires_grad_()
    other = unit(other_b, 2, DIM, seed=32)  # the other process's clips
    starts = distinct_starts(b, 2, seed=33)
    parts = [z.detach().reshape(-1, DIM), other.reshape(-1, DIM)]  # all_gather returns no-grad copies
    negatives = torch.cat(parts if local_first else parts[::-1])
    offset = 0 if local_first else 2 * other_b

    loss, _ = CorpFLoss(tau)(z, starts, classifier, negatives=negatives, offset=offset)
    (grad,) = torch.autograd.grad(loss, z)

    keys_parts = [z.reshape(-1, DIM), other.reshape(-1, DIM)]
    keys = torch.cat(keys_parts if local_first else keys_parts[::-1])
    expected = corp_f_loop(z, starts, classifier, tau, keys, offset)
    (expected_grad,) = torch.autograd.grad(expected, z)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-8, atol=1e-10)
    assert grad.abs().sum() > 0

    logits, _ = corp_f_joint_logits(z, starts, classifier, temperature=tau, negatives=negatives, offset=offset)
    assert logits.shape == (2 * b, 4 * (b + other_b) - 2)
    joint = corp_f_joint_loss(z, starts, classifier, temperature=tau, negatives=negatives, offset=offset)
    assert joint.item() == pytest.approx(loss.item(), abs=1e-5)


def test_corp_f_default_negatives_are_the_local_clips():
    classifier = PairClassifier(DIM, 2, heads=HEADS).double()
    z, starts = unit(3, 2, DIM, seed=34), distinct_starts(3, 2, seed=35)
    alone, _ = CorpFLoss()(z, starts, classifier)
    explicit, _ = CorpFLoss()(z, starts, classifier, negatives=z.reshape(-1, DIM), offset=0)
    assert alone.item() == pytest.approx(explicit.item(), rel=1e-12)


def test_corp_f_logs_accuracies():
    # video v's clips are (nearly) one direction of their own; feature 0 carries the start for an oracle classifier
    b = 3
    starts = torch.tensor([[5, 20], [30, 2], [8, 9]])
    z = torch.zeros(b, 2, 2 + b, dtype=torch.float64)
    z[..., 0] = starts.double() / 100
    z[..., 1] = 0.1
    for v in range(b):
        z[v, :, 2 + v] = 1.0
    z = torch.nn.functional.normalize(z, dim=-1)

    def order_oracle(z_i, z_j):
        return 10.0 * torch.stack([(z_i[..., 0] < z_j[..., 0]).double(), (z_j[..., 0] < z_i[..., 0]).double()], -1)

    _, logs = CorpFLoss()(z, starts, order_oracle)
    assert logs["acc_contrast"] == 1.0 and logs["acc_order"] == 1.0
    _, logs = CorpFLoss()(z, starts, lambda z_i, z_j: order_oracle(z_j, z_i))
    assert logs["acc_order"] == 0.0


# ---------------------------------------------------------------- bad arguments


def two_way():
    return PairClassifier(DIM, 2, heads=HEADS)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MixedAttention(0, 4),
        lambda: MixedAttention(8, -1),
        lambda: DecouplingAttention(8, 3),
        lambda: DecouplingAttention(8, 0),
        lambda: PairClassifier(8, 4, heads=4),
        lambda: PairClassifier(8, 3, attention="cross", heads=4),
        lambda: PairClassifier(8, 3, heads=4, mlp_layers=3),
        lambda: PairClassifier(8, 3, heads=4, hidden=0),
        lambda: PairClassifier(8, True, heads=4),
        lambda: CorpFLoss(temperature=0.0),
        lambda: CorpFLoss(temperature=float("nan")),
    ],
)
def test_bad_constructor_arguments_raise(build):
    with pytest.raises(VidsslError):
        build()


def test_bad_inputs_raise():
    three_way = PairClassifier(DIM, 3, heads=HEADS)
    with pytest.raises(VidsslError, match="input"):
        MixedAttention(DIM, HEADS)(torch.randn(2, DIM), torch.randn(2, DIM + 1))
    with pytest.raises(VidsslError, match="B >= 2"):
        CorpMLoss()(torch.randn(1, 3, DIM), torch.tensor([[1, 2, 3]]), three_way)
    with pytest.raises(VidsslError, match="starts"):
        CorpMLoss()(torch.randn(2, 3, DIM), torch.zeros(2, 2), three_way)
    with pytest.raises(VidsslError, match="starts"):
        CorpMLoss()(torch.randn(2, 2, DIM), torch.tensor([[1, 1], [2, 3]]), three_way)
    with pytest.raises(VidsslError, match="classifier output"):
        CorpMLoss()(torch.randn(2, 2, DIM), torch.tensor([[1, 2], [2, 3]]), two_way())
    z, starts = torch.randn(2, 2, DIM), torch.tensor([[1, 2], [4, 3]])
    with pytest.raises(VidsslError, match="2 clips"):
        CorpFLoss()(torch.randn(2, 3, DIM), torch.zeros(2, 3), two_way())
    with pytest.raises(VidsslError, match="starts"):
        CorpFLoss()(z, torch.tensor([[1, 1], [4, 3]]), two_way())
    with pytest.raises(VidsslError, match="offset"):
        CorpFLoss()(z, starts, two_way(), negatives=torch.randn(6, DIM), offset=3)
    with pytest.raises(VidsslError, match="offset"):
        CorpFLoss()(z, starts, two_way(), offset=2)
    with pytest.raises(VidsslError, match="negatives"):
        CorpFLoss()(z, starts, two_way(), negatives=torch.randn(6, DIM + 1))
    with pytest.raises(VidsslError, match="classifier output"):
        CorpFLoss()(z, starts, three_way)


# ------------------------------------------------- Table 6a ablations, SimCLR


def corp_m_task_loop(z, starts, classifier, task):
    """The 2-way ablations of Table 6a literally, per video pair: "order" sums −log softmax(P2, P3)[true] over
    same-video clip pairs; "contrast" sums −log softmax(P1, log(e^P2 + e^P3))[same?] over all clip pairs."""
    b, k, _ = z.shape
    video_pairs = [(x, y) for x in range(b) for y in range(x + 1, b)]
    total = 0.0
    for x, y in video_pairs:
        clips = [(x, c) for c in range(k)] + [(y, c) for c in range(k)]
        for (v1, c1), (v2, c2) in [(p, q) for p in clips for q in clips if p != q]:
            logits = classifier(z[v1, c1][None], z[v2, c2][None])[0]
            if task == "order":
                if v1 == v2:
                    total += log_softmax_entry(logits[1:], 0 if starts[v1, c1] < starts[v2, c2] else 1)
            else:
                two_way = torch.stack([logits[0], torch.logsumexp(logits[1:], dim=0)])
                total += log_softmax_entry(two_way, int(v1 == v2))
    return total / len(video_pairs)


@pytest.mark.parametrize("task", ["order", "contrast"])
@pytest.mark.parametrize("b, k", [(2, 2), (3, 3), (4, 2)])
def test_corp_m_ablation_tasks_match_their_loops(task, b, k):
    classifier = randomised(PairClassifier(DIM, 3, heads=HEADS, mlp_layers=2, hidden=6), seed=5)
    z = features(b, k, DIM, seed=b + 7 * k)
    starts = distinct_starts(b, k, seed=3 * b + k)
    loss, _ = CorpMLoss(task)(z, starts, classifier)
    assert loss.item() == pytest.approx(corp_m_task_loop(z, starts, classifier, task), rel=1e-10)
    with pytest.raises(VidsslError, match="^task: expected one of corp, order, contrast, got 'rank'$"):
        CorpMLoss("rank")


def test_corp_f_without_a_classifier_is_infonce_alone_the_simclr_baseline():
    z = torch.nn.functional.normalize(features(3, 2, DIM, seed=9), dim=-1)
    starts = distinct_starts(3, 2, seed=9)
    classifier = randomised(PairClassifier(DIM, 2, heads=HEADS, mlp_layers=1, hidden=6), seed=2)
    loss, logs = CorpFLoss(0.1)(z, starts, None)
    full, full_logs = CorpFLoss(0.1)(z, starts, classifier)
    assert set(logs) == {"loss/nce", "acc_contrast"}
    assert loss.item() == pytest.approx(full_logs["loss/nce"], rel=1e-12)
    anchors = z.reshape(6, DIM)
    expected = 0.0
    for i in range(6):
        sims = torch.stack([anchors[i] @ anchors[k] / 0.1 for k in range(6) if k != i])
        partner = (i ^ 1) - ((i ^ 1) > i)
        expected -= torch.log_softmax(sims, 0)[partner].item()
    assert loss.item() == pytest.approx(expected / 3, rel=1e-10)
