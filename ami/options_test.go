package ami

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Addr != "127.0.0.1:5038" || o.KeepAlive <= 0 || o.PingTimeout <= 0 || o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff || o.EventQueue <= 0 || o.Logger == nil {
		t.Fatalf("%+v", o)
	}
	if o.KeepAlive != 10*time.Second || o.ActionTimeout != 10*time.Second || o.MaxActionTimeouts != 2 {
		t.Fatalf("keep-alive %v, action timeout %v, max action timeouts %d", o.KeepAlive, o.ActionTimeout, o.MaxActionTimeouts)
	}
	if o := (Options{MaxActionTimeouts: -1, ActionTimeout: -1}).withDefaults(); o.MaxActionTimeouts != -1 || o.ActionTimeout != -1 {
		t.Fatalf("negative (off) not kept: %+v", o)
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

// An overflow episode ends when the consumer has caught up, and reports its
// drops once; a queue that never overflowed reports nothing.
func TestEventQueueOverflowEpisode(t *testing.T) {
	ended := make(chan int, 8)
	q := newEventQueue(3, func() {}, func(n int) { ended <- n })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.pump(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	ev := func(i int) *proto.Message { return proto.NewMessage("Event", "UserEvent", "N", fmt.Sprint(i)) }
	recv := func() string {
		select {
		case e := <-q.out:
			return e.Message().Get("N")
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
			return ""
		}
	}

	// Nothing read yet: the pump holds at most one taken batch (up to three),
	// the queue the last three; the rest are dropped, oldest first.
	for i := 0; i < 10; i++ {
		q.push(ev(i))
	}
	var got []string
	for len(got) == 0 || got[len(got)-1] != "9" {
		got = append(got, recv())
	}
	if len(got) < 3 || len(got) > 6 || got[len(got)-3] != "7" {
		t.Fatalf("delivered %v, want the last three (after at most one batch of three)", got)
	}
	select {
	case n := <-ended:
		if n != 10-len(got) {
			t.Fatalf("episode reports %d dropped, %d were", n, 10-len(got))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("episode did not end once the consumer caught up")
	}
	// A consumer keeping up: no episode.
	q.push(ev(10))
	if recv() != "10" {
		t.Fatal("event 10 lost")
	}
	q.push(ev(11))
	if recv() != "11" {
		t.Fatal("event 11 lost")
	}
	select {
	case n := <-ended:
		t.Fatalf("an episode of %d reported without drops", n)
	default:
	}
}
