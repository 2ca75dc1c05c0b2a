package sim

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// workers fits each worker of a pool: capacity, cache and join time as
// the trace registers them; speed as the ratio of the pool's geometric
// mean run time to the worker's; run times, cached and uncached, as the
// pool's distribution of speed-normalised run times, or the worker's own
// when it ran enough jobs; failures from its releases.
func (f *fitter) workers(p *fitPool) ([]WorkerSpec, error) {
	if !slices.ContainsFunc(p.order, func(wn string) bool { return len(p.workers[wn].runs[0])+len(p.workers[wn].runs[1]) > 0 }) {
		return nil, fmt.Errorf("fit: pool %q has no finished run in the traces: there are no run times to fit", p.name)
	}
	speeds := f.speeds(p)
	var norm [2][]float64
	for _, wn := range p.order {
		for k, rs := range p.workers[wn].runs {
			for _, x := range rs {
				norm[k] = append(norm[k], x*speeds[wn])
			}
		}
	}
	kinds := [2]string{"uncached", "cached"}
	var poolDist [2]Dist
	var poolCDF [2]func(float64) float64
	for k := range kinds {
		if len(norm[k]) > 0 {
			d, ch := fitDurations("pool "+p.name+" "+kinds[k]+" run time (speed 1)", norm[k])
			poolDist[k], poolCDF[k] = d, ch.CDF
			f.add(ch)
		}
	}
	for k := range kinds {
		if len(norm[k]) == 0 {
			poolDist[k] = poolDist[1-k]
			f.note("pool "+p.name+" "+kinds[k]+" run time", "as "+kinds[1-k], "the traces show no "+kinds[k]+" run")
		}
	}
	downtime := f.downtime(p)
	var specs []WorkerSpec
	for _, wn := range p.order {
		w := p.workers[wn]
		if w.capacity < 1 {
			return nil, fmt.Errorf("fit: worker %q of pool %q registers no capacity: the trace must say how many jobs it runs at once", wn, p.name)
		}
		spec := WorkerSpec{Name: wn, Capacity: w.capacity, Cache: w.cache, Speed: speeds[wn], Join: Duration(math.Round(w.join))}
		var own [2]*Dist
		for k := range kinds {
			d := poolDist[k]
			if len(w.runs[k]) >= minWorkerRuns {
				scaled := make([]float64, len(w.runs[k]))
				for i, x := range w.runs[k] {
					scaled[i] = x * speeds[wn]
				}
				// The worker gets its own model only when its runs reject
				// the pool's: otherwise sampling noise alone would set
				// alike workers apart.
				if pool := ksDistance(sorted(scaled), poolCDF[k]); pool > ksLimit(len(scaled)) {
					var ch FitChoice
					d, ch = fitDurations("pool "+p.name+" worker "+wn+" "+kinds[k]+" run time (speed 1)", scaled)
					ch.Note = strings.TrimPrefix(ch.Note+fmt.Sprintf("; the pool's model is KS %.3f from its runs", pool), "; ")
					f.add(ch)
				}
			}
			own[k] = &d
		}
		spec.Uncached, spec.Cached = own[0], own[1]
		if len(w.downs) > 0 {
			spec.Failures = f.failures(p.name, w, downtime)
		}
		specs = append(specs, spec)
	}
	return groupWorkers(specs), nil
}

// groupWorkers writes workers named NAME-1..NAME-N with the same fitted
// spec as one spec of count N, as a scenario would give them, so that
// plan --vary workers scales the fleet and not each worker.
func groupWorkers(specs []WorkerSpec) []WorkerSpec {
	byPrefix := map[string][]int{}
	for i, w := range specs {
		if j := strings.LastIndex(w.Name, "-"); j > 0 {
			byPrefix[w.Name[:j]] = append(byPrefix[w.Name[:j]], i)
		}
	}
	var out []WorkerSpec
	for _, w := range specs {
		j := strings.LastIndex(w.Name, "-")
		if j <= 0 {
			out = append(out, w)
			continue
		}
		prefix, group := w.Name[:j], byPrefix[w.Name[:j]]
		if !alike(specs, prefix, group) {
			out = append(out, w)
			continue
		}
		if w.Name == prefix+"-1" {
			w.Name, w.Count = prefix, len(group)
			out = append(out, w)
		}
	}
	return out
}

// alike says whether the specs at idx are named prefix-1..prefix-N and
// differ in nothing else.
func alike(specs []WorkerSpec, prefix string, idx []int) bool {
	if len(idx) < 2 {
		return false
	}
	first := specs[idx[0]]
	for _, i := range idx {
		w := specs[i]
		n, err := strconv.Atoi(strings.TrimPrefix(w.Name, prefix+"-"))
		if err != nil || n < 1 || n > len(idx) {
			return false
		}
		w.Name = first.Name
		if !reflect.DeepEqual(w, first) {
			return false
		}
	}
	return true
}

