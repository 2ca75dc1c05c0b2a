package scenario

import (
	"errors"
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
	for _, key := range settingKeys {
		text, ok := a.opts[key]
		if !ok {
			continue
		}
		var err error
		want := "a number of seconds"
		switch key {
		case "max-attempts":
			o.MaxAttempts, err = parsed(strconv.Atoi, text)
			want = "a whole number"
		case "cache-limit":
			o.CacheLimit, err = parsed(strconv.Atoi, text)
			want = "a whole number"
		case "lease":
			o.Lease, err = parsed(seconds, text)
		case "half-life":
			o.HalfLife, err = parsed(seconds, text)
		case "cache-age":
			o.CacheAge, err = parsed(seconds, text)
		case "trust-prunes":
			o.TrustPrunes, err = parsed(strconv.ParseBool, text)
			want = "true or false"
		case "steal":
			o.Steal, err = parsed(strconv.ParseBool, text)
			want = "true or false"
		}
		if err != nil {
			return fmt.Errorf("line %d: %s=%q is not %s", a.line, key, text, want)
		}
	}
	return nil
}

// parsed is parse's value of text, to point an Override's field at.
func parsed[T any](parse func(string) (T, error), text string) (*T, error) {
	v, err := parse(text)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func seconds(text string) (float64, error) {
	x, ok := finite(text)
	if !ok {
		return 0, errors.New("not a finite number")
	}
	return x, nil
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
