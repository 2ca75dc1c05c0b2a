package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"gonum.org/v1/gonum/stat/distuv"
)

// Duration is a length of virtual time in seconds. In a scenario file it
// is written as Go writes durations ("15s", "1h30m", "2d" for days too) or
// as a bare number of seconds.
type Duration float64

// Seconds returns the duration as seconds.
func (d Duration) Seconds() float64 { return float64(d) }

func (d Duration) String() string {
	return time.Duration(float64(d) * float64(time.Second)).String()
}

// ParseDuration reads "15s", "1h30m", "2d" or a number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return 0, fmt.Errorf("duration %q must be a finite number of seconds, 0 or more", s)
		}
		return Duration(x), nil
	}
	days := 0.0
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: want e.g. 90s, 15m, 1h30m or 2d", s)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil || rest < 0 {
			return 0, fmt.Errorf("duration %q: want e.g. 90s, 15m, 1h30m or 2d", s)
		}
	}
	return Duration(days*86400 + rest.Seconds()), nil
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 15m", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration to the nearest nanosecond, so that a
// written 16.287 s reads back as 16.287s, not 16.286999999s.
func (d Duration) MarshalYAML() (any, error) {
	return time.Duration(math.Round(float64(d) * float64(time.Second))).String(), nil
}

// Dist is a distribution of durations. Every job draws one uniform number
// u when it is generated, and its duration on a worker is the quantile of
// that worker's distribution at u: two policies run on the same seed see
// the same jobs.
type Dist struct {
	Kind   string     `yaml:"dist" json:"dist"`
	Value  Duration   `yaml:"value,omitempty" json:"value,omitempty"`
	Min    Duration   `yaml:"min,omitempty" json:"min,omitempty"`
	Max    Duration   `yaml:"max,omitempty" json:"max,omitempty"`
	Mean   Duration   `yaml:"mean,omitempty" json:"mean,omitempty"`
	Median Duration   `yaml:"median,omitempty" json:"median,omitempty"`
	Sigma  float64    `yaml:"sigma,omitempty" json:"sigma,omitempty"`
	Values []Duration `yaml:"values,omitempty" json:"values,omitempty"`

	sorted []Duration
}

// FixedDist is a distribution that always gives d.
func FixedDist(d Duration) Dist { return Dist{Kind: "fixed", Value: d} }

var distFields = map[string][]string{
	"fixed":       {"value"},
	"uniform":     {"min", "max"},
	"exponential": {"mean"},
	"lognormal":   {"median", "sigma"},
	"empirical":   {"values"},
}

// UnmarshalYAML accepts "15m" for a fixed duration, or a mapping such as
// {dist: lognormal, median: 10m, sigma: 0.5}.
func (d *Dist) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v, err := ParseDuration(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		*d = FixedDist(v)
		return nil
	}
	kind, err := mappingKind(n, "dist", distFields)
	if err != nil {
		return err
	}
	type plain Dist
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*d = Dist(p)
	d.Kind = kind
	return d.validate(n.Line)
}

func (d *Dist) validate(line int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("line %d: %s distribution: %s", line, d.Kind, fmt.Sprintf(format, args...))
	}
	switch d.Kind {
	case "fixed":
	case "uniform":
		if d.Max < d.Min {
			return bad("max %v is below min %v", d.Max, d.Min)
		}
	case "exponential":
		if d.Mean <= 0 {
			return bad("mean must be more than 0")
		}
	case "lognormal":
		if d.Median <= 0 || d.Sigma < 0 || math.IsNaN(d.Sigma) || math.IsInf(d.Sigma, 0) {
			return bad("median must be more than 0 and sigma 0 or more")
		}
	case "empirical":
		if len(d.Values) == 0 {
			return bad("values must list at least one duration")
		}
	default:
		return fmt.Errorf("line %d: unknown distribution %q: choose one of fixed, uniform, exponential, lognormal, empirical", line, d.Kind)
	}
	return nil
}

// Quantile is the duration at probability u in [0, 1).
func (d *Dist) Quantile(u float64) float64 {
	switch d.Kind {
	case "fixed":
		return d.Value.Seconds()
	case "uniform":
		return d.Min.Seconds() + u*(d.Max-d.Min).Seconds()
	case "exponential":
		return -d.Mean.Seconds() * math.Log1p(-u)
	case "lognormal":
		return d.Median.Seconds() * math.Exp(d.Sigma*distuv.UnitNormal.Quantile(clampOpen(u)))
	case "empirical":
		if d.sorted == nil {
			d.sorted = slices.Clone(d.Values)
			slices.Sort(d.sorted)
		}
		i := min(int(u*float64(len(d.sorted))), len(d.sorted)-1)
		return d.sorted[i].Seconds()
	}
	return 0
}

