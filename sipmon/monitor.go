package sipmon

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/licbridge/licbridge/sipmon/capture"
)

// Config tunes a Monitor. A zero value means the defaults.
type Config struct {
	// CorrelationHeader names a header (for example "X-CID") whose value in an
	// initial INVITE is the Call-ID of another leg of the same call: the two
	// Call-IDs then count as one leg. Empty: off.
	CorrelationHeader string
	// DialogTimeout closes a dialog that has seen no message for this long, measured
	// on the capture clock (message times). Default 2h: longer than any session
	// refresh interval in use (Asterisk's default Session-Expires is 30 min).
	DialogTimeout time.Duration
	// MaxDialogs caps the open dialogs kept per sensor; beyond it the stalest is
	// closed as evicted. Default 200000 (about 65 MB: see TestMemoryPerLiveLeg).
	MaxDialogs int
	// SensorTolerance is how far apart in time two legs from different sensors may
	// be and still be the same call. Default 2s.
	SensorTolerance time.Duration
	// LegSink, when set, receives each counted leg as soon as nothing can
	// change it any more, in start order, and the Report keeps none: a file read
	// streams its legs out (see JSONStream), so memory holds only the legs
	// still up. It is called with the Monitor's lock held. The LegRecord's
	// slices and Answer are only valid during the call (the Monitor reuses
	// them): copy what is kept.
	LegSink func(LegRecord)
	// Retain, when set, drops finished legs that ended longer ago than this from
	// the Report (live mode runs forever); zero keeps every leg. The counts
	// cover every leg either way.
	Retain time.Duration
	// MaxRetainedLegs caps the finished legs kept when Retain is set, so that a
	// flood of short calls within the Retain window cannot grow memory without
	// bound either; the oldest go first (counted in Stats.DroppedLegs). Default
	// 500000.
	MaxRetainedLegs int
	// Logger receives debug notes on malformed input. Default: discard.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultDialogTimeout   = 2 * time.Hour
	DefaultMaxDialogs      = 200000
	DefaultSensorTolerance = 2 * time.Second
	DefaultMaxRetainedLegs = 500000
)

