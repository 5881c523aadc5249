package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
)

// Event types this package acts on. Every other type (including the ones
// ari/v5 v5.3.1 does not know) is decoded into the generic envelope only.
const (
	typeStasisStart          = "StasisStart"
	typeStasisEnd            = "StasisEnd"
	typeChannelHangupRequest = "ChannelHangupRequest"
	typeChannelDestroyed     = "ChannelDestroyed"
	typeApplicationReplaced  = "ApplicationReplaced"
)

// handled lists the types given to the library's decoder; it is also the
// allowed list of our event filter.
var handled = []string{
	typeStasisStart, typeStasisEnd, typeChannelHangupRequest, typeChannelDestroyed, typeApplicationReplaced,
}

func isHandled(t string) bool {
	for _, h := range handled {
		if h == t {
			return true
		}
	}
	return false
}

// Event is one ARI event as far as licbridge reads it.
type Event struct {
	Type        string    // "StasisStart", "ChannelToneDetected", ...
	Timestamp   time.Time // zero when absent
	Application string
	AsteriskID  string
	Channel     *Channel // nil when the event carries no channel

	Args  []string // StasisStart: the Stasis() arguments after the app name
	Cause int      // ChannelHangupRequest, ChannelDestroyed: the cause (a soft-hangup flag when Soft)
	Soft  bool     // ChannelHangupRequest: soft hangup request

	// Known is true for the types this package acts on (decoded through
	// ari/v5); false for the rest, which only fill the envelope fields.
	Known bool
}

// Channel is the part of an ARI channel object we use.
type Channel struct {
	ID           string // Asterisk Uniqueid
	Name         string // e.g. "PJSIP/201-00000004"
	State        string
	CallerName   string
	CallerNumber string
	Context      string
	Exten        string
	Priority     int64
	Created      time.Time
}

// parseTime parses ARI's timestamps ("2026-11-22T22:27:13.527+0000"), which
// time.RFC3339 rejects (no colon in the zone offset). RFC 3339 is accepted too.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(ariv5.DateFormat, s)
	if err == nil {
		return t, nil
	}
	if t, err2 := time.Parse(time.RFC3339Nano, s); err2 == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("ari: parse time %q: %w", s, err)
}

// envelope is what every ARI event has; decoded by us for all types.
type envelope struct {
	Type        string           `json:"type"`
	Timestamp   *string          `json:"timestamp"`
	Application string           `json:"application"`
	AsteriskID  string           `json:"asterisk_id"`
	Channel     *json.RawMessage `json:"channel"`
}

// envChannel is a tolerant channel shape for types the library does not get.
type envChannel struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Caller *struct {
		Name   string `json:"name"`
		Number string `json:"number"`
	} `json:"caller"`
	Dialplan *struct {
		Context  string `json:"context"`
		Exten    string `json:"exten"`
		Priority int64  `json:"priority"`
	} `json:"dialplan"`
	Creationtime string `json:"creationtime"`
}

// errNoType: the message is JSON but has no "type".
var errNoType = errors.New("ari: event has no type")

// decodeEvent decodes one WebSocket text message. It never panics and never
// gives an unknown type to ari/v5: a type we do not act on comes back with
// Known false and only the envelope filled. A message that is not an ARI event
// (not JSON, no type, a field of the wrong JSON kind) is an error naming why.
func decodeEvent(data []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Event{}, fmt.Errorf("ari: decode event: %w", err)
	}
	if env.Type == "" {
		return Event{}, errNoType
	}
	ev := Event{Type: env.Type, Application: env.Application, AsteriskID: env.AsteriskID}
	if env.Timestamp != nil && *env.Timestamp != "" {
		t, err := parseTime(*env.Timestamp)
		if err != nil {
			return Event{}, fmt.Errorf("ari: decode %s event: %w", env.Type, err)
		}
		ev.Timestamp = t
	}
	hasChannel := env.Channel != nil && string(*env.Channel) != "null"
	if !isHandled(env.Type) {
		if hasChannel {
			var c envChannel
			if err := json.Unmarshal(*env.Channel, &c); err != nil {
				return Event{}, fmt.Errorf("ari: decode %s event channel: %w", env.Type, err)
			}
			ev.Channel = fromEnvChannel(c)
		}
		return ev, nil
	}
	ev.Known = true
	// Only the types in handled reach the library's decoder: for those its
	// generated structs and its DateTime are right.
	lib, err := ariv5.DecodeEvent(data)
	if err != nil {
		return Event{}, fmt.Errorf("ari: decode %s event: %w", env.Type, err)
	}
	var cd *ariv5.ChannelData
	switch e := lib.(type) {
	case *ariv5.StasisStart:
		ev.Args, cd = e.Args, &e.Channel
	case *ariv5.StasisEnd:
		cd = &e.Channel
	case *ariv5.ChannelHangupRequest:
		ev.Cause, ev.Soft, cd = e.Cause, e.Soft, &e.Channel
	case *ariv5.ChannelDestroyed:
		ev.Cause, cd = e.Cause, &e.Channel
	}
	if hasChannel && cd != nil {
		ev.Channel = fromLibChannel(cd)
	}
	return ev, nil
}

func fromEnvChannel(c envChannel) *Channel {
	ch := &Channel{ID: c.ID, Name: c.Name, State: c.State}
	if c.Caller != nil {
		ch.CallerName, ch.CallerNumber = c.Caller.Name, c.Caller.Number
	}
	if c.Dialplan != nil {
		ch.Context, ch.Exten, ch.Priority = c.Dialplan.Context, c.Dialplan.Exten, c.Dialplan.Priority
	}
	if c.Creationtime != "" {
		ch.Created, _ = parseTime(c.Creationtime) // informational only
	}
	return ch
}

func fromLibChannel(c *ariv5.ChannelData) *Channel {
	ch := &Channel{ID: c.ID, Name: c.Name, State: c.State}
	if c.Caller != nil {
		ch.CallerName, ch.CallerNumber = c.Caller.Name, c.Caller.Number
	}
	if c.Dialplan != nil {
		ch.Context, ch.Exten, ch.Priority = c.Dialplan.Context, c.Dialplan.Exten, c.Dialplan.Priority
	}
	if c.Creationtime != nil {
		ch.Created = time.Unix(c.Creationtime.Seconds, int64(c.Creationtime.Nanos)).UTC()
	}
	return ch
}
