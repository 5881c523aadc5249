package ari

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinels for the ARI answers callers branch on; match them with errors.Is
// against an *Error.
var (
	// ErrUnauthorized: Asterisk answered 401 (wrong user or password).
	ErrUnauthorized = errors.New("ari: authentication failed")
	// ErrNotFound: the channel (or variable, or resource) does not exist.
	ErrNotFound = errors.New("ari: not found")
	// ErrNotInStasis: 409, the channel is not in a Stasis application.
	ErrNotInStasis = errors.New("ari: channel not in stasis")
	// ErrBadRequest: 400, Asterisk refused a parameter.
	ErrBadRequest = errors.New("ari: bad request")
)

// Error is a failed ARI request: what was being done, the HTTP status code and
// Asterisk's own message from the JSON body ({"message":"Channel not found"}),
// or the status line's reason phrase when the body has none.
type Error struct {
	Op         string // what was being done, e.g. `continue channel "1795386433.43"`
	StatusCode int    // HTTP status code, e.g. 404
	Message    string // Asterisk's message, e.g. "Channel not found"
}

// Error reads like "ari: continue channel "x": 404 Channel not found".
func (e *Error) Error() string {
	return fmt.Sprintf("ari: %s: %d %s", e.Op, e.StatusCode, e.Message)
}

// Is maps the status code onto the package sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrNotInStasis:
		return e.StatusCode == http.StatusConflict
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	}
	return false
}
