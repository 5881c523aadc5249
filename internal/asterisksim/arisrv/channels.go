package arisrv

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/licbridge/licbridge/internal/asterisksim/q850"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Channel describes a scripted channel. Zero fields get defaults.
type Channel struct {
	ID              string // Uniqueid; default "<unix>.<seq>"
	Name            string // default "PJSIP/licbridge-%08x"
	State           string // default "Up"
	CallerName      string
	CallerNumber    string
	ConnectedName   string // default CallerName
	ConnectedNumber string // default CallerNumber
	Accountcode     string
	Context         string // dialplan context; default "default"
	Exten           string // default "s"
	Priority        int    // default 1
	App             string // dialplan application it runs outside Stasis, e.g. "Wait"
	AppData         string // its arguments, e.g. "1.5"
	Linkedid        string // CHANNEL(linkedid); default ID
	Language        string // default "en"
	Created         time.Time
	Vars            map[string]string // initial channel variables
}

// Outcome is what happened to a channel in Stasis.
type Outcome struct {
	Continued    bool   // POST continue was called
	Context      string // continue target, "" for "after Stasis()"
	Extension    string
	Priority     int
	HungUp       bool   // DELETE was called (or Hangup)
	HangupCause  int    // the Q.850 cause of the DELETE (or Hangup)
	HangupReason string // the ?reason= name, if given
	Vars         map[string]string
}

type channel struct {
	Channel
	stasisApp string   // the app it is in, "" when not in Stasis
	args      []string // Stasis() args
	appName   string   // dialplan app_name shown in JSON
	appData   string
	vars      map[string]string
	outcome   Outcome
	left      chan struct{} // closed when it leaves Stasis
	gone      bool
}

func (s *Server) fillChannel(c Channel) Channel {
	now := s.opts.Now()
	s.seq++
	if c.ID == "" {
		c.ID = fmt.Sprintf("%d.%d", now.Unix(), s.seq)
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("PJSIP/licbridge-%08x", s.seq)
	}
	if c.State == "" {
		c.State = "Up"
	}
	if c.ConnectedName == "" {
		c.ConnectedName = c.CallerName
	}
	if c.ConnectedNumber == "" {
		c.ConnectedNumber = c.CallerNumber
	}
	if c.Context == "" {
		c.Context = "default"
	}
	if c.Exten == "" {
		c.Exten = "s"
	}
	if c.Priority == 0 {
		c.Priority = 1
	}
	if c.Linkedid == "" {
		c.Linkedid = c.ID
	}
	if c.Language == "" {
		c.Language = "en"
	}
	if c.Created.IsZero() {
		c.Created = now
	}
	return c
}

func (c *channel) json() channelJSON {
	return channelJSON{
		ID: c.ID, Name: c.Name, State: c.State,
		Caller:      callerJSON{c.CallerName, c.CallerNumber},
		Connected:   callerJSON{c.ConnectedName, c.ConnectedNumber},
		Accountcode: c.Accountcode,
		Dialplan: dialplanJSON{
			Context: c.Context, Exten: c.Exten, Priority: c.Priority,
			AppName: c.appName, AppData: c.appData,
		},
		Creationtime: ariTime(c.Created),
		Language:     c.Language,
	}
}

// AddChannel creates a channel outside Stasis (in the dialplan, running
// ch.App) and returns its ID.
func (s *Server) AddChannel(ch Channel) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(ch).ID
}

func (s *Server) addLocked(ch Channel) *channel {
	ch = s.fillChannel(ch)
	c := &channel{Channel: ch, vars: map[string]string{}, appName: ch.App, appData: ch.AppData}
	for k, v := range ch.Vars {
		c.vars[k] = v
	}
	s.channels[ch.ID] = c
	s.order = append(s.order, ch.ID)
	s.notifyLocked()
	return c
}

// EnterStasis runs Stasis(licbridge,ARGS...) on ch (a new channel, or an
// existing one by ID): StasisStart goes to the "licbridge" application. With
// no WebSocket for it, the channel gets STASISSTATUS=FAILED and the error is
// ErrNotRegistered, as Asterisk's Stasis() fails at once. It returns the
// channel ID.
func (s *Server) EnterStasis(ch Channel, args ...string) (string, error) {
	return s.Stasis("licbridge", ch, args...)
}

// Stasis is EnterStasis for any application name.
func (s *Server) Stasis(appName string, ch Channel, args ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[ch.ID]
	if c == nil || ch.ID == "" {
		c = s.addLocked(ch)
	}
	if c.gone {
		return c.ID, fmt.Errorf("arisrv: channel %s is hung up", c.ID)
	}
	c.appName, c.appData = "Stasis", strings.Join(append([]string{appName}, args...), ",")
	a := s.apps[appName]
	if a == nil || len(a.ws) == 0 {
		c.vars["STASISSTATUS"] = "FAILED"
		s.notifyLocked()
		return c.ID, fmt.Errorf("arisrv: Stasis(%s) on %s: %w", appName, c.ID, ErrNotRegistered)
	}
	c.stasisApp, c.args = appName, append([]string{}, args...)
	c.outcome = Outcome{}
	c.left = make(chan struct{})
	if args == nil {
		args = []string{}
	}
	now := ariTime(s.opts.Now())
	s.emitLocked(c, "StasisStart", func(app string) any {
		return stasisStartJSON{"StasisStart", now, args, c.json(), s.opts.AsteriskID, app}
	})
	s.notifyLocked()
	return c.ID, nil
}

