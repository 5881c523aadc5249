package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// openPaths answer without the token: liveness only, no data, because load
// balancers and orchestrators probing it cannot send a bearer token.
// /readyz stays behind the token: it names the failing parts and why.
var openPaths = map[string]bool{"/healthz": true}

// requireToken wraps next so that every request but openPaths must carry the
// bearer token. Both sides are hashed before the constant-time comparison so
// that neither the content nor the length of the token leaks through timing.
func (s *Server) requireToken(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.opt.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if openPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			// Never log what was sent: a wrong token is often a right one mistyped.
			s.opt.Logger.Warn("admin request refused: missing or wrong bearer token",
				"remote", r.RemoteAddr, "path", r.URL.Path, "token_given", ok)
			w.Header().Set("WWW-Authenticate", `Bearer realm="licbridge"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "a valid bearer token is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
