package core

import "sort"

// ticketQueue is a priority queue of tickets: urgent first, then the
// smallest fair start time, then submission order. It backs both the pool's
// backlog and each worker's local queue.
//
// The sort key lives in the heap array beside the pointer, so sifting never
// touches the tickets themselves. A cancelled ticket is not dug out of the
// heap: it is marked and skipped when it reaches the top, and the heap is
// compacted once the dead outnumber the living. That keeps cancel O(1) and
// pop O(log n) amortised without a back-index to update on every swap.
type ticketQueue struct {
	entries []queueEntry
	dead    int
	urgent  int // live urgent tickets
}

type queueEntry struct {
	fairStart float64
	rank      uint64 // submission sequence; the top bit is set for non-urgent tickets
	t         *Ticket
}

const notUrgentBit = 1 << 63

func entryFor(t *Ticket) queueEntry {
	rank := t.seq
	if !t.urgent {
		rank |= notUrgentBit
	}
	return queueEntry{fairStart: t.fairStart, rank: rank, t: t}
}

// before reports whether a is served before b.
func (a *queueEntry) before(b *queueEntry) bool {
	ua, ub := a.rank&notUrgentBit, b.rank&notUrgentBit
	if ua != ub {
		return ua < ub
	}
	if a.fairStart != b.fairStart {
		return a.fairStart < b.fairStart
	}
	return a.rank < b.rank
}

// Len is the number of live tickets.
func (q *ticketQueue) Len() int { return len(q.entries) - q.dead }

func (q *ticketQueue) push(t *Ticket) {
	q.entries = append(q.entries, entryFor(t))
	q.up(len(q.entries) - 1)
	if t.urgent {
		q.urgent++
	}
}

// pop removes and returns the best live ticket, or nil.
func (q *ticketQueue) pop() *Ticket {
	for len(q.entries) > 0 {
		t := q.entries[0].t
		q.removeTop()
		if t.state != TicketQueued {
			q.dead--
			continue
		}
		if t.urgent {
			q.urgent--
		}
		return t
	}
	return nil
}

// peek returns the best live ticket without removing it, or nil.
func (q *ticketQueue) peek() *Ticket {
	for len(q.entries) > 0 {
		t := q.entries[0].t
		if t.state == TicketQueued {
			return t
		}
		q.removeTop()
		q.dead--
	}
	return nil
}

// forget accounts for a live ticket that was marked cancelled in place.
func (q *ticketQueue) forget(t *Ticket) {
	q.dead++
	if t.urgent {
		q.urgent--
	}
	if q.dead >= 32 && q.dead*2 > len(q.entries) {
		q.compact()
	}
}

func (q *ticketQueue) removeTop() {
	last := len(q.entries) - 1
	q.entries[0] = q.entries[last]
	q.entries[last] = queueEntry{}
	q.entries = q.entries[:last]
	if last > 0 {
		q.down(0)
	}
}

func (q *ticketQueue) compact() {
	live := q.entries[:0]
	for _, e := range q.entries {
		if e.t.state == TicketQueued {
			live = append(live, e)
		}
	}
	clear(q.entries[len(live):])
	q.entries = live
	q.dead = 0
	if n := len(q.entries); n > 1 {
		for i := (n - 2) / heapArity; i >= 0; i-- {
			q.down(i)
		}
	}
}

// A 4-ary heap: shallower than a binary one, and the children of a node
// share cache lines.
const heapArity = 4

func (q *ticketQueue) up(i int) {
	e := q.entries[i]
	for i > 0 {
		parent := (i - 1) / heapArity
		if !e.before(&q.entries[parent]) {
			break
		}
		q.entries[i] = q.entries[parent]
		i = parent
	}
	q.entries[i] = e
}

func (q *ticketQueue) down(i int) {
	n := len(q.entries)
	e := q.entries[i]
	for {
		first := i*heapArity + 1
		if first >= n {
			break
		}
		best := first
		end := min(first+heapArity, n)
		for c := first + 1; c < end; c++ {
			if q.entries[c].before(&q.entries[best]) {
				best = c
			}
		}
		if !q.entries[best].before(&e) {
			break
		}
		q.entries[i] = q.entries[best]
		i = best
	}
	q.entries[i] = e
}

// best returns the first n live tickets, best first, and the others in no
// order (n <= 0: all of them, sorted). Its cost is O(len · log n), not a
// sort of the whole queue: show lists a few tickets of a queue that may
// hold a million, under the driver's lock.
func (q *ticketQueue) best(n int) (first, rest []*Ticket) {
	live := make([]queueEntry, 0, q.Len())
	for _, e := range q.entries {
		if e.t.state == TicketQueued {
			live = append(live, e)
		}
	}
	if n > 0 && len(live) > n {
		// A heap of the n best so far, the worst of them at the root.
		top := live[:n]
		for i := n/2 - 1; i >= 0; i-- {
			siftWorst(top, i)
		}
		for _, e := range live[n:] {
			if e.before(&top[0]) {
				rest = append(rest, top[0].t)
				top[0] = e
				siftWorst(top, 0)
			} else {
				rest = append(rest, e.t)
			}
		}
		live = top
	}
	sort.Slice(live, func(i, j int) bool { return live[i].before(&live[j]) })
	first = make([]*Ticket, len(live))
	for i, e := range live {
		first[i] = e.t
	}
	return first, rest
}

// siftWorst moves h[i] down a heap whose root is its worst entry.
func siftWorst(h []queueEntry, i int) {
	for {
		worst := i
		for _, c := range []int{2*i + 1, 2*i + 2} {
			if c < len(h) && h[worst].before(&h[c]) {
				worst = c
			}
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}
