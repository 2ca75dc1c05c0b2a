package sim

// collector measures a run as it goes. Its memory grows with the jobs (a
// few numbers each, kept on the jobs themselves), the samples of the
// series and the fairness windows, never with the events.
type collector struct {
	window float64

	capNow   int
	capArea  float64 // connected capacity integrated over time (slot-seconds)
	capLast  float64
	busyArea float64 // occupied slot-seconds

	hits, hintedStarts int
	lastHits, lastHint int

	series Series
	fair   []*poolFairness

	workers []workerUse
}

type workerUse struct {
	connectedSince float64 // -1 when not connected
	connectedArea  float64 // capacity × connected seconds
	busy           float64
}

// poolFairness measures how a pool shares contended capacity. Only the
// starts made while at least two of its clients have jobs waiting count:
// each such start gives its client the run's duration as received work,
// and entitles every waiting client to that work times its rate over the
// waiting clients' total rate. Entitlements accumulate in O(1) per start
// through acc, the entitled work per unit of rate so far.
type poolFairness struct {
	rates    []float64
	waiting  []bool
	nWaiting int
	rateSum  float64   // of the waiting clients
	acc      float64   // sum over contended starts of work / rateSum
	accAt    []float64 // acc when each waiting client's span (in this window) began
	window   int
	received [][]float64 // [window][client]
	entitled [][]float64
}

func (f *poolFairness) row(rows *[][]float64, w int) []float64 {
	for len(*rows) <= w {
		*rows = append(*rows, make([]float64, len(f.rates)))
	}
	return (*rows)[w]
}

// advance closes the waiting clients' spans at a window boundary.
func (f *poolFairness) advance(w int) {
	if w == f.window {
		return
	}
	row := f.row(&f.entitled, f.window)
	for c, waiting := range f.waiting {
		if waiting {
			row[c] += f.rates[c] * (f.acc - f.accAt[c])
			f.accAt[c] = f.acc
		}
	}
	f.window = w
}

func (f *poolFairness) setWaiting(c int, waiting bool, w int) {
	if f.waiting[c] == waiting {
		return
	}
	f.advance(w)
	if waiting {
		f.accAt[c] = f.acc
		f.nWaiting++
		f.rateSum += f.rates[c]
	} else {
		f.row(&f.entitled, w)[c] += f.rates[c] * (f.acc - f.accAt[c])
		f.nWaiting--
		f.rateSum -= f.rates[c]
	}
	f.waiting[c] = waiting
}

// setRate changes a client's rate from now on.
func (f *poolFairness) setRate(c int, rate float64, w int) {
	f.advance(w)
	if f.waiting[c] {
		f.row(&f.entitled, w)[c] += f.rates[c] * (f.acc - f.accAt[c])
		f.accAt[c] = f.acc
		f.rateSum += rate - f.rates[c]
	}
	f.rates[c] = rate
}

func (f *poolFairness) start(c int, work float64, w int) {
	f.advance(w)
	if f.nWaiting < 2 {
		return
	}
	f.row(&f.received, w)[c] += work
	f.acc += work / f.rateSum
}

func newCollector(sc *Scenario) *collector {
	c := &collector{window: sc.Window.Seconds()}
	for _, p := range sc.Pools {
		f := &poolFairness{waiting: make([]bool, len(p.Clients)), accAt: make([]float64, len(p.Clients))}
		for _, cl := range p.Clients {
			f.rates = append(f.rates, cl.Rate)
		}
		c.fair = append(c.fair, f)
		c.series.Clients = append(c.series.Clients, make([]ClientSeries, len(p.Clients))...)
		for i, cl := range p.Clients {
			c.series.Clients[len(c.series.Clients)-len(p.Clients)+i] = ClientSeries{Pool: p.Name, Client: cl.Name}
		}
		for _, w := range p.Workers {
			for range w.Names() {
				c.workers = append(c.workers, workerUse{connectedSince: -1})
			}
		}
	}
	return c
}

func (c *collector) windowAt(now float64) int { return int(now / c.window) }

func (c *collector) backlog(s *simulation, p *simPool, cl *clientState, queued int) {
	c.fair[p.idx].setWaiting(cl.idx, queued > 0, c.windowAt(s.now))
}

func (c *collector) rateChanged(s *simulation, p *simPool, cl *clientState) {
	c.fair[p.idx].setRate(cl.idx, cl.rate, c.windowAt(s.now))
}

// started is called as a job starts, before it leaves its client's queue.
func (c *collector) started(s *simulation, j *job, w *simWorker, cached bool, work float64) {
	st := j.stream
	c.fair[st.pool.idx].start(st.client.idx, work, c.windowAt(s.now))
	if j.seed.hint != "" {
		c.hintedStarts++
		if cached {
			c.hits++
		}
	}
}

// slotFreed accounts the time a run held a slot.
func (c *collector) slotFreed(s *simulation, r *run) {
	d := s.now - r.start
	c.busyArea += d
	c.workers[r.worker.idx].busy += d
}

func (c *collector) connected(s *simulation, w *simWorker, up bool) {
	c.capArea += float64(c.capNow) * (s.now - c.capLast)
	c.capLast = s.now
	u := &c.workers[w.idx]
	if up {
		c.capNow += w.capacity
		u.connectedSince = s.now
	} else {
		c.capNow -= w.capacity
		u.connectedArea += float64(w.capacity) * (s.now - u.connectedSince)
		u.connectedSince = -1
	}
}

func (c *collector) sample(s *simulation) {
	running := 0
	for _, w := range s.workers {
		running += w.inUse
	}
	queued := 0
	for _, p := range s.pools {
		queued += p.queued
	}
	c.series.T = append(c.series.T, s.now)
	c.series.Queued = append(c.series.Queued, queued)
	c.series.Running = append(c.series.Running, running)
	c.series.Capacity = append(c.series.Capacity, c.capNow)
	c.series.Starts = append(c.series.Starts, c.hintedStarts-c.lastHint)
	c.series.Hits = append(c.series.Hits, c.hits-c.lastHits)
	c.lastHint, c.lastHits = c.hintedStarts, c.hits
	i := 0
	for _, p := range s.pools {
		for _, cl := range p.clients {
			c.series.Clients[i].Queued = append(c.series.Clients[i].Queued, cl.queued)
			i++
		}
	}
}

// close accounts what is still open when the run stops.
func (c *collector) close(s *simulation) {
	for _, w := range s.workers {
		if w.conn != nil {
			c.connected(s, w, false)
		}
	}
	for i := range s.runs {
		r := &s.runs[i]
		if r.state == runStopped || r.epoch != r.worker.epoch {
			continue
		}
		c.slotFreed(s, r)
	}
	for _, f := range c.fair {
		f.advance(f.window + 1)
	}
}

// jain is the mean, over the windows in which at least two clients were
// entitled to contended starts, of Jain's index of x = received /
// entitled work: 1 when contended capacity went by rate, 1/n when one
// client took it all. windows counts the windows used.
func jain(f *poolFairness) (index float64, windows int) {
	sum := 0.0
	for w, entitled := range f.entitled {
		var sx, sxx float64
		n := 0
		for c, e := range entitled {
			if e <= 0 {
				continue
			}
			received := 0.0
			if w < len(f.received) {
				received = f.received[w][c]
			}
			x := received / e
			sx += x
			sxx += x * x
			n++
		}
		if n < 2 || sxx == 0 {
			continue
		}
		sum += sx * sx / (float64(n) * sxx)
		windows++
	}
	if windows == 0 {
		return 1, 0
	}
	return sum / float64(windows), windows
}
