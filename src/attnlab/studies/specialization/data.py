"""The task: single-location multi-index regression in dimension D [reconstruction, brief section 2.2].

Teacher (fixed coordinate basis, which is no loss of generality for isotropic Gaussian tokens and an
isotropic random student initialisation):

* key directions  k*_f = sqrt(D) e_f,           f = 0..F-1    (k*_f . k*_g / D = delta_fg)
* value direction v*   = sqrt(D) e_F            (value_mode "shared")
  or v*_f = sqrt(D) e_{F+f}, v*(theta) = sum_f theta_f v*_f   (value_mode "theta")

So the teacher's local fields are plain coordinates: chi*_{l,f} = x_l . k*_f / sqrt(D) = x_l[f].

Per sample: theta ~ P_theta (in R^F), location eps, tokens x_l ~ N(0, I_D) and

* spiked law [predecessor, Duranthon et al.]:  eps ~ Uniform{0..L-1},  x_eps += sqrt(nu/D) k^(theta)
  i.e. x_eps[:F] += sqrt(nu) theta;
* max law:  X ~ N(0, I)^L and eps ~ Categorical(softmax_l(nu * theta . x_l[:F]))   (the max-SLR of
  Duranthon et al., g = L e^{nu chi_eps} / sum_l e^{nu chi_l}, with chi = theta . chi*).

Label: y = x_eps . v*(theta) / sqrt(D) + noise * zeta,  zeta ~ N(0, 1).
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ...errors import ConfigError

PRIOR_KINDS = ("flipped", "gaussian", "discrete")


@dataclasses.dataclass(frozen=True)
class Prior:
    """P_theta on R^F [reconstruction, brief 2.2].

    flipped:  theta = mu + s * delta, s = +1 w.p. p else -1
    gaussian: theta ~ N(mu, diag(sigma^2))
    discrete: theta = points[j] w.p. weights[j]
    """

    kind: str
    mu: tuple[float, ...] = ()
    delta: tuple[float, ...] = ()
    p: float = 0.5
    sigma: tuple[float, ...] = ()
    points: tuple[tuple[float, ...], ...] = ()
    weights: tuple[float, ...] = ()

    # ---- constructors -------------------------------------------------------------------------------
    @classmethod
    def flipped(cls, mu, delta, p: float = 0.5) -> "Prior":
        mu, delta = tuple(map(float, mu)), tuple(map(float, delta))
        if len(mu) != len(delta):
            raise ConfigError("theta_delta", f"needs as many entries as theta_mu ({len(mu)}), got {len(delta)}")
        if not 0.0 < p < 1.0:
            raise ConfigError("theta_p", f"must lie in (0, 1), got {p}")
        return cls("flipped", mu=mu, delta=delta, p=float(p))

    @classmethod
    def gaussian(cls, mu, sigma) -> "Prior":
        mu, sigma = tuple(map(float, mu)), tuple(map(float, sigma))
        if len(mu) != len(sigma):
            raise ConfigError("theta_sigma", f"needs as many entries as theta_mu ({len(mu)}), got {len(sigma)}")
        if any(s <= 0 for s in sigma):
            raise ConfigError("theta_sigma", f"must be positive, got {sigma}")
        return cls("gaussian", mu=mu, sigma=sigma)

    @classmethod
    def discrete(cls, points, weights) -> "Prior":
        points = tuple(tuple(map(float, q)) for q in points)
        weights = tuple(map(float, weights))
        if len(points) != len(weights) or not points:
            raise ConfigError("prior", "discrete prior needs as many weights as points")
        if len({len(q) for q in points}) != 1:
            raise ConfigError("prior", "discrete prior points must share one dimension F")
        if any(w <= 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-9:
            raise ConfigError("prior", f"discrete weights must be positive and sum to 1, got {weights}")
        return cls("discrete", points=points, weights=weights)

    # ---- properties ---------------------------------------------------------------------------------
    @property
    def F(self) -> int:
        return len(self.points[0]) if self.kind == "discrete" else len(self.mu)

    @property
    def is_discrete(self) -> bool:
        return self.kind in ("flipped", "discrete")

    def support(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(points (J, F), weights (J,)) of a discrete / flipped prior, float64."""
        if self.kind == "flipped":
            mu, d = torch.tensor(self.mu, dtype=torch.float64), torch.tensor(self.delta, dtype=torch.float64)
            return torch.stack([mu + d, mu - d]), torch.tensor([self.p, 1.0 - self.p], dtype=torch.float64)
        if self.kind == "discrete":
            return torch.tensor(self.points, dtype=torch.float64), torch.tensor(self.weights, dtype=torch.float64)
        raise ValueError("a Gaussian prior has no finite support")

    def mean_cov(self) -> tuple[torch.Tensor, torch.Tensor]:
        """E[theta] (F,) and Cov[theta] (F, F), float64."""
        if self.kind == "gaussian":
            return torch.tensor(self.mu, dtype=torch.float64), torch.diag(torch.tensor(self.sigma, dtype=torch.float64) ** 2)
        pts, w = self.support()
        m = w @ pts
        c = (pts - m).T @ (w[:, None] * (pts - m))
        return m, c

    def sample(self, n: int, gen: torch.Generator, dtype=torch.float64, device="cpu") -> torch.Tensor:
        """theta, shape (n, F)."""
        if self.kind == "gaussian":
            mu = torch.tensor(self.mu, dtype=dtype, device=device)
            sg = torch.tensor(self.sigma, dtype=dtype, device=device)
            return mu + sg * torch.randn(n, self.F, generator=gen, dtype=dtype, device=device)
        pts, w = self.support()
        idx = torch.multinomial(w.to(gen.device), n, replacement=True, generator=gen)
        return pts.to(dtype=dtype, device=device)[idx.to(device)]