func (c Config) withDefaults() Config {
	if c.DialogTimeout <= 0 {
		c.DialogTimeout = DefaultDialogTimeout
	}
	if c.MaxDialogs <= 0 {
		c.MaxDialogs = DefaultMaxDialogs
	}
	if c.SensorTolerance <= 0 {
		c.SensorTolerance = DefaultSensorTolerance
	}
	if c.MaxRetainedLegs <= 0 {
		c.MaxRetainedLegs = DefaultMaxRetainedLegs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats counts messages by what became of them.
type Stats struct {
	// SIPMessages counts well-formed SIP messages, duplicates included.
	SIPMessages int64 `json:"sip_messages"`
	// Malformed counts payloads that were not well-formed SIP (skipped).
	Malformed int64 `json:"malformed"`
	// KeepAlives counts empty and CRLF-only payloads (ignored).
	KeepAlives int64 `json:"keepalives"`
	// DuplicateMessages counts byte-identical repeats within a dialog:
	// retransmissions, and the same message captured twice (raw and HEP copies).
	DuplicateMessages int64 `json:"duplicate_messages"`
	// OrphanMessages counts messages of a Call-ID with no initial INVITE seen.
	OrphanMessages int64 `json:"orphan_messages"`
	// UnansweredInvites counts initial INVITEs that drew no response at all: not
	// legs.
	UnansweredInvites int64 `json:"invites_without_response"`
	// TimedOut and Evicted count dialogs closed by DialogTimeout and MaxDialogs.
	TimedOut int64 `json:"timed_out"`
	Evicted  int64 `json:"evicted"`
	// DroppedLegs counts finished legs forgotten for Config.MaxRetainedLegs.
	DroppedLegs int64 `json:"dropped_legs,omitempty"`
}

// Monitor tracks the legs seen by any number of sensors. Handle, Flush, Tick,
// Active and Report are safe for concurrent use.
type Monitor struct {
	cfg    Config
	log    *slog.Logger
	parser *parser

	mu       sync.Mutex
	trackers map[string]*tracker
	// lastTracker is the tracker of the last message's sensor.
	lastTracker *tracker
	rep         *reporter
	handled     int // messages since the report last advanced
	stats       Stats
	first       time.Time
	last        time.Time

	// In Run (live capture, HEP), the clock that times dialogs out is the
	// messages' own: wall time shifted by how far the newest message's stamp
	// was from the wall clock when it came. A HEP sender whose clock is off
	// (or a replayed capture) must not make every dialog look hours old.
	wallNow     func() time.Time
	lastArrival time.Time
	lastStamp   time.Time
}

// New returns a Monitor.
func New(cfg Config) *Monitor {
	cfg = cfg.withDefaults()
	m := &Monitor{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "sipmon"),
		parser:   newParser(cfg.CorrelationHeader),
		trackers: make(map[string]*tracker),
	}
	m.rep = newReporter(&m.cfg, cfg.LegSink, &m.stats.DroppedLegs)
	return m
}

// advanceEvery is how many messages pass between moves of the report's
// frontier: often enough that finished legs do not pile up, rarely enough
// that finding the frontier costs nothing.
const advanceEvery = 512

var _ capture.Handler = (*Monitor)(nil).Handle

// Handle takes one captured message. It never fails on bad input (that is
// counted); it returns nil always, so it can be used as a capture.Handler.
func (m *Monitor) Handle(msg *capture.Message) error {
	payload := msg.Payload
	if keepAlive(payload) {
		m.mu.Lock()
		m.stats.KeepAlives++
		m.mu.Unlock()
		return nil
	}
	hash := xxhash.Sum64(payload)
	m.mu.Lock()
	defer m.mu.Unlock()
	sm, err := m.parser.parse(payload)
	if err != nil {
		m.stats.Malformed++
		m.log.Debug("malformed SIP message skipped", "sensor", msg.Sensor, "src", msg.Src, "time", msg.Time, "err", err)
		return nil
	}
	m.stats.SIPMessages++
	if m.first.IsZero() || msg.Time.Before(m.first) {
		m.first = msg.Time
	}
	if msg.Time.After(m.last) {
		m.last = msg.Time
	}
	if m.wallNow != nil {
		m.lastArrival, m.lastStamp = m.wallNow(), msg.Time
	}
	m.tracker(msg.Sensor).handle(&sm, msg.Time, hash)
	if m.handled++; m.handled >= advanceEvery {
		m.advanceReport()
	}
	return nil
}

// keepAlive reports whether a payload is empty or only CRs and LFs.
func keepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// advanceReport hands the report the legs no leg still to come can precede:
// those that started before the oldest dialog still open anywhere, less the
// sensor tolerance (messages of different sensors interleave that much).
func (m *Monitor) advanceReport() {
	m.handled = 0
	frontier := m.last
	for _, tr := range m.trackers {
		if tr.nowTime().After(frontier) {
			frontier = tr.nowTime()
		}
	}
	latest := frontier
	for _, tr := range m.trackers {
		if t, ok := tr.oldestStart(); ok && t.Before(frontier) {
			frontier = t
		}
	}
	tol := m.cfg.SensorTolerance
	m.rep.advance(frontier.Add(-tol), latest.Add(-tol), false)
}

func (m *Monitor) tracker(sensor string) *tracker {
	// Messages come in runs of one sensor (one, usually): the last one's
	// tracker spares a map lookup per message.
	if m.lastTracker != nil && m.lastTracker.sensor == sensor {
		return m.lastTracker
	}
	tr := m.trackers[sensor]
	if tr == nil {
		tr = newTracker(sensor, &m.cfg, &m.stats, m.addLeg)
		m.trackers[sensor] = tr
	}
	m.lastTracker = tr
	return tr
}

func (m *Monitor) addLeg(tr *tracker, d *dialog) { m.rep.addDialog(tr, d) }

// Flush closes every open dialog as at the end of the input (file mode) and
// counts every leg.
func (m *Monitor) Flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Room for every dialog's leg at once, rather than growing the pending
	// legs by copies through a whole capture's worth of them.
	n := 0
	for _, tr := range m.trackers {
		n += len(tr.dialogs)
	}
	m.rep.pending = slices.Grow(m.rep.pending, n)
	for _, tr := range m.trackers {
		tr.flush()
	}
	m.rep.advance(time.Time{}, time.Time{}, true)
}

