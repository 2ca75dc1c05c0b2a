package sim

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// ksLimit is the largest KS distance at which a parametric model of n
// observations is kept.
func ksLimit(n int) float64 { return max(ksFloor, ksCritical/math.Sqrt(float64(n))) }

// ksDistance is the one-sample Kolmogorov–Smirnov distance between sorted
// observations and a continuous CDF.
func ksDistance(sorted []float64, cdf func(float64) float64) float64 {
	n := float64(len(sorted))
	d := 0.0
	for i, x := range sorted {
		f := cdf(x)
		d = max(d, math.Abs(float64(i+1)/n-f), math.Abs(f-float64(i)/n))
	}
	return d
}

// ksDiscrete is the Kolmogorov–Smirnov distance for whole-number data:
// the largest gap between the two CDFs at the values observed.
func ksDiscrete(sorted []float64, cdf func(float64) float64) float64 {
	n := float64(len(sorted))
	d := 0.0
	for i, x := range sorted {
		if i+1 < len(sorted) && sorted[i+1] == x {
			continue
		}
		d = max(d, math.Abs(float64(i+1)/n-cdf(x)))
	}
	return d
}

// spreadQuantiles are m quantiles of the sorted values at (j+0.5)/m, or the
// values themselves when there are at most m.
func spreadQuantiles(sorted []float64, m int) []float64 {
	if len(sorted) <= m {
		return slices.Clone(sorted)
	}
	out := make([]float64, m)
	for j := range out {
		out[j] = stat.Quantile((float64(j)+0.5)/float64(m), stat.Empirical, sorted, nil)
	}
	return out
}

// seconds rounds to the millisecond, and to at least one, so that a
// written duration reads well and a positive one stays positive.
func seconds(x float64) Duration { return Duration(max(0.001, math.Round(x*1000)/1000)) }

// fitDurations fits a lognormal and an exponential to positive durations
// by maximum likelihood (gonum's Fit) and keeps the likelier, or keeps
// the durations as an empirical distribution when even that one fits
// badly.
func fitDurations(subject string, xs []float64) (Dist, FitChoice) {
	sorted := sorted(xs)
	logs := make([]float64, len(sorted))
	sumLog := 0.0
	for i, x := range sorted {
		logs[i] = math.Log(max(x, 1e-3))
		sumLog += logs[i]
	}
	var n distuv.Normal
	n.Fit(logs, nil)
	var e distuv.Exponential
	e.Fit(sorted, nil)
	c := FitChoice{Subject: subject, N: len(sorted), Observed: sorted, Unit: "seconds"}
	var d Dist
	switch {
	case len(logs) < 2 || n.Sigma == 0:
		// Every duration the same: the model is the data, KS 0 (the
		// continuous formula would count the step's own jump).
		d = FixedDist(seconds(sorted[0]))
		c.Model = fmt.Sprintf("fixed %v", d.Value)
		c.CDF = func(x float64) float64 { return step(x >= sorted[0]) }
		return d, c
	case lnLogLikelihood(n, logs, sumLog) >= logLikelihood(e, sorted):
		ln := distuv.LogNormal{Mu: n.Mu, Sigma: n.Sigma}
		d = Dist{Kind: "lognormal", Median: seconds(math.Exp(n.Mu)), Sigma: round3(n.Sigma)}
		c.Model = fmt.Sprintf("lognormal median %v sigma %.3f (maximum likelihood)", d.Median, d.Sigma)
		c.CDF = ln.CDF
	default:
		d = Dist{Kind: "exponential", Mean: seconds(1 / e.Rate)}
		c.Model = fmt.Sprintf("exponential mean %v (maximum likelihood; likelier than a lognormal)", d.Mean)
		c.CDF = e.CDF
	}
	c.KS = ksDistance(sorted, c.CDF)
	if c.KS > ksLimit(len(sorted)) {
		q := spreadQuantiles(sorted, maxEmpirical)
		d = Dist{Kind: "empirical"}
		for _, x := range q {
			d.Values = append(d.Values, seconds(x))
		}
		c.Note = fmt.Sprintf("the best parametric model, %s, fits badly (KS %.3f): kept as %d empirical quantiles", c.Model, c.KS, len(q))
		c.Model = fmt.Sprintf("empirical, %d values, median %v", len(q), seconds(stat.Quantile(0.5, stat.Empirical, sorted, nil)))
		c.CDF = empiricalCDF(q)
		c.KS = ksDistance(sorted, c.CDF)
	}
	return d, c
}

// lnLogLikelihood is the lognormal's log-likelihood of the data whose logs
// are given: the normal's of the logs, less the Jacobian Σ log x.
func lnLogLikelihood(n distuv.Normal, logs []float64, sumLog float64) float64 {
	return logLikelihood(n, logs) - sumLog
}

func logLikelihood(d interface{ LogProb(float64) float64 }, xs []float64) float64 {
	ll := 0.0
	for _, x := range xs {
		ll += d.LogProb(x)
	}
	return ll
}

func step(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// empiricalCDF is the CDF of drawing one of the sorted values uniformly.
func empiricalCDF(sorted []float64) func(float64) float64 {
	return func(x float64) float64 {
		i, found := slices.BinarySearch(sorted, x)
		for found && i < len(sorted) && sorted[i] == x {
			i++
		}
		return float64(i) / float64(len(sorted))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func sorted(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}
