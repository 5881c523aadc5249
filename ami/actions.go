package ami

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/licbridge/licbridge/ami/proto"
)

// Response is the answer to an action: the "Response:" message and, for list
// actions, the items that followed it (EventList start … Complete), or the
// follow-up event of FAXStats.
type Response struct {
	Msg      *proto.Message   // the Response message
	Items    []*proto.Message // list items or follow-up events, in order
	Complete *proto.Message   // the closing "…Complete" event of a list, else nil
}

// Success reports a "Response: Success" (or Goodbye) answer.
func (r *Response) Success() bool {
	n := r.Msg.Name()
	return strings.EqualFold(n, "Success") || strings.EqualFold(n, "Goodbye")
}

// Get returns a header of the Response message.
func (r *Response) Get(key string) string { return r.Msg.Get(key) }

// ErrNoSuchChannel: the action named a channel Asterisk does not have.
var ErrNoSuchChannel = errors.New("no such channel")

// ActionError is a "Response: Error" answer: Asterisk refused the action.
type ActionError struct {
	Action  string
	Message string   // Asterisk's "Message:" header
	Output  []string // "Output:" lines, for a failed Command
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("ami: %s refused: %s", e.Action, e.Message)
}

// Is makes errors.Is(err, ErrNoSuchChannel) work.
func (e *ActionError) Is(target error) bool {
	return target == ErrNoSuchChannel && e.Message == "No such channel"
}

// Action runs any action with the given headers, in order, and waits for its
// answer (and list items). The ActionID is ours: any given one is replaced.
// A "Response: Error" answer is returned along with an *ActionError. Every
// value is checked: a CR, LF or NUL fails the call with proto.ErrUnsafeValue
// and nothing is sent.
func (c *Client) Action(ctx context.Context, action string, fields ...proto.Field) (*Response, error) {
	m := &proto.Message{Fields: append([]proto.Field{{Key: "Action", Value: action}}, fields...)}
	return c.send(ctx, m, 0)
}

func (c *Client) send(ctx context.Context, m *proto.Message, follow int) (*Response, error) {
	cn, err := c.current()
	if err != nil {
		return nil, fmt.Errorf("ami: %s: %w", m.Name(), err)
	}
	r, err := c.do(ctx, cn, m, follow)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(r.Msg.Name(), "Error") {
		return r, &ActionError{Action: m.Name(), Message: r.Get("Message"), Output: r.Msg.Values("Output")}
	}
	return r, nil
}

// Ping checks that Asterisk answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Action(ctx, "Ping")
	return err
}

// CoreShowChannels lists the live channels: what a resynchronisation after a
// (re)connect starts from.
func (c *Client) CoreShowChannels(ctx context.Context) ([]*CoreShowChannel, error) {
	r, err := c.Action(ctx, "CoreShowChannels")
	if err != nil {
		return nil, err
	}
	out := make([]*CoreShowChannel, 0, len(r.Items))
	for _, it := range r.Items {
		if it.Name() == "CoreShowChannel" {
			out = append(out, decodeCoreShowChannel(it))
		}
	}
	if r.Complete != nil {
		if n, err := strconv.Atoi(r.Complete.Get("ListItems")); err == nil && n != len(out) {
			return out, fmt.Errorf("ami: CoreShowChannels: %d items received, Asterisk counted %d", len(out), n)
		}
	}
	return out, nil
}

// Getvar reads a variable (or dialplan function such as
// CHANNEL(audionativeformat)) of channel, or a global one if channel is "".
// An unset variable reads as "" with no error, as Asterisk answers it.
func (c *Client) Getvar(ctx context.Context, channel, variable string) (string, error) {
	f := []proto.Field{}
	if channel != "" {
		f = append(f, proto.Field{Key: "Channel", Value: channel})
	}
	f = append(f, proto.Field{Key: "Variable", Value: variable})
	r, err := c.Action(ctx, "Getvar", f...)
	if err != nil {
		return "", err
	}
	return r.Get("Value"), nil
}

