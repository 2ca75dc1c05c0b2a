package sim

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// stream is a running source of jobs (one of a client's streams).
type stream struct {
	idx      int
	inClient int // which of its client's streams it is
	spec     *StreamSpec
	client   *clientState
	pool     *simPool
	rng      *rand.Rand
	zipf     *rand.Zipf
	names    []string // generated hint names for fixed, uniform, zipf, hot
	space    *hintSpaceState
	stop     float64 // no arrival at or after this time

	generated int
	batch     int // sequence number of the latest batch
	open      int // unfinished jobs of the latest batch
	done      bool
}

// clientState is a client of a pool as the simulation tracks it.
type clientState struct {
	idx    int // within its pool
	name   string
	rate   float64
	queued int // jobs waiting (for fairness accounting)
}

// hintSpaceState is a hint space's current head.
type hintSpaceState struct {
	spec    *HintSpace
	head    int
	streams []*stream // head-triggered streams
}

func newStream(idx, inClient int, spec *StreamSpec, c *clientState, p *simPool, rng *rand.Rand, spaces map[string]*hintSpaceState, end float64) *stream {
	st := &stream{idx: idx, inClient: inClient, spec: spec, client: c, pool: p, rng: rng, stop: end}
	if spec.Stop > 0 {
		st.stop = min(end, spec.Stop.Seconds())
	}
	h := spec.Hints
	switch h.Kind {
	case "fixed":
		st.names = h.Values
	case "uniform", "zipf", "hot":
		st.names = make([]string, h.Count)
		for i := range st.names {
			st.names[i] = h.Prefix + "-" + strconv.Itoa(i)
		}
		if h.Kind == "zipf" {
			st.zipf = rand.NewZipf(rng, h.S, 1, uint64(h.Count-1))
		}
	case "rolling":
		st.space = spaces[h.Space]
	}
	if spec.Arrivals.Process == "head" {
		sp := spaces[spec.Arrivals.Space]
		sp.streams = append(sp.streams, st)
	}
	return st
}

// firstArrival is when the stream's first batch comes, or -1 when batches
// come only on head changes.
func (st *stream) firstArrival() float64 {
	a := st.spec.Arrivals
	start := st.spec.Start.Seconds()
	switch a.Process {
	case "poisson":
		return start + st.rng.ExpFloat64()*a.Mean.Seconds()
	case "diurnal":
		return st.nextDiurnal(start)
	case "periodic", "closed":
		return start + a.First.Seconds()
	}
	return -1
}

// nextArrival is when the batch after one at now comes, for the processes
// that schedule ahead; -1 otherwise.
func (st *stream) nextArrival(now float64) float64 {
	a := st.spec.Arrivals
	switch a.Process {
	case "poisson":
		return now + st.rng.ExpFloat64()*a.Mean.Seconds()
	case "periodic":
		return now + a.Every.Seconds()
	case "diurnal":
		return st.nextDiurnal(now)
	}
	return -1
}

// nextDiurnal draws the next arrival of a Poisson process whose rate
// follows a daily cosine, by thinning a process at the peak rate.
func (st *stream) nextDiurnal(t float64) float64 {
	a := st.spec.Arrivals
	base := 1 / a.Mean.Seconds()
	peak := base * (1 + a.Amplitude)
	for {
		t += st.rng.ExpFloat64() / peak
		rate := base * (1 + a.Amplitude*math.Cos(2*math.Pi*(t-a.Peak.Seconds())/86400))
		if st.rng.Float64()*peak <= rate {
			return t
		}
	}
}

// jobSeed is a generated job before it is submitted.
type jobSeed struct {
	hint   string
	urgent bool
	size   float64 // the job's quantile in every duration distribution
	cancel float64 // when the client cancels it after submission, or -1
	// ends is how a replayed job's run ends wherever it runs, when the
	// trace says it did not succeed by itself: trace.OutcomeFailed or
	// trace.OutcomeCancelled; "" for success.
	ends string
}

// generate makes the jobs of one batch, drawing everything from the
// stream's own random source.
func (st *stream) generate() []jobSeed {
	units := st.spec.Batch.Sample(st.rng)
	h := st.spec.Hints
	var seeds []jobSeed
	add := func(hint string) {
		if st.spec.Jobs > 0 && st.generated >= st.spec.Jobs {
			return
		}
		st.generated++
		s := jobSeed{hint: hint, cancel: -1}
		s.urgent = st.spec.Urgent > 0 && st.rng.Float64() < st.spec.Urgent
		s.size = st.rng.Float64()
		if c := st.spec.Cancel; c != nil && st.rng.Float64() < c.Share {
			s.cancel = c.After.Quantile(st.rng.Float64())
		}
		seeds = append(seeds, s)
	}
	for u := 0; u < units && (st.spec.Jobs == 0 || st.generated < st.spec.Jobs); u++ {
		switch h.Kind {
		case "none":
			add("")
		case "fixed", "uniform":
			add(st.names[st.rng.IntN(len(st.names))])
		case "zipf":
			add(st.names[st.zipf.Uint64()])
		case "hot":
			if len(st.names) == 1 || st.rng.Float64() < h.Share {
				add(st.names[0])
			} else {
				add(st.names[1+st.rng.IntN(len(st.names)-1)])
			}
		case "rolling":
			pkg := u
			if h.Pick == "random" {
				pkg = st.rng.IntN(h.Packages)
			} else if pkg >= h.Packages {
				pkg %= h.Packages
			}
			prefix := strconv.Itoa(st.space.head) + "-" + strconv.Itoa(pkg) + "-"
			for _, platform := range st.space.spec.Platforms {
				add(prefix + platform)
			}
		}
	}
	return seeds
}