// Tick advances every sensor's clock to now (live mode, when traffic is quiet),
// closing timed-out dialogs, and drops legs older than Config.Retain.
func (m *Monitor) Tick(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tr := range m.trackers {
		tr.advance(nanos(now))
	}
	m.advanceReport()
	if m.cfg.Retain > 0 {
		m.rep.forget(now.Add(-m.cfg.Retain))
	}
}

// messageClock is wall time on the messages' clock (see Monitor.wallNow).
func (m *Monitor) messageClock(wall time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastArrival.IsZero() {
		return wall
	}
	return wall.Add(m.lastStamp.Sub(m.lastArrival))
}

// Active is what is up right now, over all sensors (not deduplicated across
// sensors: live capture has one).
type Active struct {
	Legs, G729, Fax int
}

// Active counts the attempts and answered legs not yet ended.
func (m *Monitor) Active() Active {
	m.mu.Lock()
	defer m.mu.Unlock()
	var a Active
	for _, tr := range m.trackers {
		l, g, f := tr.active()
		a.Legs += l
		a.G729 += g
		a.Fax += f
	}
	return a
}

// Stats returns the message counters.
func (m *Monitor) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Report counts the legs final so far: merged by correlation header and
// across sensors, with peaks. Call Flush first to include every leg (dialogs
// still open, and the last legs, which may still merge until the input ends).
func (m *Monitor) Report() *Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rep.report()
	r.Stats = m.stats
	r.First, r.Last = m.first.UTC(), m.last.UTC()
	return r
}

// Publisher receives the monitor's observed counts: the independent count of legs
// on the wire per product ("legs" for all legs, "g729", "fax"), so that admitted
// and observed usage can be compared. The bridge store implements it.
type Publisher interface {
	PublishObserved(ctx context.Context, product string, legs int) error
}

// Products published besides the leg total.
const (
	ProductLegs = "legs"
	ProductG729 = "g729"
	ProductFax  = "fax"
)

// Publish sends the current Active counts to p.
func (m *Monitor) Publish(ctx context.Context, p Publisher) error {
	a := m.Active()
	for _, c := range []struct {
		product string
		n       int
	}{{ProductLegs, a.Legs}, {ProductG729, a.G729}, {ProductFax, a.Fax}} {
		if err := p.PublishObserved(ctx, c.product, c.n); err != nil {
			return err
		}
	}
	return nil
}

// RunOptions tune Run.
type RunOptions struct {
	// Publisher receives the Active counts every Interval; nil: none.
	Publisher Publisher
	// Interval between ticks. Default 5s.
	Interval time.Duration
	// OnTick, if set, is called after each tick with the counts (for printing).
	OnTick func(Active, Stats)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Run drives a live Monitor until ctx ends: every Interval it advances the
// dialogs' clock to now (so silent dialogs time out), publishes the Active counts
// and calls OnTick. A publishing error is logged and retried on the next tick:
// the store being away must not stop the count. Run returns nil when ctx ends.
func (m *Monitor) Run(ctx context.Context, opt RunOptions) error {
	if opt.Interval <= 0 {
		opt.Interval = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	m.mu.Lock()
	m.wallNow = opt.Now
	m.mu.Unlock()
	tick := time.NewTicker(opt.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		m.Tick(m.messageClock(opt.Now()))
		if opt.Publisher != nil {
			if err := m.Publish(ctx, opt.Publisher); err != nil && ctx.Err() == nil {
				m.log.Warn("publishing observed legs", "err", err)
			}
		}
		if opt.OnTick != nil {
			opt.OnTick(m.Active(), m.Stats())
		}
	}
}