// Setvar sets a variable of channel, or a global one if channel is "". The
// value goes on the wire exactly as given ("%" and ":" included); CR, LF or
// NUL are refused.
func (c *Client) Setvar(ctx context.Context, channel, variable, value string) error {
	f := []proto.Field{}
	if channel != "" {
		f = append(f, proto.Field{Key: "Channel", Value: channel})
	}
	f = append(f, proto.Field{Key: "Variable", Value: variable}, proto.Field{Key: "Value", Value: value})
	_, err := c.Action(ctx, "Setvar", f...)
	return err
}

// Hangup hangs up channel with a Q.850 cause (0 leaves Asterisk's default, 16).
func (c *Client) Hangup(ctx context.Context, channel string, cause int) error {
	f := []proto.Field{{Key: "Channel", Value: channel}}
	if cause > 0 {
		f = append(f, proto.Field{Key: "Cause", Value: strconv.Itoa(cause)})
	}
	_, err := c.Action(ctx, "Hangup", f...)
	return err
}

// Command runs a CLI command and returns its output lines. A command Asterisk
// does not know gives its output and an *ActionError.
func (c *Client) Command(ctx context.Context, command string) ([]string, error) {
	r, err := c.Action(ctx, "Command", proto.Field{Key: "Command", Value: command})
	if r != nil {
		return r.Msg.Values("Output"), err
	}
	return nil, err
}

// FAXStats are the counters of res_fax; CurrentSessions is the live fax count.
type FAXStats struct {
	CurrentSessions  int
	ReservedSessions int
	TransmitAttempts int
	ReceiveAttempts  int
	CompletedFAXes   int
	FailedFAXes      int
}

// FAXStats reads res_fax's counters. Asterisk answers with a Response and then
// a FAXStats event carrying the same ActionID; both are awaited.
func (c *Client) FAXStats(ctx context.Context) (FAXStats, error) {
	r, err := c.send(ctx, proto.NewMessage("Action", "FAXStats"), 1)
	if err != nil {
		return FAXStats{}, err
	}
	if len(r.Items) == 0 {
		return FAXStats{}, errors.New("ami: FAXStats: no FAXStats event in the answer")
	}
	m := r.Items[0]
	return FAXStats{
		CurrentSessions:  atoi(m.Get("CurrentSessions")),
		ReservedSessions: atoi(m.Get("ReservedSessions")),
		TransmitAttempts: atoi(m.Get("TransmitAttempts")),
		ReceiveAttempts:  atoi(m.Get("ReceiveAttempts")),
		CompletedFAXes:   atoi(m.Get("CompletedFAXes")),
		FailedFAXes:      atoi(m.Get("FailedFAXes")),
	}, nil
}

// FAXSession is one FAXSessionsEntry of the FAXSessions list.
type FAXSession struct {
	Channel       string
	Technology    string // "Spandsp", ...
	SessionNumber string
	SessionType   string // "G.711", "T.38"
	Operation     string // "send", "receive", ...
	State         string // "Active", "Reserved", "Initialized", ...
	Files         string
}

// FAXSessions lists res_fax's sessions. Unlike FAXStats (class reporting) it
// needs only the call class, which licbridge's AMI user has anyway.
func (c *Client) FAXSessions(ctx context.Context) ([]FAXSession, error) {
	r, err := c.Action(ctx, "FAXSessions")
	if err != nil {
		return nil, err
	}
	out := make([]FAXSession, 0, len(r.Items))
	for _, it := range r.Items {
		if !strings.EqualFold(it.Name(), "FAXSessionsEntry") {
			continue
		}
		out = append(out, FAXSession{
			Channel: it.Get("Channel"), Technology: it.Get("Technology"), SessionNumber: it.Get("SessionNumber"),
			SessionType: it.Get("SessionType"), Operation: it.Get("Operation"), State: it.Get("State"), Files: it.Get("Files"),
		})
	}
	if r.Complete != nil {
		if n, err := strconv.Atoi(r.Complete.Get("ListItems")); err == nil && n != len(out) {
			return out, fmt.Errorf("ami: FAXSessions: %d items received, Asterisk counted %d", len(out), n)
		}
	}
	return out, nil
}

// FAXLiveSessions counts the sessions that FAXStats' CurrentSessions counts:
// every listed session but those only reserved.
func FAXLiveSessions(ss []FAXSession) int {
	n := 0
	for _, s := range ss {
		if !strings.EqualFold(s.State, "Reserved") {
			n++
		}
	}
	return n
}
