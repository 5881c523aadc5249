package ari

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinels for the ARI answers callers branch on; match them with errors.Is
// against an *restError.
var (
	// ErrUnauthorized: Asterisk answered 401 (wrong user or password).
	ErrUnauthorized = errors.New("ari: authentication failed")
	// errNotFound: the channel (or variable, or resource) does not exist.
	errNotFound = errors.New("ari: not found")
	// errNotInStasis: 409, the channel is not in a Stasis application.
	errNotInStasis = errors.New("ari: channel not in stasis")
	// errBadRequest: 400, Asterisk refused a parameter.
	errBadRequest = errors.New("ari: bad request")
)

// Error is a failed ARI request: what was being done, the HTTP status code and
// Asterisk's own message from the JSON body ({"message":"Channel not found"}),
// or the status line's reason phrase when the body has none.
type restError struct {
	Op         string // what was being done, e.g. `continue channel "1795386433.43"`
	StatusCode int    // HTTP status code, e.g. 404
	Message    string // Asterisk's message, e.g. "Channel not found"
}

// Error reads like "ari: continue channel "x": 404 Channel not found".
func (e *restError) Error() string {
	return fmt.Sprintf("ari: %s: %d %s", e.Op, e.StatusCode, e.Message)
}

// Is maps the status code onto the package sentinels.
func (e *restError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case errNotFound:
		return e.StatusCode == http.StatusNotFound
	case errNotInStasis:
		return e.StatusCode == http.StatusConflict
	case errBadRequest:
		return e.StatusCode == http.StatusBadRequest
	}
	return false
}
