package admission

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Verb is what a dialplan request asks for. Each has one meaning on every path.
type Verb string

const (
	// VerbAdmit asks for one licensed channel of a product for the channel.
	VerbAdmit Verb = "admit"
	// VerbRelease gives the channel's holding of a product back; releasing
	// what is not held succeeds (release is idempotent).
	VerbRelease Verb = "release"
	// VerbStatus asks for the product's channels in use and licensed total,
	// as the cluster sees them (not whether this channel holds one).
	VerbStatus Verb = "status"
)

// ParseVerb reads a verb, case-insensitively.
func ParseVerb(s string) (Verb, bool) {
	switch v := Verb(strings.ToLower(s)); v {
	case VerbAdmit, VerbRelease, VerbStatus:
		return v, true
	}
	return "", false
}

// Request asks for one licensed channel of Product.
type Request struct {
	Product string
	Channel string // Asterisk Uniqueid of the channel
	Call    string // Asterisk Linkedid: the call the channel belongs to ("" when unknown)
	Caller  string // caller ID number, "" when unknown
	Called  string // dialled number (DNID), else the extension
}

// Decision is the admission outcome. A business refusal is a Decision with
// Admitted false and a Reason (OVER_LIMIT, NO_LICENSE, ...), never an error.
type Decision struct {
	Admitted bool
	Reason   string
	Lease    string // opaque holding reference, set when admitted
}

// Usage is a product's channels in use against its licensed total.
type Usage struct {
	InUse, Total int
}

// Admitter is what both dialplan paths need from the admission core. Its
// methods are called concurrently, with a context bounded by the request's
// deadline. An error means "no decision could be made": the channel gets
// LICBRIDGE_STATUS=ERROR, with the reason an error names (Reasoned), else
// TIMEOUT when the deadline passed, else INTERNAL.
type Admitter interface {
	Admit(ctx context.Context, req Request) (Decision, error)
	// Release for a channel that holds nothing of product is a no-op.
	Release(ctx context.Context, product, channel string) error
	Status(ctx context.Context, product string) (Usage, error)
}

// Reasoned is an Admitter error that names the LICBRIDGE_REASON to set in
// place of INTERNAL: DRAINING while the node stops, say. It is an expected
// refusal, logged at Info, not a failure.
type Reasoned interface {
	error
	Reason() string
}

// Channel variables set on the channel, and their values.
const (
	VarStatus = "LICBRIDGE_STATUS"
	VarReason = "LICBRIDGE_REASON"
	VarLease  = "LICBRIDGE_LEASE"
	VarInUse  = "LICBRIDGE_INUSE" // status: channels in use
	VarTotal  = "LICBRIDGE_TOTAL" // status: licensed total

	StatusAdmitted = "ADMITTED" // admit: the channel holds a license
	StatusRejected = "REJECTED" // admit: refused, LICBRIDGE_REASON says why
	StatusOK       = "OK"       // release and status succeeded
	StatusError    = "ERROR"    // no decision: LICBRIDGE_REASON says why
)

// Reasons (LICBRIDGE_REASON). The first five come with REJECTED, the others
// with ERROR. The admission core names its refusals with the same words.
const (
	ReasonOverLimit        = "OVER_LIMIT"        // every licensed channel is in use
	ReasonNoLicense        = "NO_LICENSE"        // no valid key for the product
	ReasonExpired          = "EXPIRED"           // the product's keys have all expired
	ReasonLocked           = "LOCKED"            // grace mode, locked after 14 over-limit days
	ReasonStoreUnavailable = "STORE_UNAVAILABLE" // fail-closed while the store is away

	ReasonBadRequest = "BAD_REQUEST" // the request could not be understood
	ReasonInternal   = "INTERNAL"    // the Admitter failed
	ReasonTimeout    = "TIMEOUT"     // the Admitter did not answer in time
	ReasonStarting   = "STARTING"    // licbridge has just started and is not ready
	ReasonDraining   = "DRAINING"    // licbridge is stopping
)

// Answer is the reply to one request: the LICBRIDGE_* values to set.
type Answer struct {
	Status string
	Reason string
	Lease  string
	// Usage is set by a status answer; such an answer leaves LICBRIDGE_LEASE
	// alone, since a restarted node reads it back to learn what the channel holds.
	Usage *Usage
	// Err is the Admitter's error behind an ERROR answer (nil otherwise);
	// Expected tells a refusal the Admitter named (Reasoned, log at Info) from
	// a failure (log at Error).
	Err      error
	Expected bool
}

// Setting is one channel variable to set.
type Setting struct{ Name, Value string }

// Settings lists the variables to set, in order: LICBRIDGE_STATUS last, so
// that an answer cut short never leaves a status without its details.
func (a Answer) Settings() []Setting {
	var out []Setting
	if a.Usage != nil {
		out = append(out,
			Setting{VarInUse, strconv.Itoa(a.Usage.InUse)},
			Setting{VarTotal, strconv.Itoa(a.Usage.Total)},
			Setting{VarReason, a.Reason})
	} else {
		// The lease is always set (cleared when none), so that a value from an
		// earlier request on the same channel cannot be mistaken for this one's.
		out = append(out, Setting{VarReason, a.Reason}, Setting{VarLease, a.Lease})
	}
	return append(out, Setting{VarStatus, a.Status})
}

// Admitted reports whether the answer gave the channel a holding.
func (a Answer) Admitted() bool { return a.Status == StatusAdmitted }

// BadRequest is the answer to a request that could not be decoded.
func BadRequest() Answer { return Answer{Status: StatusError, Reason: ReasonBadRequest} }

// Do asks adm what verb asks for req and returns the answer. ctx bounds the
// Admitter; keep time after it to set the answer (see Reserve).
func Do(ctx context.Context, adm Admitter, verb Verb, req Request) Answer {
	switch verb {
	case VerbAdmit:
		d, err := adm.Admit(ctx, req)
		switch {
		case err != nil:
			return failed(ctx, err)
		case d.Admitted:
			return Answer{Status: StatusAdmitted, Reason: d.Reason, Lease: d.Lease}
		}
		return Answer{Status: StatusRejected, Reason: d.Reason}
	case VerbRelease:
		if err := adm.Release(ctx, req.Product, req.Channel); err != nil {
			return failed(ctx, err)
		}
		return Answer{Status: StatusOK}
	case VerbStatus:
		u, err := adm.Status(ctx, req.Product)
		if err != nil {
			return failed(ctx, err)
		}
		return Answer{Status: StatusOK, Usage: &u}
	}
	return BadRequest()
}

// failed names the reason of an Admitter error.
func failed(ctx context.Context, err error) Answer {
	a := Answer{Status: StatusError, Reason: ReasonInternal, Err: err}
	if r, ok := errors.AsType[Reasoned](err); ok && r.Reason() != "" {
		a.Reason, a.Expected = r.Reason(), true
	} else if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		a.Reason = ReasonTimeout
	}
	return a
}

// Reserve is the part of a request's time kept for setting the answer: half
// of it, at most 500ms (a few round trips on a loaded host need far less). A
// protocol gives the Admitter its deadline minus Reserve, so that a slow
// admission is still answered (ERROR, TIMEOUT) in time.
func Reserve(total time.Duration) time.Duration {
	return min(total/2, 500*time.Millisecond)
}
