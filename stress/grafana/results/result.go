package results

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Numbers are the numeric fields of one object of a result, by their JSON
// names (wait_p95_s, cache_hit_rate, utilisation, ...).
type Numbers map[string]float64

// Names are the numbers' names, sorted.
func (n Numbers) Names() []string { return slices.Sorted(maps.Keys(n)) }

// Scope is what was measured of some jobs: all of them, and the urgent and
// normal ones apart.
type Scope struct {
	All, Urgent, Normal Numbers
}

// Group is a pool's or a client's scope.
type Group struct {
	Pool   string
	Client string // empty for a pool
	Scope
	// WaitQuantiles are the 0th, 1st, ..., 100th percentiles of the
	// waits, in seconds (clients only).
	WaitQuantiles []float64
}

// Result is one run's result.json. Its Scope is the whole run's; All also
// holds the run-wide measures (makespan_s, utilisation, jain, ...).
type Result struct {
	Scenario string
	Policy   string
	Seed     uint64
	Scope
	Pools   []Group
	Clients []Group
	Series  Series
}

// Series are a run's samples over virtual time.
type Series struct {
	// T are the sampling instants, in seconds of virtual time.
	T []float64
	// Values are the whole run's series by JSON name (queued, running,
	// capacity, hinted_starts, hits), each one value per instant.
	Values map[string][]float64
	// Clients are the per-client series (queued).
	Clients []ClientSeries
}

// ClientSeries are one client's samples.
type ClientSeries struct {
	Pool, Client string
	Values       map[string][]float64
}

func (r *Result) UnmarshalJSON(b []byte) error {
	var head struct {
		Scenario string  `json:"scenario"`
		Policy   string  `json:"policy"`
		Seed     uint64  `json:"seed"`
		Pools    []Group `json:"pools"`
		Clients  []Group `json:"clients"`
		Series   Series  `json:"series"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	scope, err := scopeOf(b)
	if err != nil {
		return err
	}
	// The seed identifies the run; it is not a measure of it.
	delete(scope.All, "seed")
	*r = Result{Scenario: head.Scenario, Policy: head.Policy, Seed: head.Seed, Scope: scope,
		Pools: head.Pools, Clients: head.Clients, Series: head.Series}
	return nil
}

func (g *Group) UnmarshalJSON(b []byte) error {
	var head struct {
		Pool          string    `json:"pool"`
		Client        string    `json:"client"`
		WaitQuantiles []float64 `json:"wait_quantiles_s"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	scope, err := scopeOf(b)
	if err != nil {
		return err
	}
	*g = Group{Pool: head.Pool, Client: head.Client, Scope: scope, WaitQuantiles: head.WaitQuantiles}
	return nil
}

func (s *Series) UnmarshalJSON(b []byte) error {
	var head struct {
		T       []float64         `json:"t_s"`
		Clients []json.RawMessage `json:"clients"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	values, err := arrays(b, len(head.T))
	if err != nil {
		return err
	}
	*s = Series{T: head.T, Values: values}
	for _, raw := range head.Clients {
		var c struct {
			Pool   string `json:"pool"`
			Client string `json:"client"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("series of a client: %w", err)
		}
		cv, err := arrays(raw, len(head.T))
		if err != nil {
			return fmt.Errorf("series of client %s/%s: %w", c.Pool, c.Client, err)
		}
		s.Clients = append(s.Clients, ClientSeries{Pool: c.Pool, Client: c.Client, Values: cv})
	}
	return nil
}

// scopeOf reads the numbers of an object and of its urgent and normal
// members.
func scopeOf(b []byte) (Scope, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return Scope{}, err
	}
	s := Scope{All: numbers(fields)}
	for _, p := range []struct {
		name string
		to   *Numbers
	}{{"urgent", &s.Urgent}, {"normal", &s.Normal}} {
		raw, ok := fields[p.name]
		if !ok {
			continue
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(raw, &sub); err != nil {
			return Scope{}, fmt.Errorf("%s: %w", p.name, err)
		}
		*p.to = numbers(sub)
	}
	return s, nil
}

// numbers picks the fields that are JSON numbers.
func numbers(fields map[string]json.RawMessage) Numbers {
	n := Numbers{}
	for name, raw := range fields {
		if !isNumber(raw) {
			continue
		}
		var x float64
		if json.Unmarshal(raw, &x) == nil {
			n[name] = x
		}
	}
	return n
}

func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// arrays picks the fields of an object that are arrays of numbers; each
// must hold one value per sampling instant.
func arrays(b []byte, samples int) (map[string][]float64, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	out := map[string][]float64{}
	for name, raw := range fields {
		if name == "t_s" || name == "clients" || len(raw) == 0 || raw[0] != '[' {
			continue
		}
		var xs []float64
		if json.Unmarshal(raw, &xs) != nil {
			continue // an array of something else, such as the clients
		}
		if len(xs) != samples {
			return nil, fmt.Errorf("series %s has %d values for %d sampling instants", name, len(xs), samples)
		}
		out[name] = xs
	}
	return out, nil
}

// Of returns the numbers of one priority: "" or "all", "urgent", "normal".
func (s Scope) Of(priority string) (Numbers, error) {
	switch priority {
	case "", "all":
		return s.All, nil
	case "urgent":
		return s.Urgent, nil
	case "normal":
		return s.Normal, nil
	}
	return nil, fmt.Errorf("priority %q: want all, urgent or normal", priority)
}
