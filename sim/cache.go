package sim

// hintCache is a worker's set of cached hints, bounded with least-recently
// used eviction when limit > 0.
type hintCache struct {
	limit   int
	entries map[string]*cacheNode
	// A circular list through sentinel: sentinel.next is the most recent.
	sentinel cacheNode
}

type cacheNode struct {
	hint       string
	prev, next *cacheNode
}

func newHintCache(limit int) *hintCache {
	c := &hintCache{limit: limit, entries: map[string]*cacheNode{}}
	c.sentinel.prev, c.sentinel.next = &c.sentinel, &c.sentinel
	return c
}

func (c *hintCache) has(hint string) bool {
	_, ok := c.entries[hint]
	return ok
}

// touch records a use of hint, adding it if absent, and returns the least
// recently used hint it evicted beyond the limit, if any.
func (c *hintCache) touch(hint string) (evicted string) {
	n := c.entries[hint]
	if n != nil {
		c.unlink(n)
	} else {
		n = &cacheNode{hint: hint}
		c.entries[hint] = n
		if c.limit > 0 && len(c.entries) > c.limit {
			old := c.sentinel.prev
			c.unlink(old)
			delete(c.entries, old.hint)
			evicted = old.hint
		}
	}
	n.next = c.sentinel.next
	n.prev = &c.sentinel
	c.sentinel.next.prev = n
	c.sentinel.next = n
	return evicted
}

func (c *hintCache) unlink(n *cacheNode) {
	n.prev.next = n.next
	n.next.prev = n.prev
}

func (c *hintCache) len() int { return len(c.entries) }
