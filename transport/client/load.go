package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/ocluster-go/ocluster/runners/synthetic"
	"github.com/ocluster-go/ocluster/trace"
)

// LoadConfig is a workload to play against a live scheduler: the submit
// and cancel events of a trace (a simulated run of a scenario, or a
// recording), played at Speed times their pace.
type LoadConfig struct {
	// Clients holds each client's submission client, by name.
	Clients map[string]*Submission
	// Events are trace events in time order; Submit and Cancel are played,
	// the others ignored.
	Events []trace.Event
	// Speed divides the events' times (and so multiplies the rate).
	Speed float64
	// Start is the instant of the events' t = 0 (zero: when Load is
	// called).
	Start time.Time
}

// LoadCounts are what became of one client's jobs.
type LoadCounts struct {
	Submitted int `json:"submitted"`
	Finished  int `json:"finished"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	// Refused counts submissions the scheduler did not accept.
	Refused int `json:"refused"`
}

// Load submits the workload as real clients would: each job is a Docker
// build (any worker of the testbed accepts it) with the event's cache
// hint and priority, carrying what the simulator drew for it (see
// synthetic.NewJob); its log is tailed to the end and its result awaited;
// a cancel event, or its cancel_after, cancels its ticket. It returns when every job has ended,
// or ctx ends (jobs still going are then released, which cancels them).
// A client named by an event but missing from Clients is an error before
// anything is submitted.
func Load(ctx context.Context, cfg LoadConfig, progress func(map[string]LoadCounts)) (map[string]LoadCounts, error) {
	if cfg.Speed <= 0 {
		return nil, fmt.Errorf("speed %v: must be more than 0", cfg.Speed)
	}
	for _, e := range cfg.Events {
		if _, ok := cfg.Clients[e.Client]; e.Kind == trace.Submit && !ok {
			return nil, fmt.Errorf("the workload submits as client %q, which has no submission capability", e.Client)
		}
	}
	l := &load{counts: map[string]*LoadCounts{}, tickets: map[uint64]*loadTicket{}}
	for name := range cfg.Clients {
		l.counts[name] = &LoadCounts{}
	}
	start := cfg.Start
	if start.IsZero() {
		start = time.Now()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var cancels []*time.Timer
	defer func() {
		for _, c := range cancels {
			c.Stop()
		}
	}()
	for _, e := range cfg.Events {
		if e.Kind != trace.Submit && e.Kind != trace.Cancel {
			continue
		}
		at := start.Add(scaled(e.T, cfg.Speed))
		select {
		case <-ctx.Done():
			return l.snapshot(), ctx.Err()
		case <-time.After(time.Until(at)):
		}
		switch e.Kind {
		case trace.Submit:
			t := &loadTicket{cancelled: make(chan struct{})}
			l.mu.Lock()
			l.tickets[e.Job] = t
			l.counts[e.Client].Submitted++
			l.mu.Unlock()
			if e.CancelAfter > 0 {
				cancels = append(cancels, time.AfterFunc(time.Until(at.Add(scaled(e.CancelAfter, cfg.Speed))), t.cancel))
			}
			// The submission is sent here, in the order of the events:
			// on one client's connection the scheduler takes them in that
			// order, as the simulator did.
			job := synthetic.NewJob(fmt.Sprintf("%s job %d", e.Client, e.Job), e.Hint,
				synthetic.Draw{Job: e.Job, Client: e.Client, Stream: e.Stream, Size: e.Size})
			submitted := cfg.Clients[e.Client].send(ctx, e.Pool, job, e.Urgent)
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.run(ctx, e, submitted, t)
				if progress != nil {
					progress(l.snapshot())
				}
			}()
		case trace.Cancel:
			l.mu.Lock()
			t := l.tickets[e.Job]
			l.mu.Unlock()
			if t != nil {
				t.cancel()
			}
		}
	}
	wg.Wait()
	return l.snapshot(), nil
}

// scaled is a span of scenario seconds played at speed.
func scaled(seconds, speed float64) time.Duration {
	return time.Duration(seconds / speed * float64(time.Second))
}

type load struct {
	mu      sync.Mutex
	counts  map[string]*LoadCounts
	tickets map[uint64]*loadTicket
}

// loadTicket lets a cancel event reach a job whose submission may still
// be on its way.
type loadTicket struct {
	once      sync.Once
	cancelled chan struct{}
}

func (t *loadTicket) cancel() { t.once.Do(func() { close(t.cancelled) }) }

func (l *load) snapshot() map[string]LoadCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]LoadCounts, len(l.counts))
	for k, v := range l.counts {
		out[k] = *v
	}
	return out
}

func (l *load) count(client string, f func(*LoadCounts)) {
	l.mu.Lock()
	f(l.counts[client])
	l.mu.Unlock()
}

func (l *load) run(ctx context.Context, e trace.Event, submitted func() (*Job, error), t *loadTicket) {
	job, err := submitted()
	if err != nil {
		l.count(e.Client, func(c *LoadCounts) { c.Refused++ })
		return
	}
	defer job.Release()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-t.cancelled:
			_ = job.Cancel(ctx)
		case <-done:
		}
	}()
	if err = job.Tail(ctx, io.Discard); err == nil {
		_, err = job.Result(ctx)
	}
	cancelled := false
	select {
	case <-t.cancelled:
		cancelled = true
	default:
	}
	l.count(e.Client, func(c *LoadCounts) {
		switch {
		case err == nil:
			c.Finished++
		case cancelled || errors.Is(err, context.Canceled):
			c.Cancelled++
		default:
			c.Failed++
		}
	})
}

// LoadClients lists the clients a workload submits as, sorted.
func LoadClients(events []trace.Event) []string {
	var names []string
	for _, e := range events {
		if e.Kind == trace.Submit && !slices.Contains(names, e.Client) {
			names = append(names, e.Client)
		}
	}
	slices.Sort(names)
	return names
}
