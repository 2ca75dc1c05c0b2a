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

func (c *combinedPolicy) fairStart(p *Pool, t *Ticket, cost, rate float64) float64 {
	return c.fair.fairStart(p, t, cost, rate)
}

func (c *combinedPolicy) fairNow(p *Pool) float64 { return c.fair.fairNow(p) }

func (c *combinedPolicy) steal(p *Pool, w *Worker) *Worker { return c.stealFrom(p, w) }

func (c *combinedPolicy) started(p *Pool, t *Ticket) { c.fair.started(p, t) }
