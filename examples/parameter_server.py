"""A parameter server: an actor holds a model's weights; tasks pull them, compute gradients on
their shard of the data and push updates, all at once (asynchronous SGD, as in Ray's
parameter-server example). The model is a linear regression learned from synthetic data;
the run checks that it finds the weights the data was made with.

    python examples/parameter_server.py [--workers 4] [--steps 30]
"""

from __future__ import annotations

import argparse
import random

import pymesos_rt as rt

TRUE_WEIGHTS = [2.0, -3.0, 0.5, 1.5]
BIAS = 4.0


def make_shard(seed: int, rows: int) -> list[tuple[list[float], float]]:
    """``rows`` samples ``(x, y)`` with ``y = x . TRUE_WEIGHTS + BIAS`` plus a little noise."""
    rng = random.Random(seed)
    shard = []
    for _ in range(rows):
        x = [rng.uniform(-1, 1) for _ in TRUE_WEIGHTS]
        y = sum(w * v for w, v in zip(TRUE_WEIGHTS, x, strict=True)) + BIAS
        shard.append((x, y + rng.gauss(0, 0.01)))
    return shard


@rt.remote
class ParameterServer:
    """Holds the weights (the last one is the bias) and applies gradients as they come."""

    def __init__(self, size: int, learning_rate: float) -> None:
        self.weights = [0.0] * (size + 1)
        self.learning_rate = learning_rate
        self.updates = 0

    def get_weights(self) -> list[float]:
        return self.weights

    def apply_gradients(self, gradient: list[float]) -> int:
        rate = self.learning_rate
        self.weights = [w - rate * g for w, g in zip(self.weights, gradient, strict=True)]
        self.updates += 1
        return self.updates


def predict(weights: list[float], x: list[float]) -> float:
    return sum(w * v for w, v in zip(weights, x, strict=False)) + weights[-1]


def loss(weights: list[float], data: list[tuple[list[float], float]]) -> float:
    return sum((predict(weights, x) - y) ** 2 for x, y in data) / len(data)


@rt.remote
def train(ps: rt.ActorHandle, shard: list[tuple[list[float], float]], steps: int) -> int:
    """Pull the weights, compute the mean-squared-error gradient on this shard, push it."""
    updates = 0
    for _ in range(steps):
        weights = rt.get(ps.get_weights.remote())
        gradient = [0.0] * len(weights)
        for x, y in shard:
            error = predict(weights, x) - y
            for i, v in enumerate(x):
                gradient[i] += 2 * error * v / len(shard)
            gradient[-1] += 2 * error / len(shard)
        updates = rt.get(ps.apply_gradients.remote(gradient))
    return updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()

    rt.init()
    shards = [make_shard(seed, args.rows) for seed in range(args.workers)]
    everything = [row for shard in shards for row in shard]

    ps = ParameterServer.options(name="parameter-server").remote(len(TRUE_WEIGHTS), 0.2)
    print(f"loss before: {loss(rt.get(ps.get_weights.remote()), everything):.4f}")

    # every worker task gets the handle: the server keeps one state for all of them
    done = rt.get([train.remote(ps, shard, args.steps) for shard in shards])
    print(f"updates applied: {max(done)}")

    same = rt.get_actor("parameter-server")  # a named actor is found by its name
    weights = rt.get(same.get_weights.remote())
    print(f"loss after:  {loss(weights, everything):.4f}")
    print("weights:", " ".join(f"{w:.3f}" for w in weights))
    wanted = [*TRUE_WEIGHTS, BIAS]
    worst = max(abs(w - t) for w, t in zip(weights, wanted, strict=True))
    print("OK: weights within 0.05 of the truth" if worst < 0.05 else f"FAILED: off by {worst:.3f}")
    rt.shutdown()


if __name__ == "__main__":
    main()
