package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Param is one axis of a sweep: a path into the scenario and the values it
// takes. Paths use dots and brackets; a bracket holds an index or the name
// of a list element: pools[linux-x86_64].workers[0].capacity.
type Param struct {
	Path   string   `json:"path"`
	Values []string `json:"values"`
}

// ParseParam reads "path=v1,v2,...".
func ParseParam(s string) (Param, error) {
	path, values, ok := strings.Cut(s, "=")
	if !ok || path == "" || values == "" {
		return Param{}, fmt.Errorf("--set %q: want PATH=VALUE[,VALUE...], e.g. pools[0].workers[0].capacity=2,4,8", s)
	}
	return Param{Path: path, Values: strings.Split(values, ",")}, nil
}

// Setting is one value given to one path.
type Setting struct {
	Path  string `json:"path"`
	Value string `json:"value"`
}

// Grid is the cartesian product of the params' values, the last param
// varying fastest.
func Grid(params []Param) [][]Setting {
	combos := [][]Setting{nil}
	for _, p := range params {
		var next [][]Setting
		for _, c := range combos {
			for _, v := range p.Values {
				next = append(next, append(slices.Clone(c), Setting{p.Path, v}))
			}
		}
		combos = next
	}
	return combos
}

// Apply sets each path of a scenario's source to its value and loads the
// result, so the values go through the scenario's own checks.
func Apply(name string, source []byte, settings []Setting) (*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(source, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, s := range settings {
		if err := setPath(&doc, s.Path, s.Value); err != nil {
			return nil, fmt.Errorf("%s: --set %s=%s: %w", name, s.Path, s.Value, err)
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	return LoadScenario(name, out)
}

func splitPath(path string) []string {
	path = strings.ReplaceAll(path, "[", ".")
	path = strings.ReplaceAll(path, "]", "")
	return strings.Split(strings.Trim(path, "."), ".")
}

func setPath(doc *yaml.Node, path, value string) error {
	n := doc
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	parts := splitPath(path)
	for i, part := range parts {
		last := i == len(parts)-1
		switch n.Kind {
		case yaml.MappingNode:
			var child *yaml.Node
			for k := 0; k+1 < len(n.Content); k += 2 {
				if n.Content[k].Value == part {
					child = n.Content[k+1]
				}
			}
			if child == nil {
				if !last {
					return fmt.Errorf("no field %q at %s", part, strings.Join(parts[:i], "."))
				}
				child = &yaml.Node{Kind: yaml.ScalarNode}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: part}, child)
			}
			n = child
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(part)
			if err != nil {
				idx = -1
				for k, el := range n.Content {
					if el.Kind == yaml.MappingNode {
						for f := 0; f+1 < len(el.Content); f += 2 {
							if el.Content[f].Value == "name" && el.Content[f+1].Value == part {
								idx = k
							}
						}
					}
				}
				if idx < 0 {
					return fmt.Errorf("no element named %q at %s", part, strings.Join(parts[:i], "."))
				}
			}
			if idx < 0 || idx >= len(n.Content) {
				return fmt.Errorf("index %d out of range at %s (it has %d)", idx, strings.Join(parts[:i], "."), len(n.Content))
			}
			n = n.Content[idx]
		default:
			return fmt.Errorf("%s is a value, not a mapping or a list", strings.Join(parts[:i], "."))
		}
	}
	if n.Kind != yaml.ScalarNode && n.Kind != 0 {
		return fmt.Errorf("%s is a mapping or a list; a sweep sets single values", path)
	}
	var parsed yaml.Node
	if err := yaml.Unmarshal([]byte(value), &parsed); err != nil || len(parsed.Content) != 1 {
		*n = yaml.Node{Kind: yaml.ScalarNode, Value: value}
		return nil
	}
	*n = *parsed.Content[0]
	return nil
}

// SweepPlan is a whole sweep: every combination of the params, under every
// policy, on every seed. Items are numbered in that order.
type SweepPlan struct {
	Scenario string   `json:"scenario"`
	Params   []Param  `json:"params"`
	Policies []string `json:"policies"`
	Seeds    []uint64 `json:"seeds"`
}

// Items is the number of runs in the sweep.
func (p *SweepPlan) Items() int {
	return len(Grid(p.Params)) * len(p.Policies) * len(p.Seeds)
}

// Item decodes item k into its combination, policy and seed.
func (p *SweepPlan) Item(k int) (combo int, policy string, seed uint64) {
	seeds, policies := len(p.Seeds), len(p.Policies)
	return k / (seeds * policies), p.Policies[(k/seeds)%policies], p.Seeds[k%seeds]
}

// Fingerprint identifies the sweep, so that shards of different sweeps
// are never merged.
func (p *SweepPlan) Fingerprint() string {
	b, _ := json.Marshal(p)
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

// Shard is the part i (1..n) of a sweep spread over n machines: the items
// k with k mod n = i-1.
type Shard struct{ I, N int }

// ParseShard reads "i/n".
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 1 <= i <= n, e.g. 3/10", s)
	}
	return Shard{i, n}, nil
}

