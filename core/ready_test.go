package core

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// takeChanges acknowledges the changes the core reported, as a driver that
// stores them does, and returns them.
func takeChanges(s *Scheduler) []Change {
	rd := s.Ready()
	changes := slices.Clone(rd.Changes)
	s.Advance(Ready{Changes: rd.Changes})
	return changes
}

// checkLeases checks the leases and acknowledges the workers found
// expired, as a driver that releases them does, and returns them.
func checkLeases(s *Scheduler) []*Worker {
	s.CheckLeases()
	rd := s.Ready()
	expired := slices.Clone(rd.Expired)
	s.Advance(Ready{Expired: rd.Expired})
	return expired
}

// Advance forgets what the driver acknowledged and nothing else: changes
// reported after the Ready, or left out of what is acknowledged, come
// again in the next one, in their order.
func TestAdvanceForgetsOnlyWhatWasAcknowledged(t *testing.T) {
	s, p, _ := newPolicyScheduler(t, "ocluster", Override{})
	require.NoError(t, s.AddClient("c"))
	rd := s.Ready()
	require.Equal(t, []Change{{Kind: ClientAdded, Client: "c"}}, rd.Changes)
	require.NoError(t, p.SetRate("c", 2))
	s.Advance(rd)
	require.Equal(t, []Change{{Kind: RateSet, Pool: "p", Client: "c", Rate: 2}}, s.Ready().Changes)

	require.NoError(t, s.AddClient("d"))
	rd = s.Ready()
	require.Len(t, rd.Changes, 2)
	s.Advance(Ready{Changes: rd.Changes[:1]})
	require.Equal(t, []Change{{Kind: ClientAdded, Client: "d"}}, s.Ready().Changes)
	s.Advance(s.Ready())
	require.True(t, s.Ready().Empty())
}

// Woken pops come in the order they were woken; those woken while the
// driver acts on a Ready come in the next one.
func TestReadyListsWokenPopsInOrder(t *testing.T) {
	s, p, _ := newPolicyScheduler(t, "ocluster", Override{})
	a := activeWorker(t, p, "a", 1)
	b := activeWorker(t, p, "b", 1)
	for _, w := range []*Worker{b, a} {
		got, err := w.Pop()
		require.NoError(t, err)
		require.Nil(t, got, "%s found a job in an empty pool", w.Name())
	}
	s.Advance(s.Ready())

	before := s.Ready()
	require.Empty(t, before.Woken)
	first := submit(t, p, "c", "")
	second := submit(t, p, "c", "")
	s.Advance(before)
	rd := s.Ready()
	require.Len(t, rd.Woken, 2, "a Ready taken before the wake must not acknowledge it")
	taken := map[*Ticket]bool{}
	for _, w := range rd.Woken {
		got, err := w.Resume()
		require.NoError(t, err)
		require.NotNil(t, got, "%s was woken for nothing", w.Name())
		taken[got] = true
	}
	assert.Equal(t, map[*Ticket]bool{first: true, second: true}, taken)
	s.Advance(rd)
	assert.Empty(t, s.Ready().Woken)

	// A pop resumed outside a Ready no longer waits: it is not listed.
	require.NoError(t, a.Finish(a.Running()[0]))
	got, err := a.Pop()
	require.NoError(t, err)
	require.Nil(t, got)
	submit(t, p, "c", "")
	got, err = a.Resume()
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Empty(t, s.Ready().Woken)
	require.NoError(t, s.CheckInvariants())
}

// A worker whose lease ran out is listed once, however many checks find
// it before the driver acts, and a released worker is not listed.
func TestCheckLeasesListsEachExpiredWorkerOnce(t *testing.T) {
	lease := 60.0
	s, p, clock := newPolicyScheduler(t, "combined", Override{Lease: &lease})
	a := activeWorker(t, p, "a", 1)
	b := activeWorker(t, p, "b", 1)
	clock.t += 30
	s.CheckLeases()
	require.Empty(t, s.Ready().Expired)
	b.Heartbeat(clock.t)
	clock.t += 40
	s.CheckLeases()
	s.CheckLeases()
	rd := s.Ready()
	require.Equal(t, []*Worker{a}, rd.Expired)
	a.Release()
	s.Advance(rd)
	clock.t += 60
	assert.Equal(t, []*Worker{b}, checkLeases(s))
}
