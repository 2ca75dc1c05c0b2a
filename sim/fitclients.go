package sim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/optimize"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// client fits one client's stream.
func (f *fitter) client(pool string, c *fitClient) ClientSpec {
	subject := "pool " + pool + " client " + c.name
	s := StreamSpec{Arrivals: f.arrivals(subject, c)}
	s.Batch = f.batch(subject, c.sizes)
	s.Urgent = round3(float64(c.urgent) / float64(c.jobs))
	f.note(subject+" urgent", fmt.Sprintf("share %.3f (%d of %d jobs)", s.Urgent, c.urgent, c.jobs), "")
	if len(c.cancelled) > 0 {
		share := round3(float64(len(c.cancelled)) / float64(c.jobs))
		after, ch := fitDurations(subject+" cancel after", c.cancelled)
		f.add(ch)
		note := "as the trace recorded each job's cancel time"
		if !c.recorded {
			note = "from the cancels seen: a job that ended before its client cancelled it is not, so share and times run low"
		}
		f.note(subject+" cancel", fmt.Sprintf("share %.3f", share), note)
		s.Cancel = &CancelPattern{Share: share, After: after}
	}
	s.Hints = f.hints(subject, c)
	spec := ClientSpec{Name: c.name, StreamSpec: s}
	if c.rate != 1 {
		spec.Rate = c.rate
	}
	return spec
}

// arrivals fits the times of a client's batches: periodic when the gaps
// hardly vary, else a Poisson process (rate by maximum likelihood), made
// diurnal when a likelihood-ratio test finds a daily swing.
func (f *fitter) arrivals(subject string, c *fitClient) *Arrivals {
	subject += " arrivals"
	n, total := 0, 0.0
	var gaps []float64
	for i, ts := range c.batches {
		n += len(ts)
		total += f.spans[i]
		for j := 1; j < len(ts); j++ {
			gaps = append(gaps, ts[j]-ts[j-1])
		}
	}
	total = max(total, 1)
	if len(gaps) >= 2 {
		mean, sd := stat.MeanStdDev(gaps, nil)
		if sd < periodicCV*mean {
			first := c.batches[slices.IndexFunc(c.batches, func(ts []float64) bool { return len(ts) > 0 })][0]
			a := &Arrivals{Process: "periodic", Every: seconds(stat.Quantile(0.5, stat.Empirical, sorted(gaps), nil)), First: seconds(first)}
			f.note(subject, fmt.Sprintf("periodic every %v, first at %v", a.Every, a.First), fmt.Sprintf("gaps vary by %.1f%%", 100*sd/mean))
			return a
		}
	}
	rate := float64(n) / total
	if a, ok := f.diurnal(subject, c, rate, total); ok {
		return a
	}
	// The maximum-likelihood rate is batches over the time observed,
	// which counts the time before the first batch and after the last
	// that the gaps (and gonum's Fit of them) leave out.
	e := distuv.Exponential{Rate: rate}
	ch := FitChoice{Subject: subject, N: len(gaps), KS: math.NaN(), Observed: sorted(gaps), CDF: e.CDF, Unit: "seconds between batches"}
	a := &Arrivals{Process: "poisson", Mean: seconds(1 / rate)}
	ch.Model = fmt.Sprintf("poisson, mean gap %v (rate %.4g/s, maximum likelihood)", a.Mean, rate)
	if len(gaps) > 0 {
		ch.KS = ksDistance(ch.Observed, e.CDF)
	}
	f.add(ch)
	return a
}