// The environment that "--shard env" reads, as a Kubernetes Indexed Job
// gives it: the Job sets ShardIndexEnv in every pod (0-based, so shard
// index+1 of n runs), and the manifest sets ShardCountEnv to the Job's
// completions.
const (
	ShardIndexEnv = "JOB_COMPLETION_INDEX"
	ShardCountEnv = "SHARD_COUNT"
)

// ShardFromEnv reads the shard from the environment through getenv (such
// as os.Getenv): ShardIndexEnv, 0 to n-1, and ShardCountEnv, n >= 1. The
// index is 0-based as Kubernetes numbers completions, and becomes shard
// index+1 of n.
func ShardFromEnv(getenv func(string) string) (Shard, error) {
	countText := strings.TrimSpace(getenv(ShardCountEnv))
	if countText == "" {
		return Shard{}, fmt.Errorf("--shard env: %s is not set; set it to the number of shards (an Indexed Job's completions)", ShardCountEnv)
	}
	n, err := strconv.Atoi(countText)
	if err != nil || n < 1 {
		return Shard{}, fmt.Errorf("--shard env: %s=%q is not a number of shards; set it to a whole number >= 1 (an Indexed Job's completions)", ShardCountEnv, countText)
	}
	indexText := strings.TrimSpace(getenv(ShardIndexEnv))
	if indexText == "" {
		return Shard{}, fmt.Errorf("--shard env: %s is not set; an Indexed Job (completionMode: Indexed) sets it, elsewhere set it to this shard's index, 0 to %d", ShardIndexEnv, n-1)
	}
	i, err := strconv.Atoi(indexText)
	if err != nil || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("--shard env: %s=%q is not a shard index from 0 to %d (%s=%d); is %s the Job's completions?", ShardIndexEnv, indexText, n-1, ShardCountEnv, n, ShardCountEnv)
	}
	return Shard{I: i + 1, N: n}, nil
}

// Owns reports whether item k belongs to the shard.
func (s Shard) Owns(k int) bool { return k%s.N == s.I-1 }

// SweepRecord is one run of a sweep, one JSON line of a shard's output.
type SweepRecord struct {
	Sweep    string             `json:"sweep"`
	Item     int                `json:"item"`
	Items    int                `json:"items"`
	Settings []Setting          `json:"settings"`
	Policy   string             `json:"policy"`
	Seed     uint64             `json:"seed"`
	Metrics  map[string]float64 `json:"metrics"`
}

// Record summarises a run of item k of the plan.
func (p *SweepPlan) Record(k int, r *Result) SweepRecord {
	combo, policy, seed := p.Item(k)
	rec := SweepRecord{Sweep: p.Fingerprint(), Item: k, Items: p.Items(), Settings: Grid(p.Params)[combo], Policy: policy, Seed: seed, Metrics: map[string]float64{}}
	for _, m := range Metrics {
		rec.Metrics[m.Name] = m.Of(r)
	}
	return rec
}

// SweepRow is one combination under one policy, merged over its seeds.
type SweepRow struct {
	Settings []Setting           `json:"settings"`
	Policy   string              `json:"policy"`
	Metrics  map[string]Estimate `json:"metrics"`
}

// Merge reads the records of every shard of one sweep, checks that each
// item is there exactly once, and aggregates them per combination and
// policy.
func Merge(inputs []io.Reader) ([]SweepRow, error) {
	var records []SweepRecord
	sweep, items := "", -1
	for n, in := range inputs {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		line := 0
		for sc.Scan() {
			line++
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var r SweepRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return nil, fmt.Errorf("input %d line %d: %w", n+1, line, err)
			}
			if sweep == "" {
				sweep, items = r.Sweep, r.Items
			}
			if r.Sweep != sweep || r.Items != items {
				return nil, fmt.Errorf("input %d line %d: a record of another sweep (%s, not %s)", n+1, line, r.Sweep, sweep)
			}
			records = append(records, r)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("input %d: %w", n+1, err)
		}
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("no sweep records to merge")
	}
	seen := make([]bool, items)
	for _, r := range records {
		if r.Item < 0 || r.Item >= items {
			return nil, fmt.Errorf("item %d is outside the sweep's %d items", r.Item, items)
		}
		if seen[r.Item] {
			return nil, fmt.Errorf("item %d appears twice: were shards overlapping or merged twice?", r.Item)
		}
		seen[r.Item] = true
	}
	var missing []int
	for k, ok := range seen {
		if !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d of %d items are missing (first: %v): is a shard's output absent?", len(missing), items, missing[:min(len(missing), 10)])
	}
	slices.SortFunc(records, func(a, b SweepRecord) int { return a.Item - b.Item })
	var rows []SweepRow
	index := map[string]int{}
	values := map[int]map[string][]float64{}
	for _, r := range records {
		key, _ := json.Marshal([]any{r.Settings, r.Policy})
		i, ok := index[string(key)]
		if !ok {
			i = len(rows)
			index[string(key)] = i
			rows = append(rows, SweepRow{Settings: r.Settings, Policy: r.Policy})
			values[i] = map[string][]float64{}
		}
		for name, v := range r.Metrics {
			values[i][name] = append(values[i][name], v)
		}
	}
	for i := range rows {
		rows[i].Metrics = map[string]Estimate{}
		for name, vs := range values[i] {
			rows[i].Metrics[name] = estimate(vs)
		}
	}
	return rows, nil
}
