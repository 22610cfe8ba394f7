"""Pre-train a small 3D CNN on a fractalvid data set, on the CPU, and report val top-1.

    pip install -e '.[torch]'         # torch==2.13.0, the CPU wheel; never a core dependency
    python examples/pretrain.py --data data/tiny          # from the shards
    python examples/pretrain.py --stream tiny --workers 2 # from ClipStream: no data set on disk

A sanity check that a data set's classes are consistent and learnable, and a template for
plugging the shards into a trainer: `ClipReader` samples 8 frames at stride 2 (as the paper
does), random windows and flips for training, centred windows for validation. The paper trains
a TSM ResNet-50 for 25 epochs with AdamW and a cosine schedule; this is the same recipe in
miniature (a few minutes on 2 cores). With ``--stream`` the clips are made in DataLoader
workers as training goes (fresh instances every epoch), and nothing is written to disk.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fractalvid import ClipStream, build_config
from fractalvid.shards.reader import ClipReader, sample_window, torch_dataset


class Tiny3DCNN(nn.Module):
    """[B, 1, T, H, W] float in [0, 1] -> [B, classes] logits."""

    def __init__(self, classes: int, width: int = 24) -> None:
        super().__init__()

        def block(cin: int, cout: int, pool: tuple[int, int, int]) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout),
                nn.ReLU(inplace=True), nn.MaxPool3d(pool),
            )

        self.features = nn.Sequential(
            block(1, width, (1, 2, 2)),
            block(width, 2 * width, (2, 2, 2)),
            block(2 * width, 4 * width, (2, 2, 2)),
            block(4 * width, 8 * width, (1, 2, 2)),
        )
        self.head = nn.Linear(8 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3, 4)))


def prepare(frames, size: int) -> torch.Tensor:
    """[T, H, W(, 3)] uint8 (numpy or tensor) -> [T, size, size] float32 in [0, 1], gray."""
    x = torch.as_tensor(frames).float() / 255.0
    if x.ndim == 4:  # colour: average the channels, this model is gray
        x = x.mean(dim=3)
    return F.interpolate(x[:, None], size=(size, size), mode="area")[:, 0]


def load(data: str, split: str, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Whole clips of a split, resized to size x size: ([T, size, size] float32 each, labels)."""
    clips, labels = [], []
    for frames, label, _ in ClipReader(data, split=split):
        if label is None:
            raise SystemExit(f"{data}: unlabeled data set (labels=false); nothing to classify")
        clips.append(prepare(frames, size).numpy())
        labels.append(label)
    return clips, np.array(labels)


def streamed(loader, size: int, batch_size: int):
    """(x [B, 1, T, size, size], labels [B]) batches from a DataLoader over a ClipStream."""
    xs, ys = [], []
    for frames, label, _ in loader:
        xs.append(prepare(frames, size))
        ys.append(label)
        if len(xs) == batch_size:
            yield torch.stack(xs)[:, None], torch.tensor(ys)
            xs, ys = [], []
    if xs:
        yield torch.stack(xs)[:, None], torch.tensor(ys)


def batch(clips, idx, frames, stride, rng):
    """[B, 1, frames, H, W] windows (random offset and horizontal flip when rng is given)."""
    out = []
    for i in idx:
        c = clips[i]
        w = c[sample_window(c.shape[0], frames, stride, rng)]
        if rng is not None and rng.random() < 0.5:
            w = w[:, :, ::-1]
        out.append(np.ascontiguousarray(w))
    return torch.from_numpy(np.stack(out))[:, None]


