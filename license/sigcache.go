package license

import (
	"crypto/sha256"
	"sync"
)

// sigCache remembers the signatures verified by the previous load and the
// current one, so that a Watcher reloading thousands of unchanged files pays for
// reading and parsing them, not for ed25519 verification again. Only successes
// are remembered, keyed by the issuer key, the canonical form and the signature,
// so a changed file or a changed trust list is verified afresh.
type sigCache struct {
	mu         sync.Mutex
	prev, next map[[32]byte]struct{}
}

// begin starts a load: what the last load verified is kept, the rest dropped.
func (c *sigCache) begin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prev, c.next = c.next, map[[32]byte]struct{}{}
}

func sigCacheKey(t Trusted, k *Key, canonical []byte) [32]byte {
	h := sha256.New()
	h.Write(t[k.Issuer])
	h.Write(canonical)
	h.Write(k.Signature)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// verify is Trusted.Verify through the cache; c may be nil.
func (c *sigCache) verify(t Trusted, k *Key) error {
	if c == nil {
		return t.Verify(k)
	}
	if _, ok := t[k.Issuer]; !ok {
		return t.Verify(k) // untrusted: nothing to cache
	}
	key := sigCacheKey(t, k, k.Canonical())
	c.mu.Lock()
	_, hit := c.prev[key]
	if !hit {
		_, hit = c.next[key]
	}
	if hit {
		c.next[key] = struct{}{}
	}
	c.mu.Unlock()
	if hit {
		return nil
	}
	if err := t.Verify(k); err != nil {
		return err
	}
	c.mu.Lock()
	c.next[key] = struct{}{}
	c.mu.Unlock()
	return nil
}