// interestedLocked lists the apps that get c's events: the one it is in and
// those subscribed to it.
func (s *Server) interestedLocked(c *channel) []*app {
	var out []*app
	for _, a := range s.apps {
		if c.stasisApp == a.name || a.subs[c.ID] {
			out = append(out, a)
		}
	}
	return out
}

// emitLocked queues one event for every interested app, honouring filters.
func (s *Server) emitLocked(c *channel, typ string, build func(app string) any) {
	for _, a := range s.interestedLocked(c) {
		if !a.passes(typ) {
			continue
		}
		b := marshal(build(a.name))
		for _, w := range a.ws {
			w.push(b)
		}
	}
}

func (a *app) passes(typ string) bool {
	for _, t := range a.disallowed {
		if t == typ {
			return false
		}
	}
	if len(a.allowed) == 0 {
		return true
	}
	for _, t := range a.allowed {
		if t == typ {
			return true
		}
	}
	return false
}

// leaveLocked takes c out of Stasis with a StasisEnd.
func (s *Server) leaveLocked(c *channel) {
	if c.stasisApp == "" {
		return
	}
	now := ariTime(s.opts.Now())
	s.emitLocked(c, "StasisEnd", func(app string) any {
		return channelEventJSON{"StasisEnd", now, c.json(), s.opts.AsteriskID, app}
	})
	c.stasisApp = ""
	c.appName, c.appData = c.App, c.AppData
	close(c.left)
}

// hangupLocked hangs c up with cause: ChannelHangupRequest (soft, flag 32,
// while in Stasis, as recorded), StasisEnd, then ChannelDestroyed to
// subscribed apps unless NoChannelDestroyed.
func (s *Server) hangupLocked(c *channel, cause int) {
	now := ariTime(s.opts.Now())
	inStasis := c.stasisApp != ""
	s.emitLocked(c, "ChannelHangupRequest", func(app string) any {
		if inStasis {
			return hangupRequestJSON{32, true, "ChannelHangupRequest", now, c.json(), s.opts.AsteriskID, app}
		}
		return hangupRequestJSON{cause, false, "ChannelHangupRequest", now, c.json(), s.opts.AsteriskID, app}
	})
	s.leaveLocked(c)
	if !s.opts.NoChannelDestroyed {
		c.appName, c.appData = "", "" // as recorded: the channel runs nothing any more
		s.emitLocked(c, "ChannelDestroyed", func(app string) any {
			return destroyedJSON{"ChannelDestroyed", now, cause, q850.Text(cause), c.json(), s.opts.AsteriskID, app}
		})
	}
	c.gone = true
	for _, a := range s.apps {
		delete(a.subs, c.ID)
	}
	s.notifyLocked()
}

// Hangup hangs a channel up as its caller would (cause 16, normal clearing).
func (s *Server) Hangup(channelID string) error {
	return s.HangupCause(channelID, 16)
}

// HangupCause hangs a channel up with a Q.850 cause.
func (s *Server) HangupCause(channelID string, cause int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channelID]
	if c == nil || c.gone {
		return fmt.Errorf("arisrv: hang up %s: no such channel", channelID)
	}
	if c.stasisApp != "" {
		c.outcome.HungUp, c.outcome.HangupCause = true, cause
	}
	s.hangupLocked(c, cause)
	return nil
}

// Send writes a raw event (JSON text) to every connected WebSocket as is,
// filters aside: as an event that raced the filter, or a type a client does
// not know (ChannelToneDetected, ...).
func (s *Server) Send(rawEventJSON []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		for _, w := range a.ws {
			w.push(append([]byte(nil), rawEventJSON...))
		}
	}
}

// Variables returns a copy of a channel's variables (nil for no channel).
func (s *Server) Variables(channelID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channelID]
	if c == nil {
		return nil
	}
	out := make(map[string]string, len(c.vars))
	for k, v := range c.vars {
		out[k] = v
	}
	return out
}

// Continued reports whether the channel was continued in the dialplan.
func (s *Server) Continued(channelID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channelID]
	return c != nil && c.outcome.Continued
}

// Subscribed reports whether appName is explicitly subscribed to a channel.
func (s *Server) Subscribed(appName, channelID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	return a != nil && a.subs[channelID]
}

