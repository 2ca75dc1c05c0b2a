// Package policyflag adds the flags that override a policy's settings to
// the commands that run the scheduling core.
package policyflag

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/ocluster-go/ocluster/core"
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
}

// Add defines --max-attempts, --lease, --half-life, --cache-limit,
// --cache-age and --trust-prunes on fs.
func Add(fs *pflag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.IntVar(&f.maxAttempts, "max-attempts", 0, "times a job may be taken by a worker before losing its worker fails it (default: the policy's; 1: never retried)")
	fs.DurationVar(&f.lease, "lease", 0, "how long a connected worker may go without answering before it counts as lost (default: the policy's; 0s: never)")
	fs.DurationVar(&f.halfLife, "half-life", 0, "how long it takes a client's lead in fair start to halve (default: the policy's; 0s: never forgotten)")
	fs.IntVar(&f.cacheLimit, "cache-limit", 0, "hints the cache index remembers per worker, forgetting the least recently used (default: the policy's; 0: no bound)")
	fs.DurationVar(&f.cacheAge, "cache-age", 0, "how long the cache index trusts a hint a worker has not run since (default: the policy's; 0s: for ever)")
	fs.BoolVar(&f.trustPrunes, "trust-prunes", false, "make the cache index forget what workers report they pruned (default: the policy's)")
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
