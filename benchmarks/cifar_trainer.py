"""Benchmark the book's CIFAR trainer against a plain PyTorch DataLoader pipeline (Chapter 4).

Both train the same network with the same batch size, augmentation and optimizer on the same
device for one epoch. The plain pipeline is what a tutorial writes: a Dataset that crops and
flips on the CPU, a DataLoader with workers and pinned memory, one network, ``loss.item()``
every step. The trainer keeps the uint8 dataset on the device, augments there and trains
``--members`` networks at once as one grouped ensemble. It prints seconds per network-epoch
for both, their ratio, and projects the device-hours of every experiment at a preset.

    python benchmarks/cifar_trainer.py --device cuda --members 5            # on a GPU
    python benchmarks/cifar_trainer.py --device cpu --train-examples 512 --members 2 --architecture resnet14
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

import numpy as np
import torch

from sgd_escape.cifar.datasets import load_cifar
from sgd_escape.cifar.experiments import SECTION5_CIFAR10, image_passes, preset_config
from sgd_escape.cifar.models import build_ensemble
from sgd_escape.cifar.provenance import code_and_machine, utc_now
from sgd_escape.cifar.training import (CHANNEL_STATS, configure_backends, epoch_plan, make_optimizer,
                                       to_device, train_epoch)


class PlainCifar(torch.utils.data.Dataset):
    """CIFAR images with random crop (4-pixel zero padding) and flip, done on the CPU per image."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
        self.labels = labels
        self.mean, self.std = (np.array(v, np.float32) for v in CHANNEL_STATS["cifar10"])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        top, left = np.random.randint(0, 9, 2)
        image = self.images[i, top:top + 32, left:left + 32]
        if np.random.rand() < 0.5:
            image = image[:, ::-1]
        image = (image.astype(np.float32) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), int(self.labels[i])


def synchronise(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def plain_epoch(arrays, count, architecture, device, workers) -> float:
    """Seconds for one epoch of the plain DataLoader pipeline (one network)."""
    dataset = PlainCifar(arrays.train_images[:count], arrays.train_labels[:count])
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=torch.device(device).type == "cuda")
    model = build_ensemble(architecture, 1, 10).to(device).train()
    optimizer = make_optimizer(model, 0.1, 0.9, 1e-4)
    synchronise(device)
    began = time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        loss = torch.nn.functional.cross_entropy(model(images)[:, 0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
    synchronise(device)
    return time.perf_counter() - began


def trainer_epoch(arrays, count, architecture, device, members, channels_last) -> float:
    """Seconds for one epoch of the book's trainer, ``members`` networks at once."""
    data = to_device(arrays, count, min(1000, len(arrays.test_labels)), torch.device(device))  # not timed
    model = build_ensemble(architecture, members, 10).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, 0.1, 0.9, 1e-4)
    plan = epoch_plan(range(members), 0, data.train_size, 128, device)
    synchronise(device)
    began = time.perf_counter()
    stats = train_epoch(model, optimizer, data, plan, 0.1)
    stats["grad_norm_mean"].cpu()
    synchronise(device)
    return time.perf_counter() - began


def throughput(arrays, architecture, device, members, steps=10) -> float:
    """Network-images per second of the trainer (forward and backward), after a warm-up."""
    count = min(len(arrays.train_labels), 128 * steps)
    trainer_epoch(arrays, min(count, 256), architecture, device, members, False)      # warm-up
    return members * (count // 128) * 128 / trainer_epoch(arrays, count, architecture, device, members, False)


#: What the projection assumes: a lower bound, since the probes run in full fp32 convolutions
#: (``training.full_precision_convolutions``), slower on a GPU than training's TF32 ones.
PROJECTION_BASIS = ("every image pass (training, probes, evaluations) at the measured training "
                    "rate: a lower bound, as the probes use full-fp32 convolutions, slower than TF32")


def projection(arrays, device, preset, steps, rates: dict) -> dict:
    """Projected device-hours of every CIFAR-10 experiment of Section 5 at ``preset`` from measured throughput.
    ``rates`` caches the throughput of each (network, members) across presets: each is measured once."""
    hours, used = {}, {}
    for name in SECTION5_CIFAR10:
        work = image_passes(preset_config(name, preset))
        key = (work["architecture"], work["members"])
        if key not in rates:
            rates[key] = throughput(arrays, key[0], device, key[1], steps)
        used[f"{key[0]} x{key[1]}"] = rates[key]
        hours[name] = work["passes"] / rates[key] / 3600
    return {"device_hours": hours, "total_device_hours": sum(hours.values()), "images_per_second": used,
            "projection_basis": PROJECTION_BASIS}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--architecture", default="resnet34")
    parser.add_argument("--members", type=int, default=5, help="networks the trainer trains at once")
    parser.add_argument("--train-examples", type=int, default=None, help="default: all 50,000")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the plain pipeline")
    parser.add_argument("--data", default=None, help="as for `python -m sgd_escape run --data`")
    parser.add_argument("--project", nargs="*", default=["reduced", "paper"], help="presets to project (may be empty)")
    parser.add_argument("--projection-steps", type=int, default=10)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    configure_backends(args.device)                # as the pipeline does, for both contenders
    started, began = utc_now(), time.perf_counter()
    arrays = load_cifar("cifar10", args.data)
    count = args.train_examples or len(arrays.train_labels)
    # Warm-ups on a few batches: cuDNN's algorithm search and CUDA's lazy kernel loading happen once
    # per shape, not every epoch. Each timed plain epoch still starts its DataLoader workers, as a
    # tutorial's does every epoch.
    plain_epoch(arrays, min(count, 512), args.architecture, args.device, args.workers)
    plain = plain_epoch(arrays, count, args.architecture, args.device, args.workers)
    trainer_epoch(arrays, min(count, 512), args.architecture, args.device, args.members, args.channels_last)
    ours = trainer_epoch(arrays, count, args.architecture, args.device, args.members, args.channels_last)
    command = "python benchmarks/cifar_trainer.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    report = {"command": command, **code_and_machine(args.device), "started_utc": started,
              "architecture": args.architecture, "train_examples": count, "members": args.members,
              "plain_workers": args.workers, "channels_last": args.channels_last,
              "plain_seconds_per_network_epoch": plain, "trainer_seconds_per_epoch": ours,
              "trainer_seconds_per_network_epoch": ours / args.members,
              "speedup_per_network": plain / (ours / args.members), "dataset_source": arrays.source}
    rates = {}
    for preset in args.project:
        report[f"projection_{preset}"] = projection(arrays, args.device, preset, args.projection_steps, rates)
    report["wall_seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=1)
    return report


if __name__ == "__main__":
    main()
