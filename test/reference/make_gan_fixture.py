#!/usr/bin/env python3
"""Reference values for the GAN step (test/gan-step.test.ts), computed with PyTorch autograd.

The conditional critic D(feat, cond) = fc2(leaky_relu(fc1([feat | cond]), 0.2)) and generator
G(noise, cond) = fc2(leaky_relu(fc1([noise | cond]), 0.2)) at small sizes (feature 16, condition 16,
hidden = feature size as in BioFEG, where every size is the encoder's 768). Written for this repo;
it follows BioFEG's train_gan.py semantics:

  critic:    loss_D = mean D(fake, c) - mean D(real, c) + lambda * mean((||dD(x, c)/dx||_2 - 1)^2)
             with x = alpha * real + (1 - alpha) * fake per row and the inner gradient taken with
             create_graph=True, so the penalty's gradient reaches D's weights and the condition c.
  generator: loss_G = -mean D(relu(G(z, c)), c) + w * mse(relu(G(z, c)), real)

Everything is computed in float64 from float32-representable inputs. Writes
test/fixtures/gan/step.json. Run: python3 test/reference/make_gan_fixture.py
"""
import json
import os

import torch
import torch.nn.functional as F

B, FEAT, COND, NOISE, HID = 6, 16, 16, 16, 16
LAMBDA, SLOPE, MSE_W = 10.0, 0.2, 0.5


def f32(t):
    # Round to float32 and back so our f32 engine sees exactly these inputs.
    return t.float().double()


def linear(gen, fan_in, fan_out):
    # PyTorch's default nn.Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    bound = 1.0 / fan_in ** 0.5
    w = (torch.rand(fan_out, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    b = (torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    return f32(w).requires_grad_(), f32(b).requires_grad_()


def mlp(p, x):
    h = F.linear(x, p['fc1.weight'], p['fc1.bias'])
    return F.linear(F.leaky_relu(h, SLOPE), p['fc2.weight'], p['fc2.bias'])


def critic(d, feat, cond):
    return mlp(d, torch.cat([feat, cond], dim=-1)).squeeze(-1)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(20231207)
    d = dict(zip(['fc1.weight', 'fc1.bias'], linear(gen, FEAT + COND, HID)))
    d.update(zip(['fc2.weight', 'fc2.bias'], linear(gen, HID, 1)))
    g = dict(zip(['fc1.weight', 'fc1.bias'], linear(gen, NOISE + COND, HID)))
    g.update(zip(['fc2.weight', 'fc2.bias'], linear(gen, HID, FEAT)))

    real = f32(torch.relu(torch.randn(B, FEAT, generator=gen, dtype=torch.float64)))
    fake = f32(torch.relu(torch.randn(B, FEAT, generator=gen, dtype=torch.float64)))
    cond = f32(torch.randn(B, COND, generator=gen, dtype=torch.float64)).requires_grad_()
    alpha = f32(torch.rand(B, generator=gen, dtype=torch.float64))
    noise = f32(torch.randn(B, NOISE, generator=gen, dtype=torch.float64))

    # Critic loss, split in its Wasserstein part and the penalty so each can be checked alone.
    w_real = critic(d, real, cond).mean()
    w_fake = critic(d, fake, cond).mean()
    x = (alpha[:, None] * real + (1 - alpha[:, None]) * fake).detach().requires_grad_()
    out = critic(d, x, cond)
    (gx,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True)
    norms = gx.norm(2, dim=1)
    gp = ((norms - 1) ** 2).mean() * LAMBDA
    loss_d = w_fake - w_real + gp

    names = list(d)
    grads_gp = torch.autograd.grad(gp, [d[n] for n in names] + [cond], retain_graph=True, allow_unused=True)
    grads_d = torch.autograd.grad(loss_d, [d[n] for n in names] + [cond], retain_graph=True)
    zero = lambda t, ref: torch.zeros_like(ref) if t is None else t  # noqa: E731

    # Generator loss: D is fixed, the condition is a constant for G (BioFEG detaches it).
    c_g = cond.detach()
    fake_g = torch.relu(mlp(g, torch.cat([noise, c_g], dim=-1)))
    loss_g = -critic(d, fake_g, c_g).mean() + MSE_W * F.mse_loss(fake_g, real)
    gnames = list(g)
    grads_g = torch.autograd.grad(loss_g, [g[n] for n in gnames])

    fixture = {
        'torch': torch.__version__,
        'sizes': {'batch': B, 'feat': FEAT, 'cond': COND, 'noise': NOISE, 'hidden': HID},
        'lambda': LAMBDA, 'slope': SLOPE, 'mseWeight': MSE_W,
        'discriminator': {n: {'shape': list(d[n].shape), 'data': flat(d[n])} for n in names},
        'generator': {n: {'shape': list(g[n].shape), 'data': flat(g[n])} for n in gnames},
        'inputs': {'real': flat(real), 'fake': flat(fake), 'cond': flat(cond), 'alpha': flat(alpha), 'noise': flat(noise)},
        'critic': {
            'wReal': w_real.item(), 'wFake': w_fake.item(), 'penalty': gp.item(), 'loss': loss_d.item(),
            'norms': flat(norms),
            'gradPenalty': {n: flat(zero(t, d[n])) for n, t in zip(names, grads_gp[:-1])},
            'gradPenaltyCond': flat(zero(grads_gp[-1], cond)),
            'grad': {n: flat(t) for n, t in zip(names, grads_d[:-1])},
            'gradCond': flat(grads_d[-1]),
        },
        'generatorStep': {
            'loss': loss_g.item(), 'fake': flat(fake_g),
            'grad': {n: flat(t) for n, t in zip(gnames, grads_g)},
        },
    }
    out = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'gan', 'step.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as fh:
        json.dump(fixture, fh)
        fh.write('\n')
    pc = fixture['critic']['gradPenaltyCond']
    print(f'wrote {out}: loss_D {loss_d.item():.6f} (penalty {gp.item():.6f}), loss_G {loss_g.item():.6f}, '
          f'max |dGP/dcond| {max(abs(v) for v in pc):.3g}')


if __name__ == '__main__':
    main()