// diurnal fits rate(t) = base·(1 + a·cos ωt + b·sin ωt), ω a turn a day,
// to the batch times by maximum likelihood (gonum optimize), and keeps it
// when it beats a constant rate in a likelihood-ratio test. Its goodness
// is the KS distance of the time-rescaled gaps from a unit exponential.
func (f *fitter) diurnal(subject string, c *fitClient, rate, total float64) (*Arrivals, bool) {
	if total < day || float64(c.jobs) < 50 {
		return nil, false
	}
	w := 2 * math.Pi / day
	integral := func(a, b, T float64) float64 {
		return T + a*math.Sin(w*T)/w + b*(1-math.Cos(w*T))/w
	}
	n := 0.0
	for _, ts := range c.batches {
		n += float64(len(ts))
	}
	// With base at its optimum n / ∫(1 + a cos + b sin), the likelihood
	// depends on a and b alone.
	negLL := func(x []float64) float64 {
		a, b := x[0], x[1]
		if a*a+b*b >= 1 {
			return math.Inf(1)
		}
		sum, in := 0.0, 0.0
		for i, ts := range c.batches {
			for _, t := range ts {
				sum += math.Log(1 + a*math.Cos(w*t) + b*math.Sin(w*t))
			}
			in += integral(a, b, f.spans[i])
		}
		return -(sum + n*math.Log(n/in) - n)
	}
	res, err := optimize.Minimize(optimize.Problem{Func: negLL}, []float64{0, 0}, nil, &optimize.NelderMead{})
	if err != nil {
		return nil, false
	}
	a, b := res.X[0], res.X[1]
	amp := math.Hypot(a, b)
	lr := 2 * (negLL([]float64{0, 0}) - res.F)
	if amp < minAmplitude || lr < (distuv.ChiSquared{K: 2}).Quantile(1-diurnalLevel) {
		return nil, false
	}
	in := 0.0
	for i := range c.batches {
		in += integral(a, b, f.spans[i])
	}
	base := n / in
	peak := math.Mod(math.Atan2(b, a)/w+day, day)
	// The rescaled gaps Λ(t_j) − Λ(t_j−1) of a fitting model are unit
	// exponential.
	var rescaled []float64
	for _, ts := range c.batches {
		for j := 1; j < len(ts); j++ {
			rescaled = append(rescaled, base*(integral(a, b, ts[j])-integral(a, b, ts[j-1])))
		}
	}
	unit := distuv.Exponential{Rate: 1}
	ch := FitChoice{Subject: subject, N: len(rescaled), Observed: sorted(rescaled), CDF: unit.CDF, Unit: "time-rescaled gaps (unit exponential when the model fits)"}
	ch.KS = ksDistance(ch.Observed, unit.CDF)
	arr := &Arrivals{Process: "diurnal", Mean: seconds(1 / base), Amplitude: round3(amp), Peak: seconds(math.Round(peak))}
	ch.Model = fmt.Sprintf("diurnal, mean gap %v, amplitude %.3f, peak at %v (maximum likelihood)", arr.Mean, arr.Amplitude, arr.Peak)
	ch.Note = fmt.Sprintf("likelihood ratio %.1f against a constant rate %.4g/s", lr, rate)
	f.add(ch)
	return arr, true
}

// batch fits the sizes of a client's batches: fixed when they never vary,
// Poisson when its CDF stays close, else empirical.
func (f *fitter) batch(subject string, sizes []float64) *Count {
	subject += " batch size"
	xs := sorted(sizes)
	if xs[0] == xs[len(xs)-1] {
		c := FixedCount(int(xs[0]))
		f.note(subject, fmt.Sprintf("fixed %d", c.N), "every batch has as many jobs")
		return &c
	}
	mean := stat.Mean(xs, nil)
	pois := distuv.Poisson{Lambda: mean}
	ch := FitChoice{Subject: subject, N: len(xs), Observed: xs, CDF: pois.CDF, Unit: "jobs per batch"}
	ch.KS = ksDiscrete(xs, pois.CDF)
	if ch.KS <= ksFloor {
		ch.Model = fmt.Sprintf("poisson, mean %.3f (maximum likelihood)", mean)
		f.add(ch)
		return &Count{Kind: "poisson", Mean: round3(mean)}
	}
	c := &Count{Kind: "empirical"}
	q := spreadQuantiles(xs, maxEmpirical)
	for _, x := range q {
		c.Values = append(c.Values, int(math.Round(x)))
	}
	qs := make([]float64, len(c.Values))
	for i, v := range c.Values {
		qs[i] = float64(v)
	}
	ch.CDF = empiricalCDF(qs)
	ch.Note = fmt.Sprintf("a Poisson count fits badly (KS %.3f)", ch.KS)
	ch.KS = ksDiscrete(xs, ch.CDF)
	ch.Model = fmt.Sprintf("empirical, %d values, mean %.3f", len(q), mean)
	f.add(ch)
	return c
}

