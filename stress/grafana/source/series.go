package source

import (
	"math"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/ocluster-go/ocluster/stress/grafana/results"
)

// seriesFrames are one time series per run selected.
func seriesFrames(cat *results.Catalog, q Query) (data.Frames, error) {
	runs, err := selectRuns(cat, q, "")
	if err != nil {
		return nil, err
	}
	var frames data.Frames
	err = eachRun(runs, q.Run != "", func(r *results.Run) error {
		t, v, origin, err := series(r, q)
		if err != nil {
			return err
		}
		times := make([]time.Time, len(t))
		for i, s := range t {
			times[i] = origin.Add(time.Duration(s * float64(time.Second)))
		}
		value := numberField(q.Metric, v)
		value.Labels = labels(r, q)
		value.Config = &data.FieldConfig{Unit: unit(q.Metric)}
		frames = append(frames, data.NewFrame(r.Name, data.NewField("time", nil, times), value))
		return nil
	})
	return frames, err
}

// series is one metric of a run over its virtual time, in seconds from
// origin on Grafana's time axis.
func series(r *results.Run, q Query) (t, v []float64, origin time.Time, err error) {
	if r.Trace != nil {
		origin = Epoch
		if o := r.Trace.Header.Origin; !o.IsZero() {
			origin = o
		}
		t, v, err = r.Trace.Series(q.Metric, q.Pool, q.Client)
		return t, v, origin, err
	}
	s := &r.Result.Series
	switch {
	case q.Client != "":
		var cs *results.ClientSeries
		if cs, err = r.Result.ClientSeries(q.Pool, q.Client); err == nil {
			v, err = cs.Get(q.Metric)
		}
	case q.Pool != "":
		v, err = poolMetric(r.Result, q.Pool, q.Metric)
	default:
		v, err = s.Get(q.Metric)
	}
	return s.T, v, Epoch, err
}

// poolMetric sums a per-client series over a pool's clients.
func poolMetric(r *results.Result, pool, metric string) ([]float64, error) {
	if _, err := r.Group(pool, ""); err != nil {
		return nil, err
	}
	sum := make([]float64, len(r.Series.T))
	for i := range r.Series.Clients {
		cs := &r.Series.Clients[i]
		if cs.Pool != pool {
			continue
		}
		v, err := cs.Get(metric)
		if err != nil {
			return nil, err
		}
		for k, x := range v {
			sum[k] += x
		}
	}
	return sum, nil
}

// numberField is a field of numbers, nullable where there are NaNs
// (a ratio over nothing), which Grafana draws as gaps.
func numberField(name string, v []float64) *data.Field {
	hasNaN := false
	for _, x := range v {
		hasNaN = hasNaN || math.IsNaN(x)
	}
	if !hasNaN {
		return data.NewField(name, nil, v)
	}
	nullable := make([]*float64, len(v))
	for i := range v {
		if !math.IsNaN(v[i]) {
			nullable[i] = &v[i]
		}
	}
	return data.NewField(name, nil, nullable)
}

// labels name a series after its run and what the query narrowed it to.
func labels(r *results.Run, q Query) data.Labels {
	l := data.Labels{"run": r.Name}
	if q.Pool != "" {
		l["pool"] = q.Pool
	}
	if q.Client != "" {
		l["client"] = q.Client
	}
	return l
}
