package core

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nonsensePolicy answers what no policy should: costs that are NaN,
// infinite or negative, fair starts that are not times, and workers that
// were released, paused, have no slots or are the thief itself. It is
// deterministic (its answers follow a counter), and registered for the
// package's tests: the random-operations test runs it.
type nonsensePolicy struct {
	n    uint64
	seen []WorkerView // every worker it was shown, released ones too
}

// strangerTarget is the worker the stranger and thief policies name.
var strangerTarget WorkerView

func init() {
	for _, r := range []registered{
		{PolicyInfo{Name: "nonsense", Description: "answers nonsense, for the core's tests", Settings: Settings{MaxAttempts: 2, Lease: 5, Steal: true}},
			func(Oracle) (Policy, error) { return &nonsensePolicy{}, nil }},
		{PolicyInfo{Name: "stranger-test", Description: "prefers whatever worker its test names", Settings: Settings{MaxAttempts: 1}},
			func(Oracle) (Policy, error) { return strangerPolicy{}, nil }},
		{PolicyInfo{Name: "thief-test", Description: "steals from whatever worker its test names", Settings: Settings{MaxAttempts: 1, Steal: true}},
			func(Oracle) (Policy, error) { return strangerPolicy{}, nil }},
	} {
		if err := Register(r.info, r.make); err != nil {
			panic(err)
		}
	}
}

func (n *nonsensePolicy) next(k uint64) uint64 {
	n.n++
	x := n.n * 0x9e3779b97f4a7c15
	return (x ^ x>>29) % k
}

func (n *nonsensePolicy) number(normal float64) float64 {
	return []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, normal, normal}[n.next(6)]
}

func (n *nonsensePolicy) worker(p PoolView, self WorkerView) WorkerView {
	for w := range p.Workers() {
		n.seen = append(n.seen, w)
	}
	switch n.next(4) {
	case 0:
		return WorkerView{}
	case 1:
		return self
	}
	if len(n.seen) == 0 {
		return WorkerView{}
	}
	return n.seen[n.next(uint64(len(n.seen)))]
}

func (n *nonsensePolicy) SubmitCost(PoolView, *Ticket, int) float64 { return n.number(3) }
func (n *nonsensePolicy) FairStart(p PoolView, _ *Ticket, _, _ float64) float64 {
	return n.number(p.Now())
}
func (n *nonsensePolicy) FairNow(p PoolView) float64 { return n.number(p.Now()) }
func (n *nonsensePolicy) PlacementCost(_ PoolView, _ *Ticket, w WorkerView, _ bool) float64 {
	n.seen = append(n.seen, w)
	return n.number(2)
}
func (n *nonsensePolicy) Prefer(p PoolView, _ *Ticket) WorkerView {
	return n.worker(p, WorkerView{})
}
func (n *nonsensePolicy) Steal(p PoolView, w WorkerView) WorkerView { return n.worker(p, w) }
func (n *nonsensePolicy) Started(PoolView, *Ticket)                 {}
func (n *nonsensePolicy) Finished(PoolView, *Ticket, float64)       {}
func (n *nonsensePolicy) Lost(PoolView, *Ticket)                    {}

// A policy that prefers a worker of another pool is refused, with the
// reason, and the job goes to the next idle worker of its own pool.
func TestPreferringAnotherPoolsWorkerIsRefused(t *testing.T) {
	clock := &fakeClock{t: 1}
	s, err := New(Config{Pools: []string{"x", "y"}, Policy: "stranger-test", Clock: clock.now}, nil)
	require.NoError(t, err)
	x, _ := s.Pool("x")
	y, _ := s.Pool("y")
	other, err := y.Register("other", 1)
	require.NoError(t, err)
	require.NoError(t, other.SetActive(true))
	strangerTarget = WorkerView{other}
	mine := activeWorker(t, x, "mine", 1)
	got, err := mine.Pop()
	require.NoError(t, err)
	require.Nil(t, got)

	j, err := x.Submit("c", Job{Hint: "h"}, false)
	require.NoError(t, err)
	assert.Equal(t, "mine", j.Worker())
	assert.Equal(t, 0, other.local.Len())
	require.ErrorIs(t, s.PolicyError(), ErrPolicyAnswer)
	assert.Contains(t, s.PolicyError().Error(), `Prefer chose "other" for job 1`)
	assert.Contains(t, s.PolicyError().Error(), `it is in pool "y"`)
	require.NoError(t, s.CheckInvariants())
}