// speeds fits log run time = level of its kind (cached or not) − log
// speed of its worker, by least squares on the logs (the maximum
// likelihood of lognormal run times with a common sigma), alternating
// between the two until they settle; the speeds' geometric mean over the
// runs is 1. A worker with too few runs, or whose speed is within three
// standard errors of 1, keeps speed 1, so that sampling noise does not
// make a fleet of equals look uneven.
func (f *fitter) speeds(p *fitPool) map[string]float64 {
	logSpeed := map[string]float64{}
	var level [2]float64
	for range 50 {
		var sum [2]float64
		var n [2]int
		// In first-seen order, never a map's: a float sum's last bits
		// depend on its order, and the same trace must give the same file.
		for _, wn := range p.order {
			w := p.workers[wn]
			for k, rs := range w.runs {
				for _, x := range rs {
					sum[k] += math.Log(x) + logSpeed[w.name]
				}
				n[k] += len(rs)
			}
		}
		for k := range level {
			if n[k] > 0 {
				level[k] = sum[k] / float64(n[k])
			}
		}
		total, runs := 0.0, 0
		for _, wn := range p.order {
			w := p.workers[wn]
			d, m := 0.0, 0
			for k, rs := range w.runs {
				for _, x := range rs {
					d += level[k] - math.Log(x)
				}
				m += len(rs)
			}
			if m > 0 {
				logSpeed[w.name] = d / float64(m)
				total += d
				runs += m
			}
		}
		for name := range logSpeed {
			logSpeed[name] -= total / float64(runs)
		}
	}
	speeds := map[string]float64{}
	for _, wn := range p.order {
		w := p.workers[wn]
		var resid []float64
		for k, rs := range w.runs {
			for _, x := range rs {
				resid = append(resid, level[k]-math.Log(x)-logSpeed[wn])
			}
		}
		speed, note := 1.0, fmt.Sprintf("%d runs: too few to tell, kept at 1", len(resid))
		if len(resid) >= minSpeedRuns {
			se := stat.StdDev(resid, nil) / math.Sqrt(float64(len(resid)))
			if math.Abs(logSpeed[wn]) < 3*se {
				note = fmt.Sprintf("from %d runs: %.3f is within three standard errors of 1, kept at 1", len(resid), math.Exp(logSpeed[wn]))
			} else {
				speed = round3(math.Exp(logSpeed[wn]))
				note = fmt.Sprintf("relative run time, from %d runs (least squares on log run times)", len(resid))
			}
		}
		speeds[wn] = speed
		f.note("pool "+p.name+" worker "+wn+" speed", fmt.Sprintf("%.3f", speed), note)
	}
	return speeds
}

// downtime fits how long a pool's workers stay away after a failure, over
// all its workers: exponential (gonum's maximum likelihood) unless it fits
// badly, then as run times are.
func (f *fitter) downtime(p *fitPool) Dist {
	var downs []float64
	for _, wn := range p.order {
		downs = append(downs, p.workers[wn].downs...)
	}
	if len(downs) == 0 {
		return Dist{}
	}
	subject := "pool " + p.name + " downtime"
	var e distuv.Exponential
	e.Fit(downs, nil)
	ch := FitChoice{Subject: subject, N: len(downs), Observed: sorted(downs), CDF: e.CDF, Unit: "seconds away after a failure"}
	ch.KS = ksDistance(ch.Observed, e.CDF)
	if ch.KS > ksLimit(len(downs)) {
		d, other := fitDurations(subject, downs)
		other.Note = strings.TrimPrefix(other.Note+fmt.Sprintf("; an exponential fits badly (KS %.3f)", ch.KS), "; ")
		f.add(other)
		return d
	}
	d := Dist{Kind: "exponential", Mean: seconds(1 / e.Rate)}
	ch.Model = fmt.Sprintf("exponential, mean %v (maximum likelihood)", d.Mean)
	f.add(ch)
	return d
}

// failures are a worker's random failures: the mean time between them is
// its time connected over its failures (the exponential's maximum
// likelihood, counting the time after the last one), the kind the one
// most of them were.
func (f *fitter) failures(pool string, w *fitWorker, downtime Dist) *Failures {
	kind := "disconnect"
	if 2*w.crashes > len(w.downs) {
		kind = "crash"
	}
	fl := &Failures{Kind: kind, MTBF: seconds(w.uptime / float64(len(w.downs))), Downtime: downtime}
	f.add(FitChoice{Subject: "pool " + pool + " worker " + w.name + " failures", Model: fmt.Sprintf("%s, mean time between %v", kind, fl.MTBF),
		N: len(w.downs), KS: math.NaN(), Note: fmt.Sprintf("%s (%d crashes) over %v connected", plural(len(w.downs), "failure"), w.crashes, Duration(math.Round(w.uptime)))})
	return fl
}
