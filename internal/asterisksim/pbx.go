package asterisksim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licbridge/licbridge/internal/asterisksim/agiclient"
	"github.com/licbridge/licbridge/internal/asterisksim/amisrv"
	"github.com/licbridge/licbridge/internal/asterisksim/arisrv"
)

// Admission paths of a Call.
const (
	ViaNone = ""    // the call never asks (passive accounting sees it)
	ViaAGI  = "agi" // AGI(agi://HOST:PORT/admit,PRODUCT)
	ViaARI  = "ari" // Stasis(licbridge,admit,PRODUCT)
)

// Options configure a PBX. A zero value runs both doubles on loopback with
// their default credentials.
type Options struct {
	// AMI and ARI configure the doubles.
	AMI amisrv.Options
	ARI arisrv.Options
	// NoAMI and NoARI leave a double out.
	NoAMI, NoARI bool
	// AGIAddr is the FastAGI server that calls admitting through AGI dial
	// (it may be set later with SetAGIAddr).
	AGIAddr string
	// Logger for the doubles. Default: discard.
	Logger *slog.Logger
}

// PBX is the Asterisk double.
type PBX struct {
	// AMI and ARI are the doubles (nil when left out).
	AMI *amisrv.Server
	ARI *arisrv.Server

	base    int64
	seq     atomic.Int64
	agiAddr atomic.Pointer[string]

	mu  sync.Mutex
	fax amisrv.FAXStats
}

// Start starts the doubles; Close stops them.
func Start(opts Options) (*PBX, error) {
	p := &PBX{base: time.Now().Unix()}
	p.SetAGIAddr(opts.AGIAddr)
	if !opts.NoAMI {
		o := opts.AMI
		if o.Logger == nil {
			o.Logger = opts.Logger
		}
		if o.AuthFailDelay == 0 {
			o.AuthFailDelay = 10 * time.Millisecond
		}
		s, err := amisrv.Listen(o)
		if err != nil {
			return nil, fmt.Errorf("asterisksim: AMI double: %w", err)
		}
		p.AMI = s
	}
	if !opts.NoARI {
		o := opts.ARI
		if o.Logger == nil {
			o.Logger = opts.Logger
		}
		s, err := arisrv.Start(o)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("asterisksim: ARI double: %w", err)
		}
		p.ARI = s
	}
	return p, nil
}

