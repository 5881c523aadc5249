package ari

import (
	"context"
	"errors"
	"log/slog"
)

// AdmitRequest asks for one licensed channel.
type AdmitRequest struct {
	Product string // e.g. "g729"
	Channel string // the channel's Uniqueid (ARI channel id)
	Call    string // the channel's Linkedid when known, else ""
	Caller  string // caller ID number
	Called  string // dialplan extension the channel is on
}

// Decision is the admitter's answer. Reason is one of the dialplan's reason
// tokens (OVER_LIMIT, NO_LICENSE, ...), Lease an opaque holding reference.
type Decision struct {
	Admitted bool
	Reason   string
	Lease    string
}

// Admitter is what the app needs from the admission core. Both methods may be
// called concurrently, and Release for a channel never admitted must be a
// no-op (release is idempotent).
type Admitter interface {
	Admit(ctx context.Context, req AdmitRequest) (Decision, error) // error → LICBRIDGE_STATUS=ERROR
	Release(ctx context.Context, product, channel string) error
}

// Usage is a product's channels in use against its licensed total.
type Usage struct {
	InUse, Total int
}

// StatusChecker is optional: an Admitter that implements it answers
// Stasis(licbridge,status,PRODUCT) as FastAGI answers status,PRODUCT:
// LICBRIDGE_STATUS=OK with LICBRIDGE_INUSE and LICBRIDGE_TOTAL as the cluster
// sees them. Without it a status request gets LICBRIDGE_STATUS=ERROR, reason
// UNSUPPORTED.
type StatusChecker interface {
	Status(ctx context.Context, product string) (Usage, error)
}

// Channel variable names and values the dialplan branches on.
const (
	VarStatus = "LICBRIDGE_STATUS"
	VarReason = "LICBRIDGE_REASON"
	VarLease  = "LICBRIDGE_LEASE"
	VarInUse  = "LICBRIDGE_INUSE" // status: channels in use
	VarTotal  = "LICBRIDGE_TOTAL" // status: licensed total

	StatusAdmitted = "ADMITTED"
	StatusRejected = "REJECTED"
	StatusOK       = "OK" // release and status succeeded (FastAGI's word too)
	StatusError    = "ERROR"

	ReasonBadRequest  = "BAD_REQUEST" // Stasis() arguments we cannot read
	ReasonInternal    = "INTERNAL"    // the admitter returned an error (the same word as FastAGI's)
	ReasonUnsupported = "UNSUPPORTED" // status asked of an Admitter without StatusChecker
)

// Reasoned is an Admitter error that names the LICBRIDGE_REASON to set in
// place of INTERNAL: "DRAINING" while the node stops, say. It is an expected
// refusal, logged at Info, not a failure.
type Reasoned interface {
	error
	Reason() string
}

// failReason logs an Admitter error and names its LICBRIDGE_REASON.
func failReason(log *slog.Logger, action, product string, err error) string {
	if r, ok := errors.AsType[Reasoned](err); ok {
		log.Info(action+" refused", "product", product, "reason", r.Reason(), "err", err)
		return r.Reason()
	}
	log.Error(action+" failed", "product", product, "err", err)
	return ReasonInternal
}