// hints fits the popularity of a client's hints, ranked by how often each
// is used: uniform when it fits, else Zipf (exponent by maximum
// likelihood, gonum optimize) or one hot hint over uniform others,
// whichever has the better Akaike score; when even that fits badly, the trace's own hints, each listed in
// proportion to its use.
func (f *fitter) hints(subject string, c *fitClient) *HintSpec {
	subject += " hints"
	if len(c.hints) == 0 {
		f.note(subject, "none", "its jobs carry no hint")
		return &HintSpec{Kind: "none"}
	}
	type used struct {
		hint string
		n    int
	}
	var list []used
	n := 0
	for h, k := range c.hints {
		list = append(list, used{h, k})
		n += k
	}
	slices.SortFunc(list, func(a, b used) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.hint, b.hint)) })
	var note string
	if n < c.jobs {
		note = fmt.Sprintf("%d of its %d jobs carry no hint; the model gives every job one", c.jobs-n, c.jobs)
	}
	if len(list) == 1 {
		f.note(subject, "fixed "+list[0].hint, note)
		return &HintSpec{Kind: "fixed", Values: []string{list[0].hint}}
	}
	K := len(list)
	counts := make([]float64, K)
	var ranks []float64
	for i, u := range list {
		counts[i] = float64(u.n)
		for range u.n {
			ranks = append(ranks, float64(i+1))
		}
	}
	type model struct {
		spec HintSpec
		desc string
		pmf  func(r int) float64
		k    int // parameters
	}
	models := []model{{HintSpec{Kind: "uniform", Count: K}, fmt.Sprintf("uniform over %d", K), func(int) float64 { return 1 / float64(K) }, 0}}
	share := counts[0] / float64(n)
	models = append(models, model{HintSpec{Kind: "hot", Count: K, Share: round3(share)}, fmt.Sprintf("hot, share %.3f, %d others uniform", share, K-1),
		func(r int) float64 {
			if r == 1 {
				return share
			}
			return (1 - share) / float64(K-1)
		}, 1})
	if s, ok := fitZipf(counts); ok {
		h := 0.0
		for r := 1; r <= K; r++ {
			h += math.Pow(float64(r), -s)
		}
		models = append(models, model{HintSpec{Kind: "zipf", Count: K, S: round3(s)}, fmt.Sprintf("zipf over %d, exponent %.3f (maximum likelihood)", K, s),
			func(r int) float64 { return math.Pow(float64(r), -s) / h }, 1})
	}
	// Ranking hints by use makes the first look popular even when all
	// are alike, so uniform, the model with nothing to fit, is kept
	// whenever it fits; the others compete on their Akaike scores.
	best, bestAIC := 0, math.Inf(1)
	uniformLimit := rankLimit(models[0].pmf, K, n)
	if ksDiscrete(ranks, rankCDF(models[0].pmf, K)) <= uniformLimit {
		models = models[:1]
	}
	for i, m := range models {
		ll := 0.0
		for r, k := range counts {
			ll += k * math.Log(m.pmf(r+1))
		}
		if aic := 2*float64(m.k) - 2*ll; aic < bestAIC {
			best, bestAIC = i, aic
		}
	}
	m := models[best]
	cdf := rankCDF(m.pmf, K)
	ch := FitChoice{Subject: subject, Model: m.desc, N: n, Observed: ranks, CDF: cdf, Unit: "hint rank (1: most used)", Note: note}
	ch.KS = ksDiscrete(ranks, cdf)
	limit := uniformLimit
	if best != 0 {
		limit = rankLimit(m.pmf, K, n)
	}
	if ch.KS <= limit {
		ch.Note = strings.TrimPrefix(ch.Note+fmt.Sprintf("; ranked draws from the model itself stray up to KS %.3f", limit), "; ")
		f.add(ch)
		return &m.spec
	}
	// Every hint listed at least once, the popular ones as often as their
	// share of maxHintEntries entries says.
	spec := &HintSpec{Kind: "fixed"}
	entries := min(n, maxHintEntries)
	for _, u := range list {
		for range max(1, int(math.Round(float64(u.n*entries)/float64(n)))) {
			spec.Values = append(spec.Values, u.hint)
		}
	}
	weights := map[string]int{}
	for _, v := range spec.Values {
		weights[v]++
	}
	entriesUpTo := make([]int, K+1) // entriesUpTo[r]: the entries of the r most used hints
	for r, u := range list[:K] {
		entriesUpTo[r+1] = entriesUpTo[r] + weights[u.hint]
	}
	emp := func(x float64) float64 {
		return float64(entriesUpTo[min(max(int(x), 0), K)]) / float64(len(spec.Values))
	}
	ch.Note = strings.TrimPrefix(ch.Note+fmt.Sprintf("; the best model, %s, fits badly (KS %.3f; its own ranked draws stray up to %.3f)", m.desc, ch.KS, limit), "; ")
	ch.Model = fmt.Sprintf("fixed: the trace's %d hints weighted by use (%d entries)", K, len(spec.Values))
	ch.CDF = emp
	ch.KS = ksDiscrete(ranks, emp)
	f.add(ch)
	return spec
}

