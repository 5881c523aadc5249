package ami

import (
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Addr != "127.0.0.1:5038" || o.KeepAlive <= 0 || o.PingTimeout <= 0 || o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff || o.EventQueue <= 0 || o.Logger == nil {
		t.Fatalf("%+v", o)
	}
	o = Options{MinBackoff: time.Minute, MaxBackoff: time.Second}.withDefaults()
	if o.MaxBackoff != time.Minute {
		t.Fatalf("max below min not raised: %v", o.MaxBackoff)
	}
}

// The queue drops the oldest events past its bound and counts them, so a
// stalled consumer never blocks the socket reader.
func TestEventQueueBounded(t *testing.T) {
	c := New(Options{EventQueue: 3})
	for i := 0; i < 10; i++ {
		c.queue.push(nil)
	}
	if got := len(c.queue.take()); got != 3 {
		t.Fatalf("%d queued, want 3", got)
	}
	if c.DroppedEvents() != 7 {
		t.Fatalf("%d dropped, want 7", c.DroppedEvents())
	}
}
