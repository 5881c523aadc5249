package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

// maxBody bounds what we read of an ARI response; Asterisk's answers are small.
const maxBody = 4 << 20

// Client is a small ARI REST client. We do not use ari/v5's client/native for
// REST: its errors drop Asterisk's JSON message, its Continue always sends a
// context/extension/priority body (we need the no-parameter form that resumes
// after Stasis()), its Hangup cannot send reason_code, and it would pull
// golang.org/x/net/websocket into the build for nothing. The response types
// are ari/v5's, which decode Asterisk 22's bodies correctly (see the tests).
//
// A Client is safe for concurrent use.
type Client struct {
	base *url.URL // http://host:port/ari
	user string
	pass string
	hc   *http.Client
}

// newClient returns a REST client for the ARI at rawURL ("http://127.0.0.1:8088",
// with or without the "/ari" suffix). hc nil means a client of our own with no
// overall timeout: every call is bounded by its context.
func newClient(rawURL, user, password string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("ari: parse url %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("ari: url %q: scheme must be http or https", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ari: url %q: no host", rawURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/ari") {
		u.Path += "/ari"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // libraries do not read the environment (HTTP_PROXY)
		t.MaxIdleConnsPerHost = 16
		hc = &http.Client{Transport: t}
	}
	return &Client{base: u, user: user, pass: password, hc: hc}, nil
}

// param is one query parameter; a slice of them keeps Asterisk's documented
// order (url.Values would sort them).
type param struct{ k, v string }

// encodeQuery escapes like the recorded requests: spaces as %20, not "+".
func encodeQuery(ps []param) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.k))
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p.v), "+", "%20"))
	}
	return b.String()
}

// do runs one request and decodes a 2xx JSON body into out (when non-nil).
func (c *Client) do(ctx context.Context, op, method, path string, q []param, body, out any) error {
	u := *c.base
	u.Path += path
	u.RawPath = ""
	u.RawQuery = encodeQuery(q)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ari: %s: encode body: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("ari: %s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("ari: %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("ari: %s: read response: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &restError{Op: op, StatusCode: resp.StatusCode, Message: errorMessage(resp, data)}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ari: %s: decode response: %w", op, err)
	}
	return nil
}

// errorMessage is Asterisk's {"message": ...}, else the status line's reason
// phrase ("Not Found"), else the standard text for the code.
func errorMessage(resp *http.Response, body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return m.Message
	}
	if _, reason, ok := strings.Cut(resp.Status, " "); ok && reason != "" {
		return reason
	}
	return http.StatusText(resp.StatusCode)
}

func chanPath(id string) string { return "/channels/" + url.PathEscape(id) }

