package core

import (
	"slices"
	"strings"
)

// cacheEntry is one row of the cache index: a worker stored as having a
// hint cached. Each worker record keeps its entries in a list, most
// recently used first, so that a bound or an age limit drops the least
// recently used from the tail.
type cacheEntry struct {
	key   cacheKey
	added float64 // when first stored; the durable At
	used  float64 // when last handed a job with the hint
	prev  *cacheEntry
	next  *cacheEntry
}

// cacheList is a worker's entries through a sentinel: sentinel.next is the
// most recently used.
type cacheList struct {
	sentinel cacheEntry
	n        int
}

func (l *cacheList) init() {
	if l.sentinel.next == nil {
		l.sentinel.next, l.sentinel.prev = &l.sentinel, &l.sentinel
	}
}

func (l *cacheList) pushFront(e *cacheEntry) {
	l.init()
	e.prev, e.next = &l.sentinel, l.sentinel.next
	l.sentinel.next.prev = e
	l.sentinel.next = e
	l.n++
}

func (l *cacheList) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	l.n--
}

// oldest returns the least recently used entry, or nil.
func (l *cacheList) oldest() *cacheEntry {
	if l.n == 0 {
		return nil
	}
	return l.sentinel.prev
}

// markCached stores w as having h cached, or renews the entry, and reports
// whether it was stored so already (and, with an age limit, recently
// enough to count).
func (p *Pool) markCached(h *hintEntry, w *Worker) bool {
	key := cacheKey{h, w.record}
	now := p.sched.now()
	if e := p.cached[key]; e != nil {
		fresh := p.fresh(e)
		e.used = now
		w.record.cache.unlink(e)
		w.record.cache.pushFront(e)
		p.trim(w.record)
		return fresh
	}
	e := &cacheEntry{key: key, added: now, used: now}
	p.insertCache(e)
	p.sched.report(Change{Kind: CacheAdded, Pool: p.name, Hint: h.name, Worker: w.name, At: now})
	p.trim(w.record)
	return false
}

func (p *Pool) insertCache(e *cacheEntry) {
	p.cached[e.key] = e
	e.key.hint.addWorker(e.key.worker)
	e.key.worker.cache.pushFront(e)
}

// fresh reports whether an entry is young enough to trust.
func (p *Pool) fresh(e *cacheEntry) bool {
	age := p.sched.settings.CacheAge
	return age <= 0 || p.sched.now()-e.used < age
}

// hasCached reports whether the index stores rec as having h, recently
// enough to trust.
func (p *Pool) hasCached(h *hintEntry, rec *workerRecord) bool {
	if p.sched.settings.CacheAge <= 0 && len(h.workers) <= shortList {
		// Without an age limit every entry is fresh, and a few pointers
		// compare faster than a hash looks up.
		for _, r := range h.workers {
			if r == rec {
				return true
			}
		}
		return false
	}
	e := p.cached[cacheKey{h, rec}]
	return e != nil && p.fresh(e)
}

// shortList is how many workers of a hint hasCached goes through rather
// than looking the pair up.
const shortList = 16

// stale reports whether an age limit makes the index no longer trust that
// rec has h (without one, nothing is stale and nothing is looked up).
func (p *Pool) stale(h *hintEntry, rec *workerRecord) bool {
	return p.sched.settings.CacheAge > 0 && !p.hasCached(h, rec)
}

// trim forgets rec's least recently used entries beyond the bound and
// those older than the age limit.
func (p *Pool) trim(rec *workerRecord) {
	limit := p.sched.settings.CacheLimit
	for e := rec.cache.oldest(); e != nil; e = rec.cache.oldest() {
		if (limit <= 0 || rec.cache.n <= limit) && p.fresh(e) {
			return
		}
		p.uncache(e)
	}
}

// uncache forgets one entry of the index.
func (p *Pool) uncache(e *cacheEntry) {
	h, rec := e.key.hint, e.key.worker
	delete(p.cached, e.key)
	rec.cache.unlink(e)
	if i, found := slices.BinarySearchFunc(h.workers, rec.name, func(r *workerRecord, name string) int {
		return strings.Compare(name, r.name)
	}); found {
		h.workers = slices.Delete(h.workers, i, i+1)
	}
	p.sched.report(Change{Kind: CacheRemoved, Pool: p.name, Hint: h.name, Worker: rec.name})
	// Jobs without a hint share the "" entry without counting as
	// pending, so it stays.
	if h.name != "" && h.pending == 0 && len(h.workers) == 0 {
		p.forgetHint(h)
	}
}

// Pruned tells the pool that the worker pruned its caches: it lost the
// named hints, or every hint when none is named. Under a policy that
// trusts prune reports the index forgets them, so that jobs stop queueing
// for a cache that is gone; it returns how many entries it forgot.
func (w *Worker) Pruned(hints []string) int {
	p := w.pool
	if !p.sched.settings.TrustPrunes {
		return 0
	}
	rec := w.record
	forgot := 0
	if len(hints) == 0 {
		for e := rec.cache.oldest(); e != nil; e = rec.cache.oldest() {
			p.uncache(e)
			forgot++
		}
		return forgot
	}
	for _, name := range hints {
		if h := p.hints[name]; h != nil {
			if e := p.cached[cacheKey{h, rec}]; e != nil {
				p.uncache(e)
				forgot++
			}
		}
	}
	return forgot
}
