package ari

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// replayServer answers each connection's first request with fixed bytes and
// closes, as the recorded Asterisk did (Connection: close). It keeps the
// request it got.
type replayServer struct {
	ln   net.Listener
	resp []byte
	mu   sync.Mutex
	reqs []*http.Request
}

func startReplay(tb testing.TB, resp []byte) *replayServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &replayServer{ln: ln, resp: resp}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				s.mu.Lock()
				s.reqs = append(s.reqs, req)
				s.mu.Unlock()
				_, _ = c.Write(s.resp)
			}()
		}
	}()
	return s
}

func (s *replayServer) url() string { return "http://" + s.ln.Addr().String() }

func (s *replayServer) lastRequest(tb testing.TB) *http.Request {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		tb.Fatal("no request reached the replay server")
	}
	return s.reqs[len(s.reqs)-1]
}

// TestClientAgainstRecordedResponses serves each recorded ARI response to our
// REST client: the request line it sends matches the recorded one, and it
// reports the outcome as Asterisk meant it (status code and message on
// failure, the decoded body on success).
func TestClientAgainstRecordedResponses(t *testing.T) {
	ctx := context.Background()
	type result struct {
		code int    // 0: success
		msg  string // Asterisk's message
	}
	cases := []struct {
		fixture string
		call    func(*Client) error
		want    result
		// sameRequestLine: our request line equals the recorded one.
		sameRequestLine bool
	}{
		{"ari_get_asterisk_info", func(c *Client) error {
			info, err := c.Info(ctx)
			if err == nil && (info.SystemInfo.Version != "22.10.1" || info.SystemInfo.EntityID != "02:fc:00:00:00:01" ||
				!time.Time(info.StatusInfo.StartupTime).Equal(time.Date(2026, 11, 22, 22, 24, 12, 348e6, time.UTC))) {
				return errors.New("info decoded wrong")
			}
			return err
		}, result{}, true},
		{"ari_get_info_api_key", func(c *Client) error { _, err := c.Info(ctx); return err }, result{}, false},
		{"ari_get_channels_empty", func(c *Client) error {
			l, err := c.Channels(ctx)
			if err == nil && len(l) != 0 {
				return errors.New("want no channels")
			}
			return err
		}, result{}, true},
		{"ari_get_channels_active", func(c *Client) error {
			l, err := c.Channels(ctx)
			if err == nil && (len(l) != 2 || l[1].ID != "1795386433.43" || l[1].Dialplan.Context != "lic-stasis" ||
				l[1].Caller.Number != "2000" || l[1].Creationtime == nil) {
				return errors.New("channels decoded wrong")
			}
			return err
		}, result{}, true},
		{"ari_get_channel", func(c *Client) error {
			ch, err := c.Channel(ctx, "1795386433.43")
			if err == nil && (ch.Name != "Local/s@lic-stasis-00000012;2" || ch.Dialplan.Priority != 4) {
				return errors.New("channel decoded wrong")
			}
			return err
		}, result{}, true},
		{"ari_get_variable", func(c *Client) error {
			v, err := c.Variable(ctx, "1795386433.43", "LICENSE_FEATURE")
			if err == nil && v != "g729" {
				return errors.New("value " + v)
			}
			return err
		}, result{}, true},
		{"ari_get_variable_unset", func(c *Client) error { _, err := c.Variable(ctx, "1795386433.43", "NOSUCHVAR"); return err },
			result{404, "Provided variable was not found"}, true},
		{"ari_post_variable", func(c *Client) error { return c.SetVariable(ctx, "1795386433.43", "LIC_DECISION", "admit") }, result{}, true},
		{"ari_post_variable_escaped", func(c *Client) error {
			return c.SetVariable(ctx, "1795386433.43", "LIC_NOTE", "50% used: a=b & c")
		}, result{}, true},
		{"ari_post_variable_json_body", func(c *Client) error { return c.SetVariable(ctx, "1795386433.43", "LIC_BODY", "from-json-body") }, result{}, false},
		{"ari_400_post_variable_missing_param", func(c *Client) error { return c.SetVariable(ctx, "1795386433.43", "", "") },
			result{400, "Variable name is required"}, false},
		{"ari_post_variable_not_in_stasis", func(c *Client) error { return c.SetVariable(ctx, "1795386433.43", "X", "1") },
			result{409, "Channel not in Stasis application"}, true},
		{"ari_404_post_variable", func(c *Client) error { return c.SetVariable(ctx, "nosuchchannel", "X", "1") },
			result{404, "Channel not found"}, true},
		{"ari_post_continue", func(c *Client) error { return c.Continue(ctx, "1795386433.43", "lic-stasis", "admitted", 1) }, result{}, true},
		{"ari_post_continue_no_params", func(c *Client) error { return c.Continue(ctx, "1795386487.51", "", "", 0) }, result{}, true},
		{"ari_continue_not_in_stasis", func(c *Client) error { return c.Continue(ctx, "1795386433.43", "", "", 0) },
			result{409, "Channel not in Stasis application"}, true},
		{"ari_404_continue", func(c *Client) error { return c.Continue(ctx, "nosuchchannel", "", "", 0) },
			result{404, "Channel not found"}, true},
		{"ari_delete_channel_reason", func(c *Client) error {
			return c.Hangup(ctx, "1795386438.45", hangupCause{Reason: "congestion"})
		}, result{}, true},
		{"ari_delete_channel_reason_code", func(c *Client) error {
			return c.Hangup(ctx, "lic-ari-orig-1", hangupCause{Code: 17})
		}, result{}, true},
		{"ari_400_delete_bad_reason", func(c *Client) error { return c.Hangup(ctx, "1795386438.45", hangupCause{Reason: "bogus"}) },
			result{400, "Invalid reason for hangup reason provided"}, true},
		{"ari_404_delete_channel", func(c *Client) error { return c.Hangup(ctx, "nosuchchannel", hangupCause{}) },
			result{404, "Channel not found"}, true},
		{"ari_404_delete_gone_channel", func(c *Client) error { return c.Hangup(ctx, "1795386438.45", hangupCause{}) },
			result{404, "Channel not found"}, true},
		{"ari_404_get_channel", func(c *Client) error { _, err := c.Channel(ctx, "nosuchchannel"); return err },
			result{404, "Channel not found"}, true},
		{"ari_get_applications_before_ws", func(c *Client) error {
			l, err := c.Applications(ctx)
			if err == nil && len(l) != 0 {
				return errors.New("want no applications")
			}
			return err
		}, result{}, true},
		{"ari_get_application_licbridge", func(c *Client) error {
			a, err := c.Application(ctx, "licbridge")
			if err == nil && a.Name != "licbridge" {
				return errors.New("application decoded wrong")
			}
			return err
		}, result{}, true},
		{"ari_401_bad_password", func(c *Client) error { _, err := c.Info(ctx); return err }, result{401, "Authentication required"}, false},
		{"ari_401_no_auth", func(c *Client) error { _, err := c.Info(ctx); return err }, result{401, "Authentication required"}, false},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			srv := startReplay(t, fixtures.Read(t, "asterisk", c.fixture+".resp.raw"))
			cl, err := newClient(srv.url(), "licbridge", "licsecret", nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.call(cl)
			if c.want.code == 0 {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
			} else {
				var ae *restError
				if !errors.As(err, &ae) {
					t.Fatalf("err = %v, want an *restError", err)
				}
				if ae.StatusCode != c.want.code || ae.Message != c.want.msg {
					t.Errorf("got %d %q, want %d %q", ae.StatusCode, ae.Message, c.want.code, c.want.msg)
				}
				if want := strconv.Itoa(c.want.code) + " " + c.want.msg; !strings.HasSuffix(err.Error(), want) {
					t.Errorf("error text %q does not end in %q", err, want)
				}
			}
			req := srv.lastRequest(t)
			recorded := fixtures.Read(t, "asterisk", c.fixture+".req.raw")
			line, _, _ := bytes.Cut(recorded, []byte("\r\n"))
			if got := req.Method + " " + req.RequestURI + " HTTP/1.1"; c.sameRequestLine && got != string(line) {
				t.Errorf("request line %q, recorded %q", got, line)
			}
			if u, p, ok := req.BasicAuth(); !ok || u != "licbridge" || p != "licsecret" {
				t.Errorf("basic auth %q %q %v", u, p, ok)
			}
		})
	}
}

func TestErrorSentinels(t *testing.T) {
	cases := []struct {
		code int
		want error
	}{
		{401, ErrUnauthorized}, {404, errNotFound}, {409, errNotInStasis}, {400, errBadRequest},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.code), func(t *testing.T) {
			err := error(&restError{Op: "x", StatusCode: c.code, Message: "m"})
			if !errors.Is(err, c.want) {
				t.Errorf("errors.Is(%d, %v) = false", c.code, c.want)
			}
			for _, other := range []error{ErrUnauthorized, errNotFound, errNotInStasis, errBadRequest} {
				if other != c.want && errors.Is(err, other) {
					t.Errorf("%d also matches %v", c.code, other)
				}
			}
		})
	}
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8088", "ftp://x", "http://", "http://%zz"} {
		if _, err := newClient(u, "u", "p", nil); err == nil {
			t.Errorf("newClient(%q) accepted", u)
		}
	}
}