// Wait blocks until the channel leaves Stasis (continued or hung up) and
// returns what happened.
func (s *Server) Wait(ctx context.Context, channelID string) (Outcome, error) {
	s.mu.Lock()
	c := s.channels[channelID]
	if c == nil || c.left == nil {
		s.mu.Unlock()
		return Outcome{}, fmt.Errorf("arisrv: wait for %s: channel never entered stasis", channelID)
	}
	left := c.left
	s.mu.Unlock()
	select {
	case <-left:
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("arisrv: wait for %s to leave stasis: %w", channelID, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := c.outcome
	o.Vars = make(map[string]string, len(c.vars))
	for k, v := range c.vars {
		o.Vars[k] = v
	}
	return o, nil
}

func (s *Server) channelList() []channelJSON {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := []channelJSON{}
	for _, id := range s.order {
		if c := s.channels[id]; c != nil && !c.gone {
			list = append(list, c.json())
		}
	}
	return list
}

// live returns a channel that is not hung up; s.mu is held.
func (s *Server) liveLocked(id string) *channel {
	if c := s.channels[id]; c != nil && !c.gone {
		return c
	}
	return nil
}

var (
	chanNotFound = errResp(404, "Not Found", "Channel not found")
	notInStasis  = errResp(409, "Conflict", "Channel not in Stasis application")
	varRequired  = errResp(400, "Bad Request", "Variable name is required")
)

func (s *Server) getChannel(id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return chanNotFound
	}
	return jsonResp(200, "OK", c.json())
}

func (s *Server) getVariable(id, name string) response {
	if name == "" {
		return varRequired
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return chanNotFound
	}
	v, ok := c.vars[name]
	switch name {
	case "CHANNEL(linkedid)":
		v, ok = c.Linkedid, true
	case "CHANNEL(uniqueid)":
		v, ok = c.ID, true
	}
	if !ok {
		return errResp(404, "Variable Not Found", "Provided variable was not found")
	}
	return jsonResp(200, "OK", valueJSON{v})
}

func (s *Server) postVariable(id string, q url.Values, body []byte) response {
	name, value := q.Get("variable"), q.Get("value")
	if len(body) > 0 {
		var b struct {
			Variable string `json:"variable"`
			Value    string `json:"value"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return errResp(400, "Bad Request", "Error parsing request body")
		}
		if b.Variable != "" {
			name, value = b.Variable, b.Value
		}
	}
	if name == "" {
		return varRequired
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return chanNotFound
	}
	if c.stasisApp == "" {
		return notInStasis
	}
	c.vars[name] = value
	now := ariTime(s.opts.Now())
	s.emitLocked(c, "ChannelVarset", func(app string) any {
		return varsetJSON{name, value, "ChannelVarset", now, c.json(), s.opts.AsteriskID, app}
	})
	s.notifyLocked()
	return noContent
}

func (s *Server) continueChannel(id string, q url.Values) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return chanNotFound
	}
	if c.stasisApp == "" {
		return notInStasis
	}
	prio, _ := strconv.Atoi(q.Get("priority"))
	c.outcome.Continued = true
	c.outcome.Context, c.outcome.Extension, c.outcome.Priority = q.Get("context"), q.Get("extension"), prio
	s.leaveLocked(c)
	c.vars["STASISSTATUS"] = "SUCCESS"
	s.notifyLocked()
	return noContent
}

func (s *Server) deleteChannel(id string, q url.Values) response {
	reason, codeStr := q.Get("reason"), q.Get("reason_code")
	cause := 16
	switch {
	case reason != "" && codeStr != "":
		return errResp(400, "Bad Request", "The reason and reason_code can't both be specified")
	case codeStr != "":
		n, err := strconv.Atoi(codeStr)
		if err != nil || n <= 0 {
			return errResp(400, "Invalid Reason", "Invalid reason for hangup reason provided")
		}
		cause = n
	case reason != "":
		n, ok := reasonCodes[reason]
		if !ok {
			return errResp(400, "Invalid Reason", "Invalid reason for hangup reason provided")
		}
		cause = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveLocked(id)
	if c == nil {
		return chanNotFound
	}
	c.outcome.HungUp, c.outcome.HangupCause, c.outcome.HangupReason = true, cause, reason
	s.hangupLocked(c, cause)
	return noContent
}

func (s *Server) putEventFilter(name string, body []byte) response {
	var f struct {
		Allowed    []eventTypeJSON `json:"allowed"`
		Disallowed []eventTypeJSON `json:"disallowed"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &f); err != nil {
			return errResp(400, "Bad Request", "Invalid format definition")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[name]
	if a == nil {
		return errResp(404, "Not Found", "Application not found")
	}
	a.allowed, a.disallowed = []string{}, []string{}
	for _, t := range f.Allowed {
		a.allowed = append(a.allowed, t.Type)
	}
	for _, t := range f.Disallowed {
		a.disallowed = append(a.disallowed, t.Type)
	}
	s.notifyLocked()
	return jsonResp(200, "OK", s.appJSONLocked(a))
}

func (s *Server) subscribe(name, source string, on bool) response {
	if source == "" {
		return errResp(400, "Bad Request", "Missing parameter eventSource")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[name]
	if a == nil {
		return errResp(404, "Not Found", "Application not found")
	}
	id, ok := strings.CutPrefix(source, "channel:")
	if !ok || s.liveLocked(id) == nil {
		return errResp(422, "Unprocessable Entity", "Event source does not exist")
	}
	if on {
		a.subs[id] = true
	} else {
		delete(a.subs, id)
	}
	s.notifyLocked()
	return jsonResp(200, "OK", s.appJSONLocked(a))
}