def fit(model, epoch_batches, steps: int, args) -> float:
    """AdamW with a one-cycle schedule over ``epoch_batches()`` (a fresh iterable of (x, y)
    each epoch) for args.epochs or args.minutes; returns the seconds it trained."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps,
                                                pct_start=0.1)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        seen = loss_sum = correct = 0.0
        t_epoch = time.perf_counter()
        for x, y in epoch_batches():
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < steps:
                sched.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += float((logits.argmax(1) == y).sum())
        print(f"epoch {epoch + 1:3d}  loss {loss_sum / seen:.3f}  train top-1 "
              f"{correct / seen:.1%}  ({seen:.0f} clips at "
              f"{seen / (time.perf_counter() - t_epoch):.1f} clips/s)", flush=True)
        if time.perf_counter() - t0 > args.minutes * 60 and epoch + 1 < args.epochs:
            print(f"stopped early: the time budget of {args.minutes} min ran out after "
                  f"{epoch + 1} of {args.epochs} epochs, so the one-cycle learning-rate "
                  f"schedule ended at step {sched.last_epoch} of {steps}, before its low "
                  "tail; accuracy is below what the whole schedule gives (raise --minutes "
                  "or lower --epochs)")
            break
    return time.perf_counter() - t0


def evaluate(model, pairs, classes: int, seconds: float) -> None:
    """Print val top-1 over (x, y) batches."""
    model.eval()
    with torch.no_grad():
        hits = torch.cat([model(x).argmax(1) == y for x, y in pairs])
    print(f"val top-1 {float(hits.float().mean()):.1%} on {len(hits)} clips (chance "
          f"{1 / classes:.1%}); trained {seconds:.0f} s")


def train_from_shards(args) -> None:
    """Load both splits into memory, then train with random windows and flips."""
    import random

    rng = random.Random(args.seed)
    start = time.perf_counter()
    train, y_train = load(args.data, "train", args.size)
    val, y_val = load(args.data, "val", args.size)
    classes = int(max(y_train.max(), y_val.max())) + 1
    print(f"{len(train)} train / {len(val)} val clips, {classes} classes, "
          f"loaded in {time.perf_counter() - start:.1f} s")
    labels = torch.from_numpy(y_train)

    def epoch_batches():
        order = list(range(len(train)))
        rng.shuffle(order)
        for at in range(0, len(order), args.batch):
            idx = order[at : at + args.batch]
            yield batch(train, idx, args.frames, args.stride, rng), labels[idx]

    model = Tiny3DCNN(classes, args.width)
    seconds = fit(model, epoch_batches, args.epochs * -(-len(train) // args.batch), args)
    x = batch(val, range(len(val)), args.frames, args.stride, None)
    evaluate(model, [(x, torch.from_numpy(y_val))], classes, seconds)


def train_streamed(args) -> None:
    """Train on clips made on the fly: each epoch fresh instances of the same classes."""
    if args.stream.endswith(".json"):
        from fractalvid.pipelines.config import load_config_file

        preset, values = load_config_file(args.stream)
        cfg = build_config(preset or "tiny", base=values)
    else:
        cfg = build_config(args.stream)
    if not cfg.labels:
        raise SystemExit(f"{args.stream}: unlabeled (labels=false); nothing to classify")
    make = dict(frames=args.frames, stride=args.stride, shuffle=True)
    train = ClipStream(cfg, split="train", infinite=True, curriculum=args.curriculum, **make)
    loader = torch.utils.data.DataLoader(torch_dataset(train), batch_size=None,
                                         num_workers=args.workers,
                                         persistent_workers=args.workers > 0)
    ramp = f", compose ramped over {args.curriculum} epochs" if args.curriculum else ""
    print(f"streaming {len(train)} fresh clips an epoch, {cfg.classes} classes, "
          f"{args.workers} DataLoader workers{ramp}")

    def epoch_batches():
        for x, y in streamed(loader, args.size, args.batch):
            yield (x.flip(-1) if torch.rand(()) < 0.5 else x), y

    model = Tiny3DCNN(cfg.classes, args.width)
    seconds = fit(model, epoch_batches, args.epochs * -(-len(train) // args.batch), args)
    val = ClipStream(cfg, split="val", frames=args.frames, stride=args.stride)
    evaluate(model, streamed(val, args.size, 64), cfg.classes, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/tiny", help="data-set folder (after finalize)")
    ap.add_argument("--stream", metavar="PRESET", help="train from ClipStream of this preset "
                    "(or a JSON config file) instead of a data set on disk")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers (--stream)")
    ap.add_argument("--curriculum", type=int, default=0, metavar="N",
                    help="--stream: ramp the compose operations up over the first N epochs "
                         "(the reference's curriculum; 0: full strength from the start)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--size", type=int, default=64, help="frames are resized to this")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=24, help="channels of the first block")
    ap.add_argument("--minutes", type=float, default=5.0, help="stop training after this")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    if args.stream:
        train_streamed(args)
    else:
        train_from_shards(args)


if __name__ == "__main__":
    main()
