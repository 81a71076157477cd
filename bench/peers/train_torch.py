"""PyTorch peer of one jkonet-star training step (jkonet-gpu bench).

Usage: train_torch.py DIR, where DIR holds args.json ({"d", "hidden",
"samples", "lr", "clip", "threads", "warmup", "steps"}) and, as little-endian
float64: params.f64 (the Go model's flat parameters [V | U | beta], each
network laid out as [W1 (in x hidden) | b1 | W2 (hidden x hidden) | b2 |
W3 (hidden x 1) | b3], matrices row-major, z = p W + b), x.f64, y.f64 and
score.f64 (the batch's B x d sources, targets and density scores), w.f64 and
tau.f64 (B pair weights and time steps), others0.f64 and others1.f64 (the two
independent interaction subsamples, B x samples x d).

The model is jkonet-star in float64: V and U are MLPs d -> hidden -> hidden -> 1
with softplus activations, beta a scalar. For subsample set a the residual is

    r_a = tau [grad V(y) + beta s + mean_s grad U(y - y'_{a,s})] + (y - x)

with the input gradients from torch.autograd.grad(..., create_graph=True),
and the loss L = sum w <r_0, r_1> / sum w. One step is what jkonet-gpu's cpu
backend does: loss, backward, clip_grad_norm_ per network (V, U, beta), Adam.

Runs warmup + steps steps on this batch with torch.set_num_threads(threads)
and prints one JSON object: {"loss", "grad" (the first step's loss and
gradient before clipping, flat in the Go layout), "seconds" (the time of each
timed step), "threads"}.
"""
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

# Past this input softplus(z) = z and sigmoid(z) = 1 to float64 precision, as
# in the Go networks (torch's default threshold, 20, is not).
SOFTPLUS_THRESHOLD = 40.0


def mlp(d, hidden):
    return nn.Sequential(
        nn.Linear(d, hidden), nn.Softplus(threshold=SOFTPLUS_THRESHOLD),
        nn.Linear(hidden, hidden), nn.Softplus(threshold=SOFTPLUS_THRESHOLD),
        nn.Linear(hidden, 1),
    ).double()


def linears(net):
    return [layer for layer in net if isinstance(layer, nn.Linear)]


def load(net, flat, offset):
    """Copies the Go layout at flat[offset:] into net; returns the next offset."""
    with torch.no_grad():
        for layer in linears(net):
            fan_out, fan_in = layer.weight.shape
            w = flat[offset:offset + fan_in * fan_out].view(fan_in, fan_out)
            layer.weight.copy_(w.t())
            offset += fan_in * fan_out
            layer.bias.copy_(flat[offset:offset + fan_out])
            offset += fan_out
    return offset


def flat_grad(net):
    """The gradient of net in the Go layout (zeros where torch has none)."""
    def grad(p):
        return torch.zeros_like(p) if p.grad is None else p.grad

    parts = []
    for layer in linears(net):
        parts += [grad(layer.weight).t().reshape(-1), grad(layer.bias)]
    return torch.cat(parts)


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "args.json")) as f:
        args = json.load(f)
    torch.set_num_threads(args["threads"])
    d, hidden, samples = args["d"], args["hidden"], args["samples"]

    def array(name, *shape):
        a = np.fromfile(os.path.join(folder, name + ".f64"), dtype="<f8")
        return torch.from_numpy(a).reshape(*shape)

    params = array("params", -1)
    x, y, score = array("x", -1, d), array("y", -1, d), array("score", -1, d)
    w, tau = array("w", -1), array("tau", -1, 1)
    pairs = w.shape[0]
    others = torch.stack([array("others0", pairs, samples, d), array("others1", pairs, samples, d)])

    potential, interaction = mlp(d, hidden), mlp(d, hidden)
    offset = load(interaction, params, load(potential, params, 0))
    beta = nn.Parameter(params[offset].clone())
    optimiser = torch.optim.Adam(
        [*potential.parameters(), *interaction.parameters(), beta], lr=args["lr"])
    displacement = y - x

    def step(keep_grad=False):
        optimiser.zero_grad(set_to_none=True)
        y_in = y.detach().requires_grad_()
        grad_v, = torch.autograd.grad(potential(y_in).sum(), y_in, create_graph=True)
        diff = (y[None, :, None, :] - others).reshape(-1, d).requires_grad_()
        grad_u, = torch.autograd.grad(interaction(diff).sum(), diff, create_graph=True)
        mean_u = grad_u.view(2, pairs, samples, d).mean(2)
        r = tau * (grad_v + beta * score + mean_u) + displacement
        loss = (w * (r[0] * r[1]).sum(1)).sum() / w.sum()
        loss.backward()
        grad = None
        if keep_grad:
            grad = torch.cat([flat_grad(potential), flat_grad(interaction), beta.grad.view(1)])
        for group in (potential.parameters(), interaction.parameters(), [beta]):
            nn.utils.clip_grad_norm_(group, args["clip"])
        optimiser.step()
        return loss.item(), grad

    first_loss, first_grad = step(keep_grad=True)
    for _ in range(args["warmup"] - 1):
        step()
    seconds = []
    for _ in range(args["steps"]):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({
        "loss": first_loss,
        "grad": first_grad.tolist(),
        "seconds": seconds,
        "threads": torch.get_num_threads(),
    }))


main()
