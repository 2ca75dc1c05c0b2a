// Package policyflag adds the flags that override a policy's settings to
// the commands that run the scheduling core.
package policyflag

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
)

// Flags are the override flags of one command.
type Flags struct {
	fs          *pflag.FlagSet
	maxAttempts int
	lease       time.Duration
	halfLife    time.Duration
	cacheLimit  int
	cacheAge    time.Duration
	trustPrunes bool
	steal       bool
}

// Add defines --max-attempts, --lease, --half-life, --cache-limit,
// --cache-age, --trust-prunes and --steal on fs.
func Add(fs *pflag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.IntVar(&f.maxAttempts, "max-attempts", 0, "times a job may be taken by a worker before losing its worker fails it (default: the policy's; 1: never retried)")
	fs.DurationVar(&f.lease, "lease", 0, "how long a connected worker may go without answering before it counts as lost (default: the policy's; 0s: never)")
	fs.DurationVar(&f.halfLife, "half-life", 0, "how long it takes a client's lead in fair start to halve (default: the policy's; 0s: never forgotten)")
	fs.IntVar(&f.cacheLimit, "cache-limit", 0, "hints the cache index remembers per worker, forgetting the least recently used (default: the policy's; 0: no bound)")
	fs.DurationVar(&f.cacheAge, "cache-age", 0, "how long the cache index trusts a hint a worker has not run since (default: the policy's; 0s: for ever)")
	fs.BoolVar(&f.trustPrunes, "trust-prunes", false, "make the cache index forget what workers report they pruned (default: the policy's)")
	fs.BoolVar(&f.steal, "steal", false, "let a worker with nothing queued take the next job queued on a busier one, where the policy can choose it (default: the policy's)")
	return f
}

// Override returns the settings given on the command line.
func (f *Flags) Override() (core.Override, error) {
	var o core.Override
	if f.fs.Changed("max-attempts") {
		if f.maxAttempts < 1 {
			return o, fmt.Errorf("--max-attempts %d: must be 1 or more", f.maxAttempts)
		}
		o.MaxAttempts = &f.maxAttempts
	}
	if f.fs.Changed("cache-limit") {
		if f.cacheLimit < 0 {
			return o, fmt.Errorf("--cache-limit %d: must be 0 (no bound) or more", f.cacheLimit)
		}
		o.CacheLimit = &f.cacheLimit
	}
	if f.fs.Changed("trust-prunes") {
		o.TrustPrunes = &f.trustPrunes
	}
	if f.fs.Changed("steal") {
		o.Steal = &f.steal
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		to   **float64
	}{{"lease", f.lease, &o.Lease}, {"half-life", f.halfLife, &o.HalfLife}, {"cache-age", f.cacheAge, &o.CacheAge}} {
		if !f.fs.Changed(d.name) {
			continue
		}
		if d.v < 0 {
			return o, fmt.Errorf("--%s %v: must be 0 or more", d.name, d.v)
		}
		s := d.v.Seconds()
		*d.to = &s
	}
	return o, nil
}

// Known checks that a policy of that name is registered, naming the ones
// that are when it is not.
func Known(name string) error {
	for _, p := range core.Policies() {
		if p.Name == name {
			return nil
		}
	}
	return fmt.Errorf("unknown policy %q: choose one of %s (ocluster-sim policies describes them)", name, strings.Join(names(), ", "))
}

func names() []string {
	var names []string
	for _, p := range core.Policies() {
		names = append(names, p.Name)
	}
	return names
}

// AddPolicy defines --policy on fs, its help saying what the policy is
// for (what) and naming every policy. The placeholder is NAME: pflag takes
// the first backquoted word of a flag's help as its placeholder, so a
// command quoted there (`ocluster-sim policies`) showed as
// "--policy ocluster-sim policies".
func AddPolicy(fs *pflag.FlagSet, p *string, value, what string) {
	fs.StringVar(p, "policy", value, fmt.Sprintf("the %s, by `NAME`: %s (ocluster-sim policies describes them)", what, strings.Join(names(), ", ")))
}

// ParseVariant reads a variant, written NAME[+SETTING=VALUE...] with the
// settings named as the flags are, e.g. combined+lease=0s+max-attempts=1,
// checking the policy and every setting.
func ParseVariant(spec string) (sim.Variant, error) {
	parts := strings.Split(spec, "+")
	v := sim.Variant{Spec: spec, Policy: parts[0]}
	if err := Known(v.Policy); err != nil {
		if spec == v.Policy {
			return v, err
		}
		return v, fmt.Errorf("%s: %w", spec, err)
	}
	fs := pflag.NewFlagSet(spec, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Add(fs)
	var args []string
	for _, setting := range parts[1:] {
		name, _, ok := strings.Cut(setting, "=")
		if !ok || fs.Lookup(name) == nil {
			return v, fmt.Errorf("%q in %q: want SETTING=VALUE with SETTING one of %s", setting, spec, settingNames(fs))
		}
		args = append(args, "--"+setting)
	}
	if err := fs.Parse(args); err != nil {
		return v, fmt.Errorf("%q: %w", spec, err)
	}
	o, err := f.Override()
	if err != nil {
		return v, fmt.Errorf("%q: %w", spec, err)
	}
	v.Override = o
	return v, nil
}

func settingNames(fs *pflag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return strings.Join(names, ", ")
}
