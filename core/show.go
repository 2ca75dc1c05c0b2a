package core

import (
	"slices"
	"strconv"
	"strings"
)

// ShowOptions selects the optional parts of a pool's show text.
type ShowOptions struct {
	// Cached ends the text with the cache index.
	Cached bool
	// Running names each worker's running jobs (OCluster shows only counts).
	Running bool
	// Queue, when more than 0, bounds the jobs a queue lists: those served
	// next, after a count per client of the others, so that a queue of a
	// hundred thousand jobs stays readable.
	Queue int
}

// Show describes the pool's state in OCluster's format:
//
//	capacity: 2
//	queue: (backlog) [u1:job5@12s u1:job4@11s]   (next served last)
//	registered:
//	  worker-1 (10): [u1:job1@0s(10)] (0 running)
//	disconnected:
//	  worker-3 (paused)
//	clients: u1(2)+17s
//	cached: a: [worker-1], b: [worker-2]
func (p *Pool) Show(opts ShowOptions) string {
	now := p.sched.now()
	var b strings.Builder
	b.WriteString("capacity: ")
	b.WriteString(strconv.Itoa(p.capacity))
	b.WriteString("\nqueue: ")
	if p.mainReady {
		b.WriteString("(ready) [")
		first := true
		for w := p.ready.newest; w != nil; w = w.next {
			if !first {
				b.WriteByte(' ')
			}
			first = false
			b.WriteString(w.name)
		}
		b.WriteByte(']')
	} else {
		b.WriteString("(backlog) ")
		writeQueue(&b, &p.backlog, p.fairNow(), opts.Queue)
	}
	b.WriteString("\nregistered:")
	for _, w := range p.Workers() {
		b.WriteString("\n  ")
		b.WriteString(w.name)
		b.WriteString(" (")
		b.WriteString(round(w.workload))
		b.WriteString("): ")
		if w.reasons != 0 {
			b.WriteString("(inactive: ")
			b.WriteString(w.reasons.String())
			b.WriteByte(')')
		} else {
			writeQueue(&b, &w.local, p.fairNow(), opts.Queue)
		}
		b.WriteString(" (")
		b.WriteString(strconv.Itoa(len(w.running)))
		b.WriteString(" running")
		if opts.Running && len(w.running) > 0 {
			b.WriteString(":")
			for _, t := range w.running {
				b.WriteByte(' ')
				b.WriteString(t.client.id)
				b.WriteByte(':')
				b.WriteString(t.job.Label)
			}
		}
		b.WriteByte(')')
	}
	b.WriteString("\ndisconnected:")
	for _, rec := range p.sortedRecords() {
		if rec.known && rec.conn == nil {
			b.WriteString("\n  ")
			b.WriteString(rec.name)
			if rec.paused {
				b.WriteString(" (paused)")
			}
		}
	}
	b.WriteString("\nclients:")
	for _, id := range sortedKeys(p.clients) {
		c := p.clients[id]
		b.WriteByte(' ')
		b.WriteString(id)
		b.WriteByte('(')
		b.WriteString(round(p.Rate(id)))
		b.WriteByte(')')
		// What OCluster shows: how far ahead of the clock its fair start
		// has charged the client.
		if tags, ok := c.policyState.(*clientTags); ok && tags.next-now > 0 {
			delay := tags.next - now
			b.WriteByte('+')
			b.WriteString(roughDuration(delay))
		}
	}
	if opts.Cached {
		b.WriteString("\ncached:")
		first := true
		for _, name := range sortedKeys(p.hints) {
			h := p.hints[name]
			if len(h.workers) == 0 {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteByte(' ')
			b.WriteString(name)
			b.WriteString(": [")
			workers := make([]string, len(h.workers))
			for j, rec := range h.workers {
				workers[j] = rec.name
			}
			slices.Sort(workers)
			b.WriteString(strings.Join(workers, "; "))
			b.WriteByte(']')
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// writeQueue lists the queue's tickets with the next one to be served last.
func writeQueue(b *strings.Builder, q *ticketQueue, now float64, limit int) {
	b.WriteByte('[')
	ts, omitted := q.best(limit)
	if len(omitted) > 0 {
		writeOmitted(b, omitted)
	}
	for i := len(ts) - 1; i >= 0; i-- {
		t := ts[i]
		b.WriteString(t.client.id)
		b.WriteByte(':')
		b.WriteString(t.job.Label)
		b.WriteByte('@')
		b.WriteString(roughDuration(t.fairStart - now))
		switch {
		case t.cost != unassigned:
			b.WriteByte('(')
			b.WriteString(round(t.cost))
			if t.urgent {
				b.WriteString("+urgent")
			}
			b.WriteByte(')')
		case t.urgent:
			b.WriteString("+urgent")
		}
		if i > 0 {
			b.WriteByte(' ')
		}
	}
	b.WriteByte(']')
}

// writeOmitted counts, per client, the jobs a bounded queue leaves out,
// the clients with the most first: "… 99980 more (alice 60000, bob
// 39980) … ".
func writeOmitted(b *strings.Builder, ts []*Ticket) {
	per := map[string]int{}
	for _, t := range ts {
		per[t.client.id]++
	}
	b.WriteString("… ")
	b.WriteString(strconv.Itoa(len(ts)))
	b.WriteString(" more (")
	clients := sortedKeys(per)
	slices.SortStableFunc(clients, func(a, b string) int { return per[b] - per[a] })
	const shown = 5
	for i, id := range clients[:min(len(clients), shown)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(id)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(per[id]))
	}
	if len(clients) > shown {
		b.WriteString(", and ")
		b.WriteString(strconv.Itoa(len(clients) - shown))
		b.WriteString(" more clients")
	}
	b.WriteString(") … ")
}

// round prints a number rounded to a whole one, halves to even, as C's %.0f.
func round(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) }

// roughDuration prints seconds below two minutes, else minutes.
func roughDuration(seconds float64) string {
	if seconds < 120 {
		return round(seconds) + "s"
	}
	return round(seconds/60) + "m"
}
