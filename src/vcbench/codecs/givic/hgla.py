"""HGLA: gated linear attention (Yang et al. 2023, "Gated Linear Attention Transformers with
Hardware-Efficient Training") whose state runs along two axes of GIViC's token pyramid.

GLA, per head: a d_k x d_v state with a data-dependent decay per key dimension,

    S_t = diag(a_t) S_{t-1} + k_t^T v_t,    o_t = d_k^-1/2 q_t S_t,    a_t = exp(g_t),
    g_t = logsigmoid(W_g x_t + b_g) / 16      (GLA's gate, with its temperature 16)

in three interchangeable forms: :func:`gla_recurrent` (the loop above, the reference),
:func:`gla_chunked` (Yang et al.'s chunk form: causal attention with relative decays inside a
chunk, the state passed between chunks; linear in the sequence length) and, on CUDA when the
optional flash-linear-attention package (``fla``) is importable, its ``chunk_gla`` Triton kernel
(not exercised here: this machine has no GPU; same layout, log decays and initial/final states
as ours). :func:`gla` picks the fastest available; all give the same result to float32 rounding
(tests check recurrent against chunked to 1e-5). A file decoded on a GPU with fla may therefore
differ from a CPU decode in the last bits, as any cross-device decode.

The hierarchy (what makes it HGLA): a token is a sequence of patches, and its GLA starts from a
*carried* state instead of zeros,

    C(k, n) = gamma_seq  * E(k, n - 1)   [unless n is a multiple of the context length L]
            + gamma_scale * E(k - 1, n // 8)

where E(k, n) is the state a block ends token n of level k with (its clean, decoded content),
n // 8 is the parent token one level coarser (tokens are in Morton order, see ``pyramid.py``)
and the gates gamma in (0, 1)^(heads x d_k) scale the rows (key dimensions) of each state. The
gates are learned and data-dependent: a sigmoid of a per-level bias plus a linear function of the
token's conditioning (the mean of the upsampled coarser level over the token), which the decoder
has before it samples the token, so every denoising step and the final clean pass of a token
start from the same carried state. State thus flows along the sequence axis (the tokens of a
level, in order, restarting every L tokens) and along the scale axis (parent to children).
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn
from torch.nn import functional as F

GATE_TEMPERATURE = 16.0  # GLA's normaliser of the log decay: decays stay near 1, the state remembers long

_FLA = importlib.util.find_spec("fla") is not None
FLA_MIN_HEAD = 16


def _fla_chunk_gla():
    from fla.ops.gla import chunk_gla  # optional: flash-linear-attention's Triton kernel

    return chunk_gla


def gla_recurrent(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
                  state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """GLA step by step. q, k, g: (B, T, H, K); v: (B, T, H, V); state: (B, H, K, V) or None (zeros).
    Returns the outputs (B, T, H, V) and the final state."""
    batch, length, heads, dk = q.shape
    s = q.new_zeros(batch, heads, dk, v.shape[-1]) if state is None else state
    scale = dk**-0.5
    outputs = []
    for t in range(length):
        s = s * g[:, t].exp().unsqueeze(-1) + k[:, t].unsqueeze(-1) * v[:, t].unsqueeze(-2)
        outputs.append(torch.einsum("bhk,bhkv->bhv", q[:, t] * scale, s))
    return torch.stack(outputs, dim=1), s


def gla_chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, state: torch.Tensor | None = None,
                chunk: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """GLA in chunks of ``chunk`` positions: inside a chunk the outputs are a causal attention whose
    scores carry the decay between the two positions, exp(b_i - b_j) with b the cumulative log
    decay (never above 1: stable without the paper's secondary chunking); the state enters each
    chunk decayed and leaves it updated. Same arguments and results as :func:`gla_recurrent`."""
    batch, length, heads, dk = q.shape
    dv = v.shape[-1]
    s = q.new_zeros(batch, heads, dk, dv) if state is None else state
    pad = -length % chunk
    if pad:  # padded positions decay by 1 and add nothing: the state and the real outputs are unchanged
        q, k, v, g = (F.pad(x, (0, 0, 0, 0, 0, pad)) for x in (q, k, v, g))
    chunks = q.shape[1] // chunk

    def split(x: torch.Tensor) -> torch.Tensor:  # (B, N*C, H, D) -> (B, H, N, C, D)
        return x.reshape(batch, chunks, chunk, heads, x.shape[-1]).permute(0, 3, 1, 2, 4)

    q, k, v, g = split(q) * dk**-0.5, split(k), split(v), split(g)
    b = g.cumsum(dim=3)  # (B, H, N, C, K) cumulative log decay inside each chunk
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
    relative = (b.unsqueeze(4) - b.unsqueeze(3)).masked_fill(~causal[:, :, None], float("-inf")).exp()  # (B,H,N,C,C,K)
    scores = torch.einsum("bhnik,bhnjk,bhnijk->bhnij", q, k, relative)
    intra = scores @ v  # (B, H, N, C, V)
    q_in = q * b.exp()  # the state as it enters the chunk, decayed to each position
    k_out = k * (b[:, :, :, -1:] - b).exp()  # each position's contribution decayed to the chunk's end
    decay_out = b[:, :, :, -1].exp()  # (B, H, N, K)
    outputs = []
    for n in range(chunks):
        outputs.append(intra[:, :, n] + q_in[:, :, n] @ s)
        s = s * decay_out[:, :, n].unsqueeze(-1) + k_out[:, :, n].transpose(-1, -2) @ v[:, :, n]
    o = torch.stack(outputs, dim=2).permute(0, 2, 3, 1, 4).reshape(batch, chunks * chunk, heads, dv)
    return o[:, :length], s


def gla(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor,
        state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """GLA in its fastest available form: fla's kernel on CUDA when installed (and the heads are at
    least 16 wide, the smallest tile of Triton's matrix products), else :func:`gla_chunked`."""
    if _FLA and q.is_cuda and min(q.shape[-1], v.shape[-1]) >= FLA_MIN_HEAD:
        o, final = _fla_chunk_gla()(q, k, v, g, scale=q.shape[-1] ** -0.5, initial_state=state, output_final_state=True)
        return o, final
    return gla_chunked(q, k, v, g, state)


class GlaLayer(nn.Module):
    """One GLA token mixer: projections, the data-dependent decay, the per-head normalised output
    with GLA's swish output gate, and the output projection."""

    def __init__(self, width: int, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.q = nn.Linear(width, inner, bias=False)
        self.k = nn.Linear(width, inner, bias=False)
        self.v = nn.Linear(width, inner, bias=False)
        self.g = nn.Linear(width, inner)
        self.r = nn.Linear(width, inner, bias=False)
        self.o = nn.Linear(inner, width, bias=False)

    def forward(self, x: torch.Tensor, state: torch.Tensor, form=gla) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, P, width); state: (B, H, d_k, d_v). Returns (B, P, width) and the final state."""
        batch, length, _ = x.shape
        shape = (batch, length, self.heads, self.head_dim)
        q, k, v = self.q(x).view(shape), self.k(x).view(shape), self.v(x).view(shape)
        g = F.logsigmoid(self.g(x)).view(shape) / GATE_TEMPERATURE
        o, final = form(q, k, v, g, state)
        o = F.layer_norm(o, (self.head_dim,))  # per head, as GLA's group norm
        return self.o(o.reshape(batch, length, -1) * F.silu(self.r(x))), final


class CarryGates(nn.Module):
    """The learned gates of the sequence and scale axes of one block (module docstring)."""

    def __init__(self, heads: int, head_dim: int, levels: int, descriptor: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.bias = nn.Parameter(torch.zeros(levels, 2 * heads * head_dim))
        self.weight = nn.Linear(descriptor, 2 * heads * head_dim, bias=False)

    def forward(self, level: torch.Tensor, descriptor: torch.Tensor, previous: torch.Tensor, parent: torch.Tensor) -> torch.Tensor:
        """The carried state (B, H, d_k, d_v) of B tokens: ``level`` (B,) 0-based, ``descriptor`` (B, D),
        ``previous`` and ``parent`` the states E of the previous and the parent token (zeros where
        there is none: the first token of a context window, the coarsest level)."""
        gates = torch.sigmoid(self.bias[level] + self.weight(descriptor)).view(-1, 2, self.heads, self.head_dim, 1)
        return gates[:, 0] * previous + gates[:, 1] * parent
