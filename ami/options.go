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
	// KeepAlive is the silence after which a Ping is sent. Any message received
	// resets it. Default 20s; negative disables.
	KeepAlive time.Duration
	// PingTimeout is how long the keep-alive Ping may take before the connection
	// is declared dead and re-established. Default 5s.
	PingTimeout time.Duration

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

	// EventQueue is how many received events may wait for the consumer of
	// Events. Past it the oldest are dropped, counted (DroppedEvents) and
	// logged: a stalled consumer must not stall action answers. Default 65536.
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
	def(&o.KeepAlive, 20*time.Second)
	def(&o.PingTimeout, 5*time.Second)
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