// rankLimit is the KS distance within which hint ranks fit a model.
// Ranking hints by use orders their sampling noise too, so that even
// draws from the model itself stray from it; the limit is the largest
// distance of 19 samples of n draws from the model, ranked the same way
// (a Monte Carlo test at the 5% level), and never below ksLimit(n). The
// draws are seeded by k and n: the same trace always fits the same way.
func rankLimit(pmf func(r int) float64, k, n int) float64 {
	cum := make([]float64, k)
	total := 0.0
	for r := range cum {
		total += pmf(r + 1)
		cum[r] = total
	}
	rng := rand.New(rand.NewPCG(uint64(k), uint64(n)))
	draws := min(n, maxRankDraws)
	limit := ksLimit(n)
	counts := make([]int, k)
	for range 19 {
		clear(counts)
		for range draws {
			i, _ := slices.BinarySearch(cum, rng.Float64()*total)
			counts[min(i, k-1)]++
		}
		slices.SortFunc(counts, func(a, b int) int { return b - a })
		seen := 0
		for r, c := range counts {
			seen += c
			limit = max(limit, math.Abs(float64(seen)/float64(draws)-cum[r]/total))
		}
	}
	return limit
}

// rankCDF is the CDF over ranks 1..k of the probabilities pmf.
func rankCDF(pmf func(r int) float64, k int) func(float64) float64 {
	cum := make([]float64, k+1) // cum[r]: the first r ranks' mass, summed in rank order
	for r := 1; r <= k; r++ {
		cum[r] = cum[r-1] + pmf(r)
	}
	return func(x float64) float64 { return cum[min(max(int(x), 0), k)] }
}

// fitZipf is the maximum-likelihood exponent of a Zipf law over ranks
// 1..len(counts), counts[r-1] the uses of rank r; ok is false when the
// best exponent is not above 1, which the scenario's zipf needs.
func fitZipf(counts []float64) (s float64, ok bool) {
	n, sumLog := 0.0, 0.0
	for i, k := range counts {
		n += k
		sumLog += k * math.Log(float64(i+1))
	}
	negLL := func(x []float64) float64 {
		s := 1 + math.Exp(x[0]) // keeps s above 1
		h := 0.0
		for r := 1; r <= len(counts); r++ {
			h += math.Pow(float64(r), -s)
		}
		return s*sumLog + n*math.Log(h)
	}
	res, err := optimize.Minimize(optimize.Problem{Func: negLL}, []float64{math.Log(0.5)}, nil, &optimize.NelderMead{})
	if err != nil {
		return 0, false
	}
	s = 1 + math.Exp(res.X[0])
	return s, s > 1.001
}
