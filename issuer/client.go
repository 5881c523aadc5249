package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to an issuer service.
type Client struct {
	// URL is the issuer's base URL (https://issuer.example:8443).
	URL string
	// HTTP is the client used (a 30 s timeout when nil).
	HTTP *http.Client
}

// APIError is an answer of the issuer that refuses the call.
type APIError struct {
	Status int
	Response
}

func (e *APIError) Error() string {
	return "the issuer refused: " + e.Response.Error
}

// ErrUnreachable wraps failures to reach the issuer at all (as opposed to its
// refusals): a host keeps its installed keys then.
var ErrUnreachable = errors.New("issuer unreachable")

// Register activates the key for the request's host and returns the key file.
func (c *Client) Register(ctx context.Context, r Request) ([]byte, error) {
	return c.call(ctx, PathRegister, r)
}

// Fetch returns the current key file for a host the key is active on.
func (c *Client) Fetch(ctx context.Context, r Request) ([]byte, error) {
	return c.call(ctx, PathFetch, r)
}

// Deactivate frees the request's host slot.
func (c *Client) Deactivate(ctx context.Context, r Request) error {
	_, err := c.call(ctx, PathDeactivate, r)
	return err
}

func (c *Client) call(ctx context.Context, path string, r Request) ([]byte, error) {
	u, err := url.Parse(strings.TrimRight(c.URL, "/") + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("issuer URL %q: want http(s)://HOST[:PORT]", c.URL)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, u.Host, err)
	}
	defer resp.Body.Close()
	var out Response
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: %s answered %s without a JSON body", ErrUnreachable, u.Host, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		if out.Error == "" {
			out.Error = resp.Status
		}
		return nil, &APIError{Status: resp.StatusCode, Response: out}
	}
	return []byte(out.KeyFile), nil
}
