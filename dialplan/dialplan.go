// Package dialplan is licbridge's side of the Asterisk dialplan: the FastAGI server
// that `AGI(agi://HOST:4573/admit,PRODUCT)` calls, and the dialplan snippets that
// `licbridge dialplan` prints.
//
// The server asks an Admitter (implemented by the admission core, which this
// package does not import), sets LICBRIDGE_STATUS, LICBRIDGE_REASON and
// LICBRIDGE_LEASE on the channel, and closes the socket at once: Asterisk keeps the
// channel, and its hangup, waiting until the FastAGI server closes. The AGI line
// protocol itself is in the agi sub-package.
package dialplan

import "context"

// AdmitRequest asks for one licensed channel of Product.
type AdmitRequest struct {
	Product string
	Channel string // Asterisk Uniqueid of the channel
	Call    string // Asterisk Linkedid: the call the channel belongs to
	Caller  string // caller ID number, "" when unknown
	Called  string // dialled number (DNID), else the extension
}

// Decision is the admission outcome. A business refusal is a Decision with
// Admitted false and a Reason (OVER_LIMIT, NO_LICENSE, ...), never an error.
type Decision struct {
	Admitted bool
	Reason   string
	Lease    string
}

// Usage is a product's channels in use against its licensed total.
type Usage struct {
	InUse, Total int
}

// Admitter is what the FastAGI server needs from the admission core. Its methods
// are called concurrently, with a context bounded by the session deadline. An error
// means "no decision could be made": the channel gets LICBRIDGE_STATUS=ERROR.
type Admitter interface {
	Admit(ctx context.Context, req AdmitRequest) (Decision, error)
	Release(ctx context.Context, product, channel string) error
	Status(ctx context.Context, product string) (Usage, error)
}

// Channel variables the server sets, and their values.
const (
	VarStatus = "LICBRIDGE_STATUS"
	VarReason = "LICBRIDGE_REASON"
	VarLease  = "LICBRIDGE_LEASE"
	VarInUse  = "LICBRIDGE_INUSE"
	VarTotal  = "LICBRIDGE_TOTAL"

	StatusAdmitted = "ADMITTED" // admit: the channel holds a license
	StatusRejected = "REJECTED" // admit: refused, LICBRIDGE_REASON says why
	StatusError    = "ERROR"    // no decision: bad request or internal failure
	StatusOK       = "OK"       // release and status succeeded

	ReasonBadRequest = "BAD_REQUEST" // the AGI request could not be understood
	ReasonInternal   = "INTERNAL"    // the Admitter failed
	ReasonTimeout    = "TIMEOUT"     // the Admitter did not answer within the session deadline
)

// Reasoned is an Admitter error that names the LICBRIDGE_REASON to set in
// place of INTERNAL: "DRAINING" while the node stops, say. It is an expected
// refusal, logged at Info, not a failure.
type Reasoned interface {
	error
	Reason() string
}
