package scenario

import (
	"fmt"
	"strconv"

	"github.com/ocluster-go/ocluster/core"
)

// settingKeys are the policy settings a script may override, named as the
// commands' flags name them; durations are plain seconds, as in advance.
var settingKeys = []string{"max-attempts", "lease", "half-life", "cache-limit", "cache-age", "trust-prunes", "steal"}

// choosePolicy runs "policy NAME [setting=value...]", which comes before
// "pool" so that the whole script runs under one policy.
func (r *runner) choosePolicy(c *command) error {
	if r.sched != nil {
		return fmt.Errorf("line %d: policy comes before \"pool NAME\": the pool runs under one policy from its start", c.line)
	}
	a, err := parseArgs(c, 1, false, settingKeys, nil)
	if err != nil {
		return err
	}
	r.policy = a.pos[0]
	return applySettings(&r.set, a)
}

// applySettings sets in o the settings a gives. Their values are checked
// by the core when it starts.
func applySettings(o *core.Override, a *args) error {
	bad := func(key, want string) error {
		return fmt.Errorf("line %d: %s=%q is not %s", a.line, key, a.opts[key], want)
	}
	for _, key := range settingKeys {
		text, ok := a.opts[key]
		if !ok {
			continue
		}
		switch key {
		case "max-attempts", "cache-limit":
			n, err := strconv.Atoi(text)
			if err != nil {
				return bad(key, "a whole number")
			}
			if key == "max-attempts" {
				o.MaxAttempts = &n
			} else {
				o.CacheLimit = &n
			}
		case "lease", "half-life", "cache-age":
			x, ok := finite(text)
			if !ok {
				return bad(key, "a number of seconds")
			}
			switch key {
			case "lease":
				o.Lease = &x
			case "half-life":
				o.HalfLife = &x
			default:
				o.CacheAge = &x
			}
		default: // trust-prunes, steal
			b, err := strconv.ParseBool(text)
			if err != nil {
				return bad(key, "true or false")
			}
			if key == "steal" {
				o.Steal = &b
			} else {
				o.TrustPrunes = &b
			}
		}
	}
	return nil
}

// oracle is what the ideal policy knows: a job runs for its takes= (the
// uncached cost when not given) times the pace= of the worker that runs it.
type oracle struct{ r *runner }

func (o oracle) Duration(t *core.Ticket, worker string) float64 {
	takes, ok := t.Job().Payload.(float64)
	if !ok {
		takes = o.r.costs.Uncached
	}
	pace, ok := o.r.paces[worker]
	if !ok {
		pace = 1
	}
	return takes * pace
}
