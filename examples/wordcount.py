"""Word count, Spark style: map, hash-shuffle and reduce as remote tasks on an embedded cluster.

Stages:
1. generate - deterministic text (seeded), ``--partitions`` partitions of ``--size-kib`` KiB
   each, made in the driver and stored in the cluster once with ``rt.put``.
2. map - one task per partition tokenizes its text, counts the words, and splits the counts
   into R buckets by a stable hash of the word (CRC-32, not Python's salted ``hash()``), so a
   word lands in the same bucket whatever process counted it. It has R return values
   (``num_returns=R``): one ``ObjectRef`` per bucket.
3. shuffle + reduce - one task per bucket takes its bucket's ``ObjectRef`` of every map output
   as arguments (the runtime resolves arguments to values first) and sums them, so a reducer
   receives only its own share of each map output.
4. collect - the driver gets the R disjoint dicts, merges them, and checks the result against
   ``collections.Counter`` over the same text computed locally.

    python examples/wordcount.py [--partitions 32] [--size-kib 256] [--reducers 8]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import random
import re
import sys
import time
import zlib

import pymesos_rt as rt

WORD = re.compile(r"[a-z']+")
Counts = dict[str, int]


def make_vocabulary(size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "su", "te", "ra", "no", "vi", "de", "pu", "sha", "zo", "qu'"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(syllables, k=rng.randint(1, 4))))
    ordered = sorted(words)  # set order depends on the salted hash(): sort, then shuffle
    rng.shuffle(ordered)
    return ordered


def generate_partition(index: int, size_bytes: int, vocabulary: list[str], seed: int) -> str:
    """Sentences of Zipf-distributed words, about ``size_bytes`` long; the same for one seed."""
    rng = random.Random(seed * 1_000_003 + index)
    cum_weights = list(itertools.accumulate(1.0 / rank for rank in range(1, len(vocabulary) + 1)))
    sentences: list[str] = []
    length = 0
    while length < size_bytes:
        words = rng.choices(vocabulary, cum_weights=cum_weights, k=rng.randint(4, 16))
        sentence = " ".join(words).capitalize() + rng.choice([". ", "! ", "? ", ", "])
        sentences.append(sentence)
        length += len(sentence)
    return "".join(sentences)


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


def bucket_of(word: str, buckets: int) -> int:
    return zlib.crc32(word.encode()) % buckets


@rt.remote
def map_partition(text: str, buckets: int) -> tuple[Counts, ...] | Counts:
    out: list[Counts] = [{} for _ in range(buckets)]
    for word, n in collections.Counter(tokenize(text)).items():
        out[bucket_of(word, buckets)][word] = n
    return tuple(out) if buckets > 1 else out[0]  # with one return, the value is returned


@rt.remote
def reduce_bucket(*shares: Counts) -> Counts:
    total: collections.Counter[str] = collections.Counter()
    for share in shares:
        total.update(share)
    return dict(total)


def main() -> int:
    parser = argparse.ArgumentParser(description="Word count with map, shuffle and reduce tasks.")
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--size-kib", type=int, default=256)
    parser.add_argument("--reducers", type=int, default=8)
    parser.add_argument("--vocabulary", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    vocabulary = make_vocabulary(args.vocabulary, args.seed)
    texts = [
        generate_partition(i, args.size_kib * 1024, vocabulary, args.seed)
        for i in range(args.partitions)
    ]
    print(f"text: {args.partitions} partitions, {sum(map(len, texts)) / 2**20:.1f} MiB")

    rt.init()
    started = time.perf_counter()
    partitions = [rt.put(text) for text in texts]
    mapper = map_partition.options(num_returns=args.reducers)
    mapped = [mapper.remote(part, args.reducers) for part in partitions]
    if args.reducers == 1:  # one return is one ref, not a list of one
        mapped = [[ref] for ref in mapped]
    reduced = [reduce_bucket.remote(*(refs[r] for refs in mapped)) for r in range(args.reducers)]
    counts: Counts = {}
    for bucket in rt.get(reduced):
        counts.update(bucket)  # buckets are disjoint; were they not, the check below would fail
    elapsed = time.perf_counter() - started
    rt.shutdown()

    result = collections.Counter(counts)
    print(f"{len(result)} distinct words, {result.total()} in all, counted in {elapsed:.2f}s")
    for word, n in result.most_common(10):
        print(f"{n:>10}  {word}")

    expected = collections.Counter(word for text in texts for word in tokenize(text))
    if result != expected:
        print("MISMATCH: counts differ from Counter's", file=sys.stderr)
        return 1
    print("OK: counts equal Counter's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
