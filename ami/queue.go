package ami

import (
	"context"
	"sync"

	"github.com/licbridge/licbridge/ami/proto"
)

// eventQueue decouples the socket reader from the event consumer: the reader
// never blocks on a slow consumer (so action answers keep flowing), and memory
// stays bounded by dropping the oldest events past max.
type eventQueue struct {
	mu     sync.Mutex
	buf    []*proto.Message
	max    int
	notify chan struct{}
	out    chan Event
	onDrop func()
}

func newEventQueue(max int, onDrop func()) *eventQueue {
	return &eventQueue{max: max, notify: make(chan struct{}, 1), out: make(chan Event), onDrop: onDrop}
}

func (q *eventQueue) push(m *proto.Message) {
	q.mu.Lock()
	if len(q.buf) >= q.max {
		q.buf[0] = nil
		q.buf = q.buf[1:]
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
		select {
		case <-q.notify:
		case <-ctx.Done():
			return
		}
	}
}