// A policy that has a worker steal from itself, from a worker of another
// pool or from one with nothing queued is refused, and nothing is taken.
func TestStealingFromTheWrongWorkerIsRefused(t *testing.T) {
	clock := &fakeClock{t: 1}
	s, err := New(Config{Pools: []string{"x", "y"}, Policy: "thief-test", Clock: clock.now}, nil)
	require.NoError(t, err)
	x, _ := s.Pool("x")
	y, _ := s.Pool("y")
	thief := activeWorker(t, x, "thief", 1)
	busy := activeWorker(t, x, "busy", 1)
	other := activeWorker(t, y, "other", 1)
	for _, w := range []*Worker{thief, busy} {
		got, err := w.Pop()
		require.NoError(t, err)
		require.Nil(t, got)
	}
	// busy runs a job of hint h and has the next one queued.
	strangerTarget = WorkerView{busy}
	first, err := x.Submit("c", Job{Hint: "h"}, false)
	require.NoError(t, err)
	rd := s.Ready()
	require.Equal(t, []*Worker{busy}, rd.Woken)
	got, err := busy.Resume()
	require.NoError(t, err)
	require.Equal(t, first, got)
	s.Advance(rd)
	queued, err := x.Submit("c", Job{Hint: "h"}, false)
	require.NoError(t, err)
	require.Equal(t, "busy", queued.Worker())

	// repop has the thief's waiting pop run again, as a driver resumes it.
	repop := func() *Ticket {
		var taken *Ticket
		for _, active := range []bool{false, true} {
			require.NoError(t, thief.SetActive(active))
			for rd := s.Ready(); len(rd.Woken) > 0; rd = s.Ready() {
				for _, w := range rd.Woken {
					got, err := w.Resume()
					require.NoError(t, err)
					if w == thief && got != nil {
						taken = got
					}
				}
				s.Advance(rd)
			}
		}
		return taken
	}
	for _, tc := range []struct {
		victim *Worker
		why    string
	}{{thief, "the thief itself"}, {other, `it is in pool "y"`}} {
		s.policyErr = nil
		strangerTarget = WorkerView{tc.victim}
		assert.Nil(t, repop(), "nothing is taken")
		require.ErrorIs(t, s.PolicyError(), ErrPolicyAnswer)
		assert.Contains(t, s.PolicyError().Error(), tc.why)
		assert.Equal(t, "busy", queued.Worker())
		require.NoError(t, s.CheckInvariants())
	}

	s.policyErr = nil
	strangerTarget = WorkerView{busy}
	assert.Equal(t, queued, repop(), "a steal from the right worker is applied")
	assert.Equal(t, "thief", queued.Worker())
	assert.NoError(t, s.PolicyError())
}

// strangerPolicy prefers and steals from strangerTarget.
type strangerPolicy struct{}

func (s strangerPolicy) SubmitCost(PoolView, *Ticket, int) float64 { return 1 }
func (s strangerPolicy) FairStart(p PoolView, _ *Ticket, _, _ float64) float64 {
	return p.Now()
}
func (s strangerPolicy) FairNow(p PoolView) float64 { return p.Now() }
func (s strangerPolicy) PlacementCost(PoolView, *Ticket, WorkerView, bool) float64 {
	return 1
}
func (s strangerPolicy) Prefer(PoolView, *Ticket) WorkerView   { return strangerTarget }
func (s strangerPolicy) Steal(PoolView, WorkerView) WorkerView { return strangerTarget }
func (s strangerPolicy) Started(PoolView, *Ticket)             {}
func (s strangerPolicy) Finished(PoolView, *Ticket, float64)   {}
func (s strangerPolicy) Lost(PoolView, *Ticket)                {}

func TestRegisterRefusesBadPolicies(t *testing.T) {
	ok := func(Oracle) (Policy, error) { return oclusterPolicy{}, nil }
	good := Settings{MaxAttempts: 1}
	for _, tc := range []struct {
		name string
		info PolicyInfo
		make NewPolicy
		want error
	}{
		{"taken name", PolicyInfo{Name: "combined", Description: "again", Settings: good}, ok, ErrPolicyExists},
		{"empty name", PolicyInfo{Description: "x", Settings: good}, ok, ErrInvalidPolicy},
		{"upper case", PolicyInfo{Name: "Mine", Description: "x", Settings: good}, ok, ErrInvalidPolicy},
		{"variant syntax", PolicyInfo{Name: "mine+lease=1s", Description: "x", Settings: good}, ok, ErrInvalidPolicy},
		{"no description", PolicyInfo{Name: "mine", Settings: good}, ok, ErrInvalidPolicy},
		{"two lines", PolicyInfo{Name: "mine", Description: "a\nb", Settings: good}, ok, ErrInvalidPolicy},
		{"bad settings", PolicyInfo{Name: "mine", Description: "x"}, ok, ErrInvalidSetting},
		{"no constructor", PolicyInfo{Name: "mine", Description: "x", Settings: good}, nil, ErrInvalidPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, Register(tc.info, tc.make), tc.want)
		})
	}
	assert.NotContains(t, names(Policies()), "mine", "a refused policy is not listed")

	registerOnce(t, PolicyInfo{Name: "registered-test", Description: "OCluster's, under another name", Settings: good}, ok)
	assert.Contains(t, names(Policies()), "registered-test")
	s, err := New(Config{Pools: []string{"p"}, Policy: "registered-test", Clock: (&fakeClock{}).now}, nil)
	require.NoError(t, err)
	assert.Equal(t, "registered-test", s.Policy())

	registerOnce(t, PolicyInfo{Name: "nil-test", Description: "makes nothing", Settings: good},
		func(Oracle) (Policy, error) { return nil, nil })
	_, err = New(Config{Pools: []string{"p"}, Policy: "nil-test", Clock: (&fakeClock{}).now}, nil)
	assert.ErrorIs(t, err, ErrInvalidPolicy)
}

func names(infos []PolicyInfo) []string {
	var out []string
	for _, p := range infos {
		out = append(out, p.Name)
	}
	return out
}

// registerOnce registers a policy, or finds it registered by an earlier
// run of the same test (go test -count).
func registerOnce(t *testing.T, info PolicyInfo, make NewPolicy) {
	if err := Register(info, make); !errors.Is(err, ErrPolicyExists) {
		require.NoError(t, err)
	}
}
