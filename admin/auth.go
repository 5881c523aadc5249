package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken wraps next so that every request must carry the bearer token.
// Both sides are hashed before the constant-time comparison so that neither
// the content nor the length of the token leaks through timing.
func (s *Server) requireToken(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.opt.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