// Info is GET /ari/asterisk/info.
func (c *Client) Info(ctx context.Context) (*ariv5.AsteriskInfo, error) {
	var info ariv5.AsteriskInfo
	if err := c.do(ctx, "get asterisk info", http.MethodGet, "/asterisk/info", nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Channels is GET /ari/channels.
func (c *Client) Channels(ctx context.Context) ([]ariv5.ChannelData, error) {
	var list []ariv5.ChannelData
	if err := c.do(ctx, "list channels", http.MethodGet, "/channels", nil, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// Channel is GET /ari/channels/{id}.
func (c *Client) Channel(ctx context.Context, id string) (*ariv5.ChannelData, error) {
	var ch ariv5.ChannelData
	if err := c.do(ctx, fmt.Sprintf("get channel %q", id), http.MethodGet, chanPath(id), nil, nil, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// Variable is GET /ari/channels/{id}/variable: the value of a channel variable
// or dialplan function (CHANNEL(linkedid)). An unset variable is errNotFound.
func (c *Client) Variable(ctx context.Context, id, name string) (string, error) {
	var v struct {
		Value string `json:"value"`
	}
	op := fmt.Sprintf("get variable %s on channel %q", name, id)
	if err := c.do(ctx, op, http.MethodGet, chanPath(id)+"/variable", []param{{"variable", name}}, nil, &v); err != nil {
		return "", err
	}
	return v.Value, nil
}

// SetVariable is POST /ari/channels/{id}/variable?variable=NAME&value=VALUE.
// The channel must be in Stasis (else errNotInStasis).
func (c *Client) SetVariable(ctx context.Context, id, name, value string) error {
	op := fmt.Sprintf("set variable %s on channel %q", name, id)
	return c.do(ctx, op, http.MethodPost, chanPath(id)+"/variable", []param{{"variable", name}, {"value", value}}, nil, nil)
}

// Continue is POST /ari/channels/{id}/continue. With an empty context,
// extension and a zero priority no parameter is sent, and the channel resumes
// after its Stasis() with STASISSTATUS=SUCCESS.
func (c *Client) Continue(ctx context.Context, id, dpContext, extension string, priority int) error {
	var q []param
	if dpContext != "" {
		q = append(q, param{"context", dpContext})
	}
	if extension != "" {
		q = append(q, param{"extension", extension})
	}
	if priority > 0 {
		q = append(q, param{"priority", strconv.Itoa(priority)})
	}
	return c.do(ctx, fmt.Sprintf("continue channel %q", id), http.MethodPost, chanPath(id)+"/continue", q, nil, nil)
}

// hangupCause says how to hang a channel up: a Q.850 cause code (reason_code),
// or one of Asterisk's reason names (normal, busy, congestion, no_answer, ...).
// The zero value lets Asterisk choose (normal clearing).
type hangupCause struct {
	Code   int    // Q.850 cause, e.g. 21 (call rejected); sent as reason_code
	Reason string // used when Code is 0, e.g. "congestion"
}

// Hangup is DELETE /ari/channels/{id}[?reason_code=N|?reason=NAME].
func (c *Client) Hangup(ctx context.Context, id string, cause hangupCause) error {
	var q []param
	switch {
	case cause.Code > 0:
		q = []param{{"reason_code", strconv.Itoa(cause.Code)}}
	case cause.Reason != "":
		q = []param{{"reason", cause.Reason}}
	}
	return c.do(ctx, fmt.Sprintf("hang up channel %q", id), http.MethodDelete, chanPath(id), q, nil, nil)
}

// Applications is GET /ari/applications.
func (c *Client) Applications(ctx context.Context) ([]ariv5.ApplicationData, error) {
	var list []ariv5.ApplicationData
	if err := c.do(ctx, "list applications", http.MethodGet, "/applications", nil, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// Application is GET /ari/applications/{name}.
func (c *Client) Application(ctx context.Context, name string) (*ariv5.ApplicationData, error) {
	var app ariv5.ApplicationData
	op := fmt.Sprintf("get application %q", name)
	if err := c.do(ctx, op, http.MethodGet, "/applications/"+url.PathEscape(name), nil, nil, &app); err != nil {
		return nil, err
	}
	return &app, nil
}

// eventType is one entry of an Asterisk 22 event filter.
type eventType struct {
	Type string `json:"type"`
}

// SetEventFilter is PUT /ari/applications/{app}/eventFilter (Asterisk 16.7+):
// only the listed event types reach the application's WebSocket. The
// application exists only while its WebSocket is connected.
func (c *Client) SetEventFilter(ctx context.Context, app string, allowed []string) error {
	body := struct {
		Allowed []eventType `json:"allowed"`
	}{}
	for _, t := range allowed {
		body.Allowed = append(body.Allowed, eventType{t})
	}
	op := fmt.Sprintf("set event filter of application %q", app)
	return c.do(ctx, op, http.MethodPut, "/applications/"+url.PathEscape(app)+"/eventFilter", nil, body, nil)
}

// Subscribe is POST /ari/applications/{app}/subscription?eventSource=SRC, for
// example "channel:1795386433.43": the application keeps receiving that
// channel's events after it leaves Stasis, so we hear its hangup.
func (c *Client) Subscribe(ctx context.Context, app, eventSource string) error {
	op := fmt.Sprintf("subscribe application %q to %s", app, eventSource)
	return c.do(ctx, op, http.MethodPost, "/applications/"+url.PathEscape(app)+"/subscription", []param{{"eventSource", eventSource}}, nil, nil)
}
