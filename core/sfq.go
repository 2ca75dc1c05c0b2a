package core

// sfqPolicy is start-time fair queuing (Goyal, Vin and Cheng) in place of
// OCluster's VirtualClock. VirtualClock tags a job with real time: a client
// that queued a large batch while the pool was idle has tags far in the
// future, and once another client comes, the newcomer takes every
// dispatch until real time catches up (OCluster's health batch against
// ocaml-ci). Here tags are on a virtual time that advances with the jobs
// dispatched: a newcomer starts at the tag of the latest dispatch, level
// with the jobs the busy client has waiting, and from then on the two
// share by rate. Costs, placement and cache affinity are OCluster's.
type sfqPolicy struct {
	oclusterPolicy
	// virtual is the highest tag dispatched so far.
	virtual float64
	// finish is each client's last finish tag.
	finish map[*clientRecord]float64
}

func newSFQ() *sfqPolicy {
	return &sfqPolicy{finish: map[*clientRecord]float64{}}
}

func (s *sfqPolicy) fairStart(p *Pool, t *Ticket, cost, rate float64) float64 {
	start := max(s.virtual, decayed(p, t.client, s.finish[t.client], s.virtual))
	s.finish[t.client] = start + cost/rate
	return start
}

func (s *sfqPolicy) fairNow(*Pool) float64 { return s.virtual }

func (s *sfqPolicy) started(_ *Pool, t *Ticket) {
	s.virtual = max(s.virtual, t.fairStart)
}
