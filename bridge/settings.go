package bridge

import "time"

// SyncTimeout is the bound on store calls off the admission path, as
// configured: the node bounds its calls to Asterisk (AMI, ARI) made for the
// bridge with it too, so one setting governs both.
func (b *Bridge) SyncTimeout() time.Duration { return b.opt.SyncTimeout }

// CountingOf is how product is counted, as configured (CountChannel unless
// set): the one place the node reads it, so it is given once.
func (b *Bridge) CountingOf(product string) Counting {
	if c, ok := b.opt.Counting[product]; ok && c != "" {
		return c
	}
	return CountChannel
}
