package dialplan

import "github.com/licbridge/licbridge/admission"

// The contract's types under their older names here, so that callers move to
// package admission at their pace.
type (
	AdmitRequest = admission.Request
	Decision     = admission.Decision
	Usage        = admission.Usage
	Admitter     = admission.Admitter
	Reasoned     = admission.Reasoned
)