// StartT is Start for tests: it fails tb on error and closes the PBX when the
// test ends.
func StartT(tb TB, opts Options) *PBX {
	tb.Helper()
	p, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Close stops both doubles.
func (p *PBX) Close() {
	if p.AMI != nil {
		_ = p.AMI.Close()
	}
	if p.ARI != nil {
		_ = p.ARI.Close()
	}
}

// SetAGIAddr sets the FastAGI server's HOST:PORT.
func (p *PBX) SetAGIAddr(addr string) { p.agiAddr.Store(&addr) }

// AMIAddr is the AMI double's HOST:PORT ("" without it).
func (p *PBX) AMIAddr() string {
	if p.AMI == nil {
		return ""
	}
	return p.AMI.Addr()
}

// ARIURL is the ARI double's base URL ("" without it).
func (p *PBX) ARIURL() string {
	if p.ARI == nil {
		return ""
	}
	return p.ARI.URL()
}

// Call describes one scripted call. Zero fields get defaults.
type Call struct {
	// Caller and Called are the numbers. Default "2" + sequence and "100".
	Caller, Called string
	// Codec is the native audio format CHANNEL(audionativeformat) names:
	// "g729", "ulaw" (the default), "alaw", ...
	Codec string
	// Local places the call through a Local channel: two channels (";1" and
	// ";2") sharing one Linkedid, each asking for admission.
	Local bool
	// Product is what the call asks to be admitted for (with Via).
	Product string
	// Via is ViaAGI, ViaARI or ViaNone.
	Via string
	// Fax runs a fax session (receive) on the call once it is up.
	Fax bool
	// NoAnswer leaves the call ringing. A call whose admission was refused is
	// never answered.
	NoAnswer bool
}

// Placed is a call in progress and what admission answered.
type Placed struct {
	Call
	// Linkedid is the call's Linkedid; Channels its channels' Uniqueids, in
	// order; Names their channel names.
	Linkedid string
	Channels []string
	Names    []string
	// Status, Reason and Lease are the LICBRIDGE_* variables admission set on
	// the (first) channel; Status "" when the call did not ask. AGIStatus is
	// AGISTATUS for an AGI admission (SUCCESS, FAILURE, HANGUP); STASISSTATUS
	// is FAILED when Stasis() could not run.
	Status, Reason, Lease string
	AGIStatus             string
	StasisFailed          bool
	// Results are the per-channel variables admission set, in Channels order.
	Results []map[string]string
}

// Admitted reports whether every channel that asked was admitted.
func (pl *Placed) Admitted() bool { return pl.Status == "ADMITTED" }

func (p *PBX) nextID() string {
	return strconv.FormatInt(p.base, 10) + "." + strconv.FormatInt(p.seq.Add(1)-1, 10)
}

// Place runs a call: its channels appear (Newchannel), ask for admission if
// the call says so, and are answered (Newstate Up) unless NoAnswer or refused.
func (p *PBX) Place(ctx context.Context, c Call) (*Placed, error) {
	if p.AMI == nil && c.Via != ViaARI {
		return nil, errors.New("asterisksim: a call without ARI admission needs the AMI double")
	}
	n := p.seq.Load()
	if c.Caller == "" {
		c.Caller = "2" + fmt.Sprintf("%03d", n%1000)
	}
	if c.Called == "" {
		c.Called = "100"
	}
	if c.Codec == "" {
		c.Codec = "ulaw"
	}
	pl := &Placed{Call: c}
	if c.Local {
		one := amisrv.Channel{Uniqueid: p.nextID(), State: 4, CallerIDNum: c.Caller, Context: "from-internal", Exten: c.Called, NativeFormat: c.Codec}
		two := amisrv.Channel{Uniqueid: p.nextID(), State: 4, CallerIDNum: c.Caller, Context: "lic-dial", Exten: c.Called, NativeFormat: c.Codec}
		one.Linkedid, two.Linkedid = one.Uniqueid, one.Uniqueid
		a, b := p.AMI.AddLocalPair("Local/"+c.Called+"@lic-dial", one, two)
		pl.Linkedid = a.Linkedid
		pl.Channels, pl.Names = []string{a.Uniqueid, b.Uniqueid}, []string{a.Name, b.Name}
	} else {
		uid := p.nextID()
		name := fmt.Sprintf("PJSIP/%s-%08x", c.Caller, n)
		if p.AMI != nil {
			p.AMI.AddChannel(amisrv.Channel{Name: name, Uniqueid: uid, Linkedid: uid, State: 4, CallerIDNum: c.Caller, Context: "from-internal", Exten: c.Called, NativeFormat: c.Codec, Application: "Dial"})
		}
		pl.Linkedid, pl.Channels, pl.Names = uid, []string{uid}, []string{name}
	}
	for i, uid := range pl.Channels {
		vars, err := p.admit(ctx, pl, uid, pl.Names[i])
		if err != nil {
			return pl, err
		}
		pl.Results = append(pl.Results, vars)
		if i == 0 && vars != nil {
			pl.Status, pl.Reason, pl.Lease = vars["LICBRIDGE_STATUS"], vars["LICBRIDGE_REASON"], vars["LICBRIDGE_LEASE"]
		}
	}
	// A refused call is not answered: the dialplan takes its rejection branch.
	refused := c.Via != ViaNone && pl.Status != "" && !pl.Admitted()
	if !c.NoAnswer && !refused && p.AMI != nil {
		for _, uid := range pl.Channels {
			if err := p.AMI.SetState(uid, 6); err != nil {
				return pl, err
			}
		}
	}
	if c.Fax && p.AMI != nil {
		uid := pl.Channels[len(pl.Channels)-1]
		p.mu.Lock()
		p.fax.CurrentSessions++
		p.fax.ReceiveAttempts++
		p.AMI.SetFAXStats(p.fax)
		p.mu.Unlock()
		if err := p.AMI.EmitChannel("FAXStatus", uid, "Operation", "receive", "Status", "Allocating Resources", "LocalStationID", "", "FileName", "/var/fax/received.tif"); err != nil {
			return pl, err
		}
	}
	return pl, nil
}

// admit runs one channel's admission, and copies the variables it set into
// the AMI double's channel (Asterisk emits VarSet for each).
func (p *PBX) admit(ctx context.Context, pl *Placed, uid, name string) (map[string]string, error) {
	var vars map[string]string
	switch pl.Via {
	case ViaNone:
		return nil, nil
	case ViaAGI:
		r, err := agiclient.Call(ctx, *p.agiAddr.Load(), agiclient.Channel{
			Name: name, Uniqueid: uid, Linkedid: pl.Linkedid, CallerID: pl.Caller, DNID: pl.Called,
			Context: "from-internal", Exten: pl.Called,
		}, "admit,"+pl.Product+",linkedid=${CHANNEL(linkedid)}") // as licbridge dialplan prints it
		if err != nil {
			return nil, fmt.Errorf("asterisksim: AGI on %s: %w", uid, err)
		}
		pl.AGIStatus = r.AGIStatus
		vars = map[string]string{}
		for _, s := range r.Sets {
			vars[s.Name] = s.Value
		}
	case ViaARI:
		if p.ARI == nil {
			return nil, errors.New("asterisksim: ARI admission without the ARI double")
		}
		id, err := p.ARI.EnterStasis(arisrv.Channel{ID: uid, Name: name, State: "Ring", CallerNumber: pl.Caller, Context: "from-internal", Exten: pl.Called, Linkedid: pl.Linkedid}, "admit", pl.Product)
		if errors.Is(err, arisrv.ErrNotRegistered) {
			pl.StasisFailed = true
			return map[string]string{}, nil
		}
		if err != nil {
			return nil, err
		}
		out, err := p.ARI.Wait(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("asterisksim: Stasis on %s: %w", uid, err)
		}
		vars = out.Vars
		if out.HungUp && p.AMI != nil {
			_ = p.AMI.Hangup(uid, out.HangupCause)
		}
	default:
		return nil, fmt.Errorf("asterisksim: unknown admission path %q", pl.Via)
	}
	if p.AMI != nil {
		for _, k := range []string{"LICBRIDGE_STATUS", "LICBRIDGE_REASON", "LICBRIDGE_LEASE"} {
			if v, ok := vars[k]; ok {
				_ = p.AMI.SetVar(uid, k, v)
			}
		}
	}
	return vars, nil
}

// Hangup ends the call from the far side: the fax session (if any) reports
// its result, then every channel hangs up with cause 16 (AMI HangupRequest and
// Hangup; ARI ChannelHangupRequest and StasisEnd for channels ARI knows).
func (p *PBX) Hangup(pl *Placed) error {
	var errs []error
	if pl.Fax && p.AMI != nil {
		uid := pl.Channels[len(pl.Channels)-1]
		if err := p.AMI.EmitChannel("ReceiveFAX", uid, "LocalStationID", "", "RemoteStationID", "", "PagesTransferred", "1", "Resolution", "8031x3850", "TransferRate", "14400", "FileName", "/var/fax/received.tif"); err == nil {
			p.mu.Lock()
			p.fax.CurrentSessions--
			p.fax.CompletedFAXes++
			p.AMI.SetFAXStats(p.fax)
			p.mu.Unlock()
		}
	}
	for i := len(pl.Channels) - 1; i >= 0; i-- {
		uid := pl.Channels[i]
		if pl.Via == ViaARI && p.ARI != nil {
			if err := p.ARI.Hangup(uid); err != nil {
				errs = append(errs, err)
			}
		}
		if p.AMI != nil {
			if err := p.AMI.Hangup(uid, 16); err != nil && !errors.Is(err, amisrv.ErrNoSuchChannel) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Vanish removes the call's channels without a single event, as when
// Asterisk's events about them were lost (the connection was down): only a
// reconciliation can notice.
func (p *PBX) Vanish(pl *Placed) error {
	var errs []error
	if p.AMI == nil {
		return errors.New("asterisksim: Vanish needs the AMI double")
	}
	for _, uid := range pl.Channels {
		errs = append(errs, p.AMI.RemoveChannel(uid))
	}
	return errors.Join(errs...)
}

// TB is the part of testing.TB that the test helpers use, declared here so
// that the simulator, which the demo links into licbridge, does not link
// package testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}
