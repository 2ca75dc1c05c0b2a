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
}

func newSFQ() *sfqPolicy { return &sfqPolicy{} }

// sfqClient is a client's last finish tag (0 for a newcomer) and when it
// was last charged.
type sfqClient struct {
	finish, charged float64
}

func (s *sfqPolicy) FairStart(p PoolView, t *Ticket, cost, rate float64) float64 {
	state := p.ClientState(t)
	c, _ := (*state).(*sfqClient)
	if c == nil {
		c = &sfqClient{charged: p.Now()}
		*state = c
	}
	start := max(s.virtual, decayed(p, &c.charged, c.finish, s.virtual))
	c.finish = start + cost/rate
	return start
}

func (s *sfqPolicy) FairNow(PoolView) float64 { return s.virtual }

func (s *sfqPolicy) Started(_ PoolView, t *Ticket) {
	s.virtual = max(s.virtual, t.FairStart())
}
