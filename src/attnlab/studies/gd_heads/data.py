"""The tokenized-mixture task (brief §5b; generator *recollection/reconstruction*).

One example: y ~ Unif{+-1}; k = round(zeta T) relevant positions R (uniform, or the first k); for t in R
x_t = mu_y + z_t, else x_t = nu_{j_t} + z_t with j_t ~ Unif[M]; z_t ~ N(0, sigma^2 I_d) (or clipped to norm
<= 2 sigma sqrt(d) with noise="truncated").  Means: mu_+ = S e_1, mu_- = S e_2 (antipodal: -S e_1),
nu_j = S' e_{2+j}.  All draws come from one torch.Generator (from attnlab.rng), so a dataset is a function of its key.
"""
from __future__ import annotations

import dataclasses
import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class MixtureSpec:
    """The tokenized-mixture data: T tokens of dimension d; k = round(zeta T) label-relevant tokens carry the
    class mean mu_y (norm S; mu_- = -mu_+ when ``antipodal``), the others one of M noise means (norm S_noise),
    plus Gaussian (or truncated) noise of scale sigma; the means are orthogonal (see ``means``)."""

    T: int = 8
    d: int = 16
    zeta: float = 0.25
    M: int = 4
    S: float = 1.0
    S_noise: float = 1.0
    sigma: float = 0.1
    antipodal: bool = False
    fixed_positions: bool = False
    noise: str = "gaussian"

    @property
    def k(self) -> int:
        return int(round(self.zeta * self.T))

    @classmethod
    def from_config(cls, config, **changes) -> "MixtureSpec":
        names = [f.name for f in dataclasses.fields(cls)]
        values = {n: getattr(config, n) for n in names}
        values.update(changes)
        return cls(**values)


def means(spec: MixtureSpec, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """mu_+ (d,), mu_- (d,), nu (M, d): orthogonal means (brief §5b)."""
    eye = torch.eye(spec.d, dtype=dtype)
    mu_p = spec.S * eye[0]
    mu_m = -mu_p if spec.antipodal else spec.S * eye[1]
    nu = spec.S_noise * eye[2:2 + spec.M]
    return mu_p, mu_m, nu


def sample(spec: MixtureSpec, n: int, generator: torch.Generator, dtype=torch.float64, device="cpu"):
    """n iid examples: X (n, T, d), y (n,) in {-1, +1}, relevant (n, T) bool.  Fully vectorized."""
    T, d, k = spec.T, spec.d, spec.k
    mu_p, mu_m, nu = means(spec, dtype)
    y = torch.randint(0, 2, (n,), generator=generator) * 2 - 1                       # (n,)
    if spec.fixed_positions:
        relevant = (torch.arange(T) < k).expand(n, T).clone()
    else:
        ranks = torch.rand(n, T, generator=generator).argsort(dim=1).argsort(dim=1)  # random permutation ranks
        relevant = ranks < k                                                           # (n, T), k True per row
    j = torch.randint(0, spec.M, (n, T), generator=generator)                          # noise cluster ids
    z = torch.randn(n, T, d, generator=generator, dtype=dtype) * spec.sigma
    if spec.noise == "truncated" and spec.sigma > 0:
        cap = 2.0 * spec.sigma * np.sqrt(d)
        norm = z.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        z = z * torch.clamp(cap / norm, max=1.0)
    signal = torch.where((y > 0)[:, None], mu_p[None, :], mu_m[None, :])              # (n, d)
    X = torch.where(relevant[..., None], signal[:, None, :], nu[j]) + z                # (n, T, d)
    return X.to(device), y.to(dtype).to(device), relevant.to(device)
