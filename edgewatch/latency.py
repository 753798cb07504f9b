"""Latency as a histogram of log-spaced buckets: the SQL that builds, merges and reads it.

Bucket k holds the durations in (10^((k-1)/60), 10^(k/60)] ms, 60 buckets per power of ten, so
that round thresholds (1, 10, 100, 1000 ms) are bucket bounds; bucket -120 also holds
everything under 10 microseconds. A histogram is a ``Map(Int16, UInt64)`` (bucket -> calls).
Histograms merge by adding counts, exactly: a window's percentiles are the same whichever rollup
rows (or raw records) they are read from. A percentile is reported as the middle of its bucket,
2 G^k / (1 + G) with G = 10^(1/60): at most (G - 1) / (G + 1) = 1.92% from the exact value,
about 1% on average (docs/edges.md).
"""

from __future__ import annotations

GROWTH = 10 ** (1 / 60)
BUCKET = "toInt16(greatest(-120, least(600, ceil(60 * log10(duration_ms)))))"
"""SQL: the bucket of a call's ``duration_ms``."""


def histogram(buckets: str) -> str:
    """SQL: the Map(Int16, UInt64) histogram of ``buckets``, an expression of a sorted Array(Int16).

    Counting runs of equal values in a sorted array is how the rollup view builds a minute's
    histograms (``arraySort(groupArray(bucket))``, then this).
    """
    starts = f"arrayFilter(i -> i = 1 OR {buckets}[i] != {buckets}[i - 1], arrayEnumerate({buckets}))"
    counts = f"arrayPopFront(arrayDifference(arrayPushBack({starts}, length({buckets}) + 1)))"
    return f"mapFromArrays(arrayMap(i -> {buckets}[i], {starts}), arrayMap(n -> toUInt64(n), {counts}))"


def quantile_buckets(histograms: str = "latency") -> str:
    """SQL aggregate: the buckets of p50, p95 and p99 of a column of latency histograms merged
    (:func:`bucket_ms` gives milliseconds; an empty group gives bucket 0, so count the calls)."""
    return f"quantilesExactWeightedArray(0.5, 0.95, 0.99)(mapKeys({histograms}), mapValues({histograms}))"


def bucket_ms(bucket: int) -> float:
    """The middle of a latency bucket, in ms: within 1.92% of every duration in the bucket."""
    return float(10 ** (bucket / 60) * 2 / (1 + GROWTH))


def quantiles_ms(histograms: str) -> str:
    """SQL aggregate: [p50, p95, p99] in ms merged from a column of latency histograms, NaNs when empty."""
    return (f"if(sum(length(mapKeys({histograms}))) = 0, [nan, nan, nan], "
            f"arrayMap(k -> pow(10, k / 60) * {2 / (1 + GROWTH)!r}, "
            f"{quantile_buckets(histograms)}))")
