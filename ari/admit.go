package ari

import (
	"context"

	"github.com/licbridge/licbridge/admission"
)

// The admission contract's types (package admission), under the names this
// package's callers knew. Stasis(APP,status,PRODUCT) has FastAGI's meaning:
// the product's cluster INUSE/TOTAL.
type (
	AdmitRequest = admission.Request
	Decision     = admission.Decision
	Usage        = admission.Usage
	Admitter     = admission.Admitter
	Reasoned     = admission.Reasoned
	// StatusChecker is what every Admitter now implements; kept so callers'
	// interface guards compile.
	StatusChecker = interface {
		Status(ctx context.Context, product string) (Usage, error)
	}
)
