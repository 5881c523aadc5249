package realasterisk

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Call is one originated Local call: Half1 (;1) sits in an idle Wait, Half2
// (;2) ran the context given to Originate (the channel that asked licbridge).
type Call struct {
	Half1, Half2 string
	// Uniqueid of Half2 (the channel licbridge admitted).
	Uniqueid string
}

// Originate places a Local call into context (exten s) and waits until that
// context answers: put Answer() after the Gosub, so that Originate returns once
// licbridge has decided. vars are set on the channel (NAME=VALUE).
func (a *Asterisk) Originate(ctx context.Context, context string, vars ...string) (*Call, error) {
	return a.OriginateTo(ctx, context, "lbtest-idle", vars...)
}

// OriginateTo is Originate with Half1 running peerContext (exten s) instead of
// the idle wait once Half2 answers: a peer that plays tones, say, for what
// Half2 hears.
func (a *Asterisk) OriginateTo(ctx context.Context, context, peerContext string, vars ...string) (*Call, error) {
	action := Msg{
		"Channel":  "Local/s@" + context + "/n",
		"Context":  peerContext,
		"Exten":    "s",
		"Priority": "1",
		"Timeout":  "20000",
	}
	if len(vars) > 0 {
		action["Variable"] = strings.Join(vars, "\n")
	}
	m, err := a.ami().Originate(ctx, action)
	if err != nil {
		return nil, err
	}
	half1 := m["Channel"]
	if !strings.HasSuffix(half1, ";1") {
		return nil, fmt.Errorf("originate into %s: channel %q is not a Local ;1 half", context, half1)
	}
	c := &Call{Half1: half1, Half2: strings.TrimSuffix(half1, ";1") + ";2"}
	chans, err := a.Channels(ctx)
	if err != nil {
		return nil, err
	}
	for _, ch := range chans {
		if ch.Name == c.Half2 {
			c.Uniqueid = ch.Uniqueid
		}
	}
	return c, nil
}

// Dial originates a call on channel (PJSIP/carol, say) and, once it answers,
// runs context (exten s) on it; it returns the channel's name.
func (a *Asterisk) Dial(ctx context.Context, channel, context string) (string, error) {
	m, err := a.ami().Originate(ctx, Msg{"Channel": channel, "Context": context, "Exten": "s", "Priority": "1", "Timeout": "20000"})
	if err != nil {
		return "", err
	}
	return m["Channel"], nil
}

// Getvar reads a channel variable (or function) of a live channel.
func (a *Asterisk) Getvar(ctx context.Context, channel, name string) (string, error) {
	m, err := a.ami().Do(ctx, Msg{"Action": "Getvar", "Channel": channel, "Variable": name})
	if err != nil {
		return "", err
	}
	if m["Response"] != "Success" {
		return "", fmt.Errorf("getvar %s on %s: %s", name, channel, m["Message"])
	}
	return m["Value"], nil
}

// Hangup hangs up a channel (for a Local call, either half ends both).
func (a *Asterisk) Hangup(ctx context.Context, channel string) error {
	m, err := a.ami().Do(ctx, Msg{"Action": "Hangup", "Channel": channel})
	if err != nil {
		return err
	}
	if m["Response"] != "Success" {
		return fmt.Errorf("hangup %s: %s", channel, m["Message"])
	}
	return nil
}

// Channel is one line of CoreShowChannels.
type Channel struct {
	Name, Uniqueid, Context, Exten, Application, State string
}

// Channels lists the live channels.
func (a *Asterisk) Channels(ctx context.Context) ([]Channel, error) {
	evs, err := a.ami().List(ctx, Msg{"Action": "CoreShowChannels"})
	if err != nil {
		return nil, err
	}
	out := make([]Channel, 0, len(evs))
	for _, e := range evs {
		out = append(out, Channel{Name: e["Channel"], Uniqueid: e["Uniqueid"], Context: e["Context"],
			Exten: e["Exten"], Application: e["Application"], State: e["Channelstatedesc"]})
	}
	return out, nil
}

// WaitChannels polls until cond holds for the channel list.
func (a *Asterisk) WaitChannels(ctx context.Context, cond func([]Channel) bool) ([]Channel, error) {
	for {
		chans, err := a.Channels(ctx)
		if err != nil {
			return nil, err
		}
		if cond(chans) {
			return chans, nil
		}
		select {
		case <-ctx.Done():
			return chans, fmt.Errorf("channels: condition never held: %w (last %d channels)", ctx.Err(), len(chans))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// WaitAMIUser polls `manager show connected` until user has a session (count
// > 0) or has none (count == 0).
func (a *Asterisk) WaitAMIUser(ctx context.Context, user string, connected bool) error {
	for {
		out, err := a.CLI(ctx, "manager show connected")
		if err != nil {
			return err
		}
		has := false
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == user {
				has = true
			}
		}
		if has == connected {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ami user %s connected=%v never held: %w\n%s", user, connected, ctx.Err(), out)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// WaitARIApp polls ARI until the Stasis application app is registered (a
// client holds its WebSocket), or, with registered false, until it is not.
func (a *Asterisk) WaitARIApp(ctx context.Context, app string, registered bool) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.ARIURL+"/ari/applications/"+app, nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(LicbridgeUser, LicbridgeSecret)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if (resp.StatusCode == http.StatusOK) == registered {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ari app %s registered=%v never held: %w (last: %v)", app, registered, ctx.Err(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Session is an AMI session of a user of the generated manager.conf (for
// example LicbridgeUser, to try what its permissions allow).
type Session struct{ c *amiConn }

// Login opens an AMI session as user.
func (a *Asterisk) Login(ctx context.Context, user, secret string) (*Session, error) {
	c, err := dialAMI(ctx, a.AMIAddr, user, secret)
	if err != nil {
		return nil, err
	}
	return &Session{c: c}, nil
}

// Action sends one action and returns its response (Response: Error with
// Message: Permission denied when the user's classes do not allow it).
func (s *Session) Action(ctx context.Context, action Msg) (Msg, error) { return s.c.Do(ctx, action) }

// Close ends the session.
func (s *Session) Close() { s.c.Close() }
