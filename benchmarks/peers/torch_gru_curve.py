"""Learning curve of a plain PyTorch GRU next-item model on ML-1M: is our GRU4Rec slow to start, or is GRU?

A diagnostic for the GRU4Rec (CE) row: the published 0.2811 / 0.1648 comes from a torch ``nn.GRU`` (one
layer of 64, tied output layer, full cross-entropy at every position, Adam 1e-3, batch 128, the latest 201
training items per user). This script trains that model, written here from the description, on the shared
ML-1M file (leave-one-out, items already in the history excluded, conservative ties) and prints validation
NDCG@10 every 2 epochs, to compare epoch for epoch with ``validation_history`` in our gru4rec_ml1m run.json.

Needs torch (the RecBole virtualenv of ``setup_recbole.sh`` has it):

    benchmarks/peers/.venv-recbole/bin/python benchmarks/peers/torch_gru_curve.py --epochs 10 --threads 1
"""

import argparse
import collections
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-1m" / "ml-1m.seq.tsv"


def read_histories(path: Path) -> list[list[int]]:
    """User histories from ``user_id, item_id, rating, seq_pos`` rows, ordered by ``seq_pos``."""
    rows = collections.defaultdict(list)
    with open(path) as f:
        next(f)
        for line in f:
            user, item, _, position = line.rstrip("\n").split("\t")
            rows[int(user)].append((int(position), int(item)))
    return [[item for _, item in sorted(v)] for _, v in sorted(rows.items())]


class GRUModel(torch.nn.Module):
    def __init__(self, num_items: int, dim: int = 64):
        super().__init__()
        self.embedding = torch.nn.Embedding(num_items + 1, dim, padding_idx=0)
        torch.nn.init.normal_(self.embedding.weight, std=0.02)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.gru = torch.nn.GRU(dim, dim, batch_first=True)

    def states(self, ids: torch.Tensor) -> torch.Tensor:  # [B, L] right padded -> [B, L, D]
        return self.gru(self.embedding(ids))[0]


def right_pad(rows: list[list[int]], value: int) -> torch.Tensor:
    out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return torch.from_numpy(out)


def validation_ndcg(model: GRUModel, histories, train, max_len: int) -> float:
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(train), 256):
            inputs = [t[-max_len:] for t in train[start : start + 256]]
            lengths = torch.tensor([len(h) for h in inputs])
            query = model.states(right_pad(inputs, 0))[torch.arange(len(inputs)), lengths - 1]
            scores = query @ model.embedding.weight.T
            scores[:, 0] = -np.inf
            for row, seen in enumerate(train[start : start + 256]):
                scores[row, torch.tensor(seen)] = -np.inf
            targets = torch.tensor([h[-2] for h in histories[start : start + len(inputs)]])
            target_scores = scores[torch.arange(len(inputs)), targets]
            rank = (scores >= target_scores[:, None]).sum(1) - 1  # ties count against the model
            total += float(torch.where(rank < 10, 1.0 / torch.log2(rank.float() + 2), 0.0).sum())
    return total / len(train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ml-1m.seq.tsv")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    torch.set_num_threads(args.threads)
    histories = read_histories(args.data)
    train = [h[:-2] for h in histories]  # leave-one-out: the last two are validation and test
    model = GRUModel(max(max(h) for h in histories))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rng.permutation(len(train))
        for first in range(0, len(order), 128):
            rows = [train[u][-args.max_len - 1 :] for u in order[first : first + 128]]
            inputs, labels = right_pad([r[:-1] for r in rows], 0), right_pad([r[1:] for r in rows], -100)
            logits = model.states(inputs) @ model.embedding.weight.T  # [B, L, V + 1]
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 2 == 0:
            model.eval()
            print(
                f"epoch {epoch}: validation NDCG@10 {validation_ndcg(model, histories, train, args.max_len):.4f} "
                f"[{time.time() - start:.0f} s]",
                flush=True,
            )


if __name__ == "__main__":
    main()
