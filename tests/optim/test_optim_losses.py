import pytest
import torch as th

from reled_sumo.optim import losses


def test_masked_logits_never_matter():
    th.manual_seed(0)
    logits = th.randn(6, 4, requires_grad=True)
    masks = th.tensor([[1, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 0, 0]]).bool()
    actions = th.tensor([1, 3, 3, 2, 1, 0])
    log_prob, entropy = losses.masked_log_prob_entropy(logits, masks, actions)
    (log_prob.sum() + entropy.sum()).backward()
    assert th.all(logits.grad[~masks] == 0)

    changed = logits.detach().clone()
    changed[~masks] = th.tensor([1e4, -1e4, 50.0]).repeat(20)[: int((~masks).sum())]
    log_prob2, entropy2 = losses.masked_log_prob_entropy(changed, masks, actions)
    th.testing.assert_close(log_prob2, log_prob.detach())
    th.testing.assert_close(entropy2, entropy.detach())
    assert entropy[2] == 0 and entropy[5] == 0  # single allowed action


def test_masked_expert_action_raises():
    masks = th.tensor([[1, 0, 1], [1, 1, 0]]).bool()
    losses.check_expert_actions(th.tensor([0, 1]), masks)
    with pytest.raises(ValueError, match="forbidden"):
        losses.check_expert_actions(th.tensor([1, 1]), masks)


def test_ppo_clip_loss_and_kl():
    old = th.log(th.tensor([0.5, 0.5, 0.5]))
    new = th.log(th.tensor([0.9, 0.5, 0.2]))
    adv = th.tensor([1.0, 1.0, -1.0])
    loss, clip_fraction = losses.ppo_clip_loss(new, old, adv, clip_range=0.2)
    # ratios 1.8, 1.0, 0.4 -> min terms 1.2, 1.0, -0.8
    assert loss.item() == pytest.approx(-(1.2 + 1.0 - 0.8) / 3)
    assert clip_fraction.item() == pytest.approx(2 / 3)
    assert losses.approx_kl(old, old).item() == 0.0
    assert losses.approx_kl(new, old).item() > 0


def test_value_and_entropy_losses():
    v, r, old = th.tensor([1.0, 3.0]), th.tensor([2.0, 0.0]), th.tensor([0.0, 0.0])
    assert losses.value_loss(v, r).item() == pytest.approx((1 + 9) / 2)
    # clipped to old +- 0.5 -> [0.5, 0.5]
    assert losses.value_loss(v, r, old, 0.5).item() == pytest.approx((1.5**2 + 0.5**2) / 2)
    assert losses.entropy_loss(th.tensor([1.0, 2.0])).item() == -1.5


def test_expert_reductions():
    nll = th.tensor([1.0, 3.0, 5.0])  # agent 0 has two samples, agent 1 one
    log_prob = -nll
    idx = th.tensor([0, 0, 1])
    w = th.tensor([1.0, 0.5, 9.0])  # agent 2 has no samples
    agent = losses.expert_nll_loss(log_prob, idx, w, "agent")
    assert agent.item() == pytest.approx((1.0 * 2.0 + 0.5 * 5.0) / 2)
    sample = losses.expert_nll_loss(log_prob, idx, w, "sample")
    assert sample.item() == pytest.approx((1.0 + 3.0 + 0.5 * 5.0) / 3)
    assert losses.expert_nll_loss(log_prob, idx, th.zeros(3)).item() == 0.0


def test_expert_clipped_loss_stops_pushing_past_clip():
    old = th.log(th.tensor([0.2, 0.2]))
    new = th.log(th.tensor([0.2, 0.5])).requires_grad_()
    loss = losses.expert_clipped_loss(new, old, th.tensor([0, 1]), th.ones(2), clip_range=0.2)
    loss.backward()
    assert new.grad[0] < 0 and new.grad[1] == 0  # second ratio 2.5 > 1.2: no more gradient
