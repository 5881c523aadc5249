package ami

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goami "github.com/heltonmarx/goami/ami"

	"github.com/licbridge/licbridge/ami/proto"
)

// goami knows Asterisk's action and header names; its socket layer is what
// we cannot use (see doc.go). So its action functions are run against
// encoder, a goami.Client whose Send only records the bytes goami built and
// then stops the call; we re-frame those bytes with our reader and send them
// on our own connection. Values are checked for CR/LF before goami sees them,
// because once encoded a newline in a value is indistinguishable from a
// header break.
type encoder struct{ sent string }

var errEncoded = errors.New("encoded")

var _ goami.Client = (*encoder)(nil)

func (e *encoder) Connected() bool                      { return true }
func (e *encoder) Close(context.Context) error          { return nil }
func (e *encoder) Send(msg string) error                { e.sent = msg; return errEncoded }
func (e *encoder) Recv(context.Context) (string, error) { return "", errEncoded }
func checkValues(action string, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := proto.ValidateField(proto.Field{Key: kv[i], Value: kv[i+1]}); err != nil {
			return fmt.Errorf("ami: %s: %w", action, err)
		}
	}
	return nil
}

// reframe turns goami's encoded action back into a message.
func reframe(action, raw string) (*proto.Message, error) {
	m, err := proto.NewReader(strings.NewReader(raw), proto.Limits{}).ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("ami: %s: re-frame goami encoding: %w", action, err)
	}
	if m.Kind() != proto.KindAction || !strings.EqualFold(m.Name(), action) {
		return nil, fmt.Errorf("ami: %s: goami encoded %q", action, m.Name())
	}
	return m, nil
}

// encodeLogin builds the Login action (Username, Secret, Events) with goami.
func encodeLogin(user, secret, events, actionID string) (*proto.Message, error) {
	if err := checkValues("Login", "Username", user, "Secret", secret, "Events", events); err != nil {
		return nil, err
	}
	var e encoder
	if err := goami.Login(context.Background(), &e, user, secret, events, actionID); !errors.Is(err, errEncoded) {
		return nil, fmt.Errorf("ami: encode Login: %v", err)
	}
	return reframe("Login", e.sent)
}

// OriginateData is goami's description of an Originate (Channel, Context,
// Exten, Priority or Application, Data, CallerID, Variable..., Async, ...).
type OriginateData = goami.OriginateData

// Originate places a call. With Async "true" the outcome comes later as an
// *OriginateResponse event (on the event stream, only if the login's Events
// allow it) whose ActionID is the one of the returned Response
// (r.Get("ActionID")); setting ChannelID chooses the new channel's Uniqueid.
func (c *Client) Originate(ctx context.Context, o OriginateData) (*Response, error) {
	kv := []string{"Channel", o.Channel, "Exten", o.Exten, "Context", o.Context, "Application", o.Application,
		"Data", o.Data, "CallerID", o.CallerID, "Account", o.Account, "EarlyMedia", o.EarlyMedia,
		"Async", o.Async, "Codecs", o.Codecs, "ChannelId", o.ChannelID, "OtherChannelId", o.OtherChannelID}
	for _, v := range o.Variable {
		kv = append(kv, "Variable", v)
	}
	if err := checkValues("Originate", kv...); err != nil {
		return nil, err
	}
	var e encoder
	if _, err := goami.Originate(ctx, &e, "", o); !errors.Is(err, errEncoded) {
		return nil, fmt.Errorf("ami: encode Originate: %v", err)
	}
	m, err := reframe("Originate", e.sent)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, m, 0)
}
