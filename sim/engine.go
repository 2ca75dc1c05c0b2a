package sim

// eventClass orders events that fall on the same instant: jobs end before
// workers change, workers change before clients submit, and measurements
// come last, so the order never depends on when an event was scheduled.
type eventClass uint8

const (
	classFinish eventClass = iota
	classWorker
	classArrival
	classCancel
	classSample
)

// event is one scheduled happening. key identifies what it concerns (a job,
// a worker, a stream) and breaks ties within a class; seq only separates
// events that share instant, class and key.
type event struct {
	at    float64
	class eventClass
	kind  uint8
	key   uint64
	seq   uint64
	arg   int64
}

func (a *event) before(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.class != b.class {
		return a.class < b.class
	}
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

// eventQueue is a binary min-heap of events by value: no allocation per
// event once it has grown.
type eventQueue struct {
	items []event
	seq   uint64
}

func (q *eventQueue) Len() int { return len(q.items) }

func (q *eventQueue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.items = append(q.items, e)
	i := len(q.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.items[i].before(&q.items[parent]) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

func (q *eventQueue) pop() event {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		best := l
		if r := l + 1; r < last && q.items[r].before(&q.items[l]) {
			best = r
		}
		if !q.items[best].before(&q.items[i]) {
			break
		}
		q.items[i], q.items[best] = q.items[best], q.items[i]
		i = best
	}
	return top
}
