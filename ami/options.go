package ami

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

// Options configure a Client. A zero field means its default.
type Options struct {
	// Addr is the AMI address. Default "127.0.0.1:5038".
	Addr string
	// Username and Secret are the manager.conf credentials. The secret is never logged.
	Username string
	Secret   string
	// Events is the Login "Events" header: "on", "off", or a class list such as
	// "call,system". Empty omits the header, which Asterisk takes as "on".
	// List items of our own actions arrive whatever this says.
	Events string

	// DialTimeout bounds the TCP connect. Default 5s.
	DialTimeout time.Duration
	// LoginTimeout bounds banner plus Login answer. Asterisk holds a wrong
	// secret for about a second before answering. Default 5s.
	LoginTimeout time.Duration
	// KeepAlive is how long Asterisk may go without answering an action before
	// a Ping is sent. Only answers count, not events: a hung Asterisk can keep
	// streaming events while answering nothing. Default 10s; negative disables.
	KeepAlive time.Duration
	// PingTimeout is how long the keep-alive Ping may take before the connection
	// is declared dead and re-established. Default 5s.
	PingTimeout time.Duration
	// ActionTimeout bounds every action (a list action until its …Complete
	// event), whatever the caller's context says: the earlier deadline wins.
	// Default 10s; negative leaves it to the caller's context.
	ActionTimeout time.Duration
	// MaxActionTimeouts is how many actions in a row may time out, with no
	// answer from Asterisk to anything since they were sent, before the
	// connection is declared dead and re-established (OnConnect then runs on
	// the new one). A timed-out keep-alive Ping alone is enough. Default 2;
	// negative disables.
	MaxActionTimeouts int

	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles per
	// failed attempt, with jitter. Defaults 500ms and 30s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// HealthyAfter is how long a connection must have lived for the backoff to
	// start again from MinBackoff. Default 30s.
	HealthyAfter time.Duration

	// OnConnect runs after every successful login, first connection included,
	// before Ready is signalled the first time. Use it to resynchronise (call
	// CoreShowChannels): events may have been missed while disconnected. An
	// error closes the connection and a reconnect follows.
	OnConnect func(ctx context.Context, info ConnectInfo) error
	// OnResync runs when events were lost on a live connection: the event
	// queue overflowed. It runs once per overflow episode, when the consumer
	// has caught up (every event still queued was delivered), so a snapshot it
	// takes (CoreShowChannels) postdates every dropped event. It runs on the
	// connection's goroutine, never at the same time as OnConnect or itself,
	// with info.Resync set and info.Dropped the number lost. Nil: OnConnect is
	// called again instead, with the same info. An error closes the connection;
	// the reconnect's OnConnect then resynchronises.
	OnResync func(ctx context.Context, info ConnectInfo) error

	// EventQueue is how many received events may wait for the consumer of
	// Events. Past it the oldest are dropped, counted (DroppedEvents), logged
	// at Warn once per overflow episode and followed by a resync (OnResync): a
	// stalled consumer must not stall action answers. Default 65536.
	EventQueue int
	// Limits bound incoming messages (see proto.Limits).
	Limits proto.Limits
	// Logger receives connection life-cycle logs. Default: discarded.
	Logger *slog.Logger
}

// ConnectInfo is passed to Options.OnConnect.
type ConnectInfo struct {
	// Client is the client that connected; use it to run actions.
	Client *Client
	// Connects counts successful logins: 1 on the first, more after reconnects.
	Connects int
	// Banner is the greeting line, e.g. "Asterisk Call Manager/11.0.0".
	Banner string
	// Resync is set when the call is not for a login but because events were
	// dropped (see Options.OnResync); Connects then is the current login's.
	Resync bool
	// Dropped is, with Resync, how many events the overflow episode dropped.
	Dropped uint64
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:5038"
	}
	def(&o.DialTimeout, 5*time.Second)
	def(&o.LoginTimeout, 5*time.Second)
	def(&o.KeepAlive, 10*time.Second)
	def(&o.PingTimeout, 5*time.Second)
	def(&o.ActionTimeout, 10*time.Second)
	if o.MaxActionTimeouts == 0 {
		o.MaxActionTimeouts = 2
	}
	def(&o.MinBackoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.HealthyAfter, 30*time.Second)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.EventQueue <= 0 {
		o.EventQueue = 65536
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}
