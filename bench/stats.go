package main

import (
	"math"
	"slices"
	"time"
)

// Latencies is a sample of latencies from one measurement. Every sample is
// kept and sorted once, so percentiles are exact rather than bucketed: at
// the sizes the harness collects (at most a few hundred thousand samples)
// this costs a few megabytes and a sort.
type Latencies struct {
	sorted []time.Duration
}

// NewLatencies sorts a copy of samples.
func NewLatencies(samples []time.Duration) Latencies {
	s := slices.Clone(samples)
	slices.Sort(s)
	return Latencies{sorted: s}
}

// Count is the number of samples.
func (l Latencies) Count() int { return len(l.sorted) }

// Percentile returns the latency at or below which p percent of the samples
// lie (nearest rank), or 0 for an empty sample. p is clamped to [0, 100].
func (l Latencies) Percentile(p float64) time.Duration {
	n := len(l.sorted)
	if n == 0 {
		return 0
	}
	p = math.Max(0, math.Min(100, p))
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	return l.sorted[rank-1]
}

// Max is the largest sample, or 0 for an empty sample.
func (l Latencies) Max() time.Duration {
	if len(l.sorted) == 0 {
		return 0
	}
	return l.sorted[len(l.sorted)-1]
}

// Summary is the JSON form of a latency sample, in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summarize returns the percentiles the report prints.
func (l Latencies) Summarize() Summary {
	return Summary{
		Count: l.Count(),
		P50:   ms(l.Percentile(50)),
		P90:   ms(l.Percentile(90)),
		P99:   ms(l.Percentile(99)),
		Max:   ms(l.Max()),
	}
}

// ms converts d to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio returns a/b, or NaN when either side is missing (zero or NaN).
func ratio(a, b float64) float64 {
	if a == 0 || b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}
