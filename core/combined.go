package core

// combinedPolicy is the default: what measured better than OCluster in the
// simulator, together. Run times are learned and affinity is load-aware
// (adaptive); a worker with a free slot takes the next job of the most
// backed-up local queue when that job would otherwise wait longer than
// running it here costs; fair start is start-time fair queuing (sfq). Its
// settings re-queue jobs lost with their worker and give workers a lease.
type combinedPolicy struct {
	adaptivePolicy
	fair *sfqPolicy
}

func newCombined() *combinedPolicy { return &combinedPolicy{fair: newSFQ()} }

func (c *combinedPolicy) FairStart(p PoolView, t *Ticket, cost, rate float64) float64 {
	return c.fair.FairStart(p, t, cost, rate)
}

func (c *combinedPolicy) FairNow(p PoolView) float64 { return c.fair.FairNow(p) }

func (c *combinedPolicy) Steal(p PoolView, w WorkerView) WorkerView { return c.stealFrom(p, w) }

func (c *combinedPolicy) Started(p PoolView, t *Ticket) { c.fair.Started(p, t) }
