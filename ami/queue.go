package ami

import (
	"context"
	"sync"

	"github.com/licbridge/licbridge/ami/proto"
)

// eventQueue decouples the socket reader from the event consumer: the reader
// never blocks on a slow consumer (so action answers keep flowing), and memory
// stays bounded by dropping the oldest events past max. Drops open an
// overflow episode, which ends when the consumer has caught up (nothing left
// to deliver): onCaughtUp then gets the episode's drop count, so the owner
// resyncs once, from a state that postdates every dropped event.
type eventQueue struct {
	mu      sync.Mutex
	buf     []*proto.Message
	max     int
	episode int // events dropped since the consumer was last caught up
	notify  chan struct{}
	out     chan Event

	onDrop     func()
	onCaughtUp func(dropped int)
}

func newEventQueue(max int, onDrop func(), onCaughtUp func(dropped int)) *eventQueue {
	return &eventQueue{max: max, notify: make(chan struct{}, 1), out: make(chan Event), onDrop: onDrop, onCaughtUp: onCaughtUp}
}

func (q *eventQueue) push(m *proto.Message) {
	q.mu.Lock()
	if len(q.buf) >= q.max {
		q.buf[0] = nil
		q.buf = q.buf[1:]
		q.episode++
		q.onDrop()
	}
	q.buf = append(q.buf, m)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *eventQueue) take() []*proto.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.buf
	q.buf = nil
	return b
}

// caughtUp ends the overflow episode if nothing is waiting, and returns how
// many it dropped (0: no episode ended).
func (q *eventQueue) caughtUp() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf) > 0 {
		return 0
	}
	n := q.episode
	q.episode = 0
	return n
}

// pump delivers queued events until ctx ends, then closes out.
func (q *eventQueue) pump(ctx context.Context) {
	defer close(q.out)
	for {
		for _, m := range q.take() {
			select {
			case q.out <- DecodeEvent(m):
			case <-ctx.Done():
				return
			}
		}
		if n := q.caughtUp(); n > 0 {
			q.onCaughtUp(n)
		}
		select {
		case <-q.notify:
		case <-ctx.Done():
			return
		}
	}
}