// Mean is the distribution's expected value in seconds.
func (d *Dist) MeanSeconds() float64 {
	switch d.Kind {
	case "fixed":
		return d.Value.Seconds()
	case "uniform":
		return (d.Min + d.Max).Seconds() / 2
	case "exponential":
		return d.Mean.Seconds()
	case "lognormal":
		return d.Median.Seconds() * math.Exp(d.Sigma*d.Sigma/2)
	case "empirical":
		sum := 0.0
		for _, v := range d.Values {
			sum += v.Seconds()
		}
		return sum / float64(len(d.Values))
	}
	return 0
}

func clampOpen(u float64) float64 { return min(max(u, 1e-12), 1-1e-12) }

// Count is a distribution of whole numbers: how many units a batch holds.
type Count struct {
	Kind string  `yaml:"dist" json:"dist"`
	N    int     `yaml:"n,omitempty" json:"n,omitempty"`
	Min  int     `yaml:"min,omitempty" json:"min,omitempty"`
	Max  int     `yaml:"max,omitempty" json:"max,omitempty"`
	Mean float64 `yaml:"mean,omitempty" json:"mean,omitempty"`
	// Values are an empirical distribution (kind empirical), drawn
	// uniformly: fit writes the batch sizes a trace shows this way when no
	// simpler count fits them.
	Values []int `yaml:"values,omitempty" json:"values,omitempty"`
}

// FixedCount always gives n.
func FixedCount(n int) Count { return Count{Kind: "fixed", N: n} }

var countFields = map[string][]string{
	"fixed":     {"n"},
	"uniform":   {"min", "max"},
	"poisson":   {"mean"},
	"empirical": {"values"},
}

// UnmarshalYAML accepts 7 for a fixed count, or a mapping such as
// {dist: uniform, min: 0, max: 299}.
func (c *Count) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < 0 {
			return fmt.Errorf("line %d: want a whole number 0 or more, or {dist: ...}, got %q", n.Line, n.Value)
		}
		*c = FixedCount(v)
		return nil
	}
	kind, err := mappingKind(n, "dist", countFields)
	if err != nil {
		return err
	}
	type plain Count
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = Count(p)
	c.Kind = kind
	switch {
	case kind == "fixed" && c.N < 0, kind == "uniform" && (c.Min < 0 || c.Max < c.Min), kind == "poisson" && !(c.Mean >= 0),
		kind == "empirical" && (len(c.Values) == 0 || slices.Min(c.Values) < 0):
		return fmt.Errorf("line %d: %s count: values must be 0 or more (and max not below min)", n.Line, kind)
	}
	return nil
}

// Sample draws a count.
func (c *Count) Sample(rng *rand.Rand) int {
	switch c.Kind {
	case "uniform":
		return c.Min + rng.IntN(c.Max-c.Min+1)
	case "poisson":
		return int(distuv.Poisson{Lambda: c.Mean, Src: rng}.Rand())
	case "empirical":
		return c.Values[rng.IntN(len(c.Values))]
	}
	return c.N
}

func (c *Count) canBeZero() bool {
	switch c.Kind {
	case "uniform":
		return c.Min == 0
	case "poisson":
		return true
	case "empirical":
		return slices.Contains(c.Values, 0)
	}
	return c.N == 0
}

// MeanValue is the expected count.
func (c *Count) MeanValue() float64 {
	switch c.Kind {
	case "uniform":
		return float64(c.Min+c.Max) / 2
	case "poisson":
		return c.Mean
	case "empirical":
		sum := 0
		for _, v := range c.Values {
			sum += v
		}
		return float64(sum) / float64(len(c.Values))
	}
	return float64(c.N)
}

// mappingKind checks a mapping node that selects its variant with the key
// discriminator, and refuses keys the variant does not take.
func mappingKind(n *yaml.Node, discriminator string, variants map[string][]string) (string, error) {
	if n.Kind != yaml.MappingNode {
		return "", fmt.Errorf("line %d: want a mapping with %q", n.Line, discriminator)
	}
	kind := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == discriminator {
			kind = n.Content[i+1].Value
		}
	}
	allowed, ok := variants[kind]
	if !ok {
		names := make([]string, 0, len(variants))
		for k := range variants {
			names = append(names, k)
		}
		slices.Sort(names)
		return "", fmt.Errorf("line %d: %s: %q is not one of %s", n.Line, discriminator, kind, strings.Join(names, ", "))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		if key.Value != discriminator && !slices.Contains(allowed, key.Value) {
			return "", fmt.Errorf("line %d: %s %q does not take %q (it takes %s)", key.Line, discriminator, kind, key.Value, strings.Join(allowed, ", "))
		}
	}
	return kind, nil
}