def n_teacher(F: int, value_mode: str) -> int:
    """T: number of teacher coordinates (F keys + 1 shared value, or F keys + F values)."""
    return F + (1 if value_mode == "shared" else F)


def label_from_tokens(x_eps: torch.Tensor, theta: torch.Tensor, F: int, value_mode: str) -> torch.Tensor:
    """y without noise, from the signal token's teacher coordinates x_eps[..., :T] and theta (..., F)."""
    if value_mode == "shared":
        return x_eps[..., F]
    return (theta * x_eps[..., F:2 * F]).sum(-1)


def sample_batch(n: int, L: int, D: int, prior: Prior, nu: float, noise: float, gen: torch.Generator,
                 location_law: str = "spiked", value_mode: str = "shared", dtype=torch.float64,
                 device="cpu", out: torch.Tensor | None = None):
    """n i.i.d. samples.  Returns X (n, L, D), y (n,), eps (n,), theta (n, F).

    ``out`` (n, L, D) is reused as the token buffer when given (no allocation in the SGD hot loop)."""
    F = prior.F
    if D < n_teacher(F, value_mode):
        raise ConfigError("D", f"must be at least the number of teacher directions {n_teacher(F, value_mode)}")
    X = torch.randn(n, L, D, generator=gen, dtype=dtype, device=device, out=out)
    theta = prior.sample(n, gen, dtype=dtype, device=device)
    ar = torch.arange(n, device=device)
    if location_law == "spiked":
        eps = torch.randint(L, (n,), generator=gen, device=device)
        X[ar, eps, :F] += math.sqrt(nu) * theta
    elif location_law == "max":
        logits = nu * torch.einsum("nlf,nf->nl", X[:, :, :F], theta)
        eps = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen).squeeze(-1)
    else:
        raise ConfigError("location_law", f"must be spiked or max, got {location_law!r}")
    y = label_from_tokens(X[ar, eps], theta, F, value_mode)
    if noise > 0:
        y = y + noise * torch.randn(n, generator=gen, dtype=dtype, device=device)
    return X, y, eps, theta
