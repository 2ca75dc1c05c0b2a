package results

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Group returns the client's statistics when client is set (pool then
// only tells apart clients of the same name), else the pool's.
func (r *Result) Group(pool, client string) (*Group, error) {
	if client == "" {
		for i := range r.Pools {
			if r.Pools[i].Pool == pool {
				return &r.Pools[i], nil
			}
		}
		var names []string
		for _, p := range r.Pools {
			names = append(names, p.Pool)
		}
		return nil, fmt.Errorf("the run has no pool %q; it has %s", pool, List(names))
	}
	var found []*Group
	for i := range r.Clients {
		if g := &r.Clients[i]; g.Client == client && (pool == "" || g.Pool == pool) {
			found = append(found, g)
		}
	}
	var pools []string
	for _, g := range found {
		pools = append(pools, g.Pool)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("the run has no client %q%s; it has %s", client, inPool(pool), List(r.clientNames()))
	}
	return nil, fmt.Errorf("client %q is in pools %s: set the pool", client, strings.Join(pools, " and "))
}

// ClientSeries returns a client's series, found as Group finds it.
func (r *Result) ClientSeries(pool, client string) (*ClientSeries, error) {
	g, err := r.Group(pool, client)
	if err != nil {
		return nil, err
	}
	for i := range r.Series.Clients {
		if cs := &r.Series.Clients[i]; cs.Pool == g.Pool && cs.Client == g.Client {
			return cs, nil
		}
	}
	return nil, fmt.Errorf("the run has no series of client %s/%s", g.Pool, g.Client)
}

// clientNames are the run's clients, as pool/client.
func (r *Result) clientNames() []string {
	var names []string
	for _, c := range r.Clients {
		names = append(names, c.Pool+"/"+c.Client)
	}
	return names
}

// ratios are the series derived from two others: the first over the
// second, per sampling instant.
var ratios = map[string][2]string{
	"utilisation":    {"running", "capacity"},
	"cache_hit_rate": {"hits", "hinted_starts"},
}

// SeriesNames are the whole run's series, its ratios included, sorted.
func (s *Series) SeriesNames() []string {
	var names []string
	for name := range s.Values {
		names = append(names, name)
	}
	for name, parts := range ratios {
		if s.Values[parts[0]] != nil && s.Values[parts[1]] != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Get returns one of the whole run's series: one recorded, or a ratio of
// two (utilisation: running over capacity; cache_hit_rate: hits over
// hinted starts in each interval), NaN where the divisor is 0.
func (s *Series) Get(metric string) ([]float64, error) {
	if v, ok := s.Values[metric]; ok {
		return v, nil
	}
	if parts, ok := ratios[metric]; ok && s.Values[parts[0]] != nil && s.Values[parts[1]] != nil {
		num, den := s.Values[parts[0]], s.Values[parts[1]]
		out := make([]float64, len(num))
		for i := range num {
			out[i] = math.NaN()
			if den[i] != 0 {
				out[i] = num[i] / den[i]
			}
		}
		return out, nil
	}
	return nil, missing("series", metric, s.SeriesNames())
}

// missing is the error for a name that is not there.
func missing(what, name string, have []string) error {
	if name == "" {
		return fmt.Errorf("no %s set: choose one of %s", what, List(have))
	}
	return fmt.Errorf("no %s %q; there are %s", what, name, List(have))
}

// Metric returns a number of the statistics of some jobs.
func (n Numbers) Metric(name string) (float64, error) {
	if v, ok := n[name]; ok {
		return v, nil
	}
	return 0, missing("metric", name, n.Names())
}

// Get returns one of the client's series (queued).
func (cs *ClientSeries) Get(metric string) ([]float64, error) {
	if v, ok := cs.Values[metric]; ok {
		return v, nil
	}
	return nil, missing("series per client", metric, slices.Sorted(maps.Keys(cs.Values)))
}
