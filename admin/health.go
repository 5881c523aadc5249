package admin

import (
	"context"
	"net/http"

	"github.com/licbridge/licbridge/view"
)

// Health reports the state of the parts readiness depends on (AMI, ARI, the
// store). Check is called on every /readyz request and must be quick.
type Health interface {
	Check(ctx context.Context) []Component
}

// HealthFunc adapts a function to Health.
type HealthFunc func(ctx context.Context) []Component

// Check calls f.
func (f HealthFunc) Check(ctx context.Context) []Component { return f(ctx) }

// Component is one part's health.
type Component = view.Component

// Readiness is the body of /readyz.
type Readiness struct {
	Ready      bool        `json:"ready"`
	Components []Component `json:"components"`
}

// readyHandler answers 200 when every component is OK, else 503.
func (s *Server) readyHandler(w http.ResponseWriter, r *http.Request) {
	rd := Readiness{Ready: true, Components: []Component{}}
	if s.opt.Health != nil {
		rd.Components = append(rd.Components, s.opt.Health.Check(r.Context())...)
	}
	for _, c := range rd.Components {
		rd.Ready = rd.Ready && c.OK
	}
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rd)
}
