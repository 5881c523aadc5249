package arisrv

import (
	"bytes"
	"encoding/json"
	"time"
)

// dateFormat is ARI's timestamp layout ("2026-11-22T22:27:13.527+0000").
const dateFormat = "2006-01-02T15:04:05.000-0700"

// The structs below mirror Asterisk 22's JSON field order, as recorded.

type callerJSON struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

type dialplanJSON struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int    `json:"priority"`
	AppName  string `json:"app_name"`
	AppData  string `json:"app_data"`
}

type channelJSON struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	State        string       `json:"state"`
	ProtocolID   string       `json:"protocol_id"`
	Caller       callerJSON   `json:"caller"`
	Connected    callerJSON   `json:"connected"`
	Accountcode  string       `json:"accountcode"`
	Dialplan     dialplanJSON `json:"dialplan"`
	Creationtime string       `json:"creationtime"`
	Language     string       `json:"language"`
}

type stasisStartJSON struct {
	Type        string      `json:"type"`
	Timestamp   string      `json:"timestamp"`
	Args        []string    `json:"args"`
	Channel     channelJSON `json:"channel"`
	AsteriskID  string      `json:"asterisk_id"`
	Application string      `json:"application"`
}

// channelEventJSON fits StasisEnd (and other channel-only events).
type channelEventJSON struct {
	Type        string      `json:"type"`
	Timestamp   string      `json:"timestamp"`
	Channel     channelJSON `json:"channel"`
	AsteriskID  string      `json:"asterisk_id"`
	Application string      `json:"application"`
}

type varsetJSON struct {
	Variable    string      `json:"variable"`
	Value       string      `json:"value"`
	Type        string      `json:"type"`
	Timestamp   string      `json:"timestamp"`
	Channel     channelJSON `json:"channel"`
	AsteriskID  string      `json:"asterisk_id"`
	Application string      `json:"application"`
}

type hangupRequestJSON struct {
	Cause       int         `json:"cause"`
	Soft        bool        `json:"soft,omitempty"`
	Type        string      `json:"type"`
	Timestamp   string      `json:"timestamp"`
	Channel     channelJSON `json:"channel"`
	AsteriskID  string      `json:"asterisk_id"`
	Application string      `json:"application"`
}

type destroyedJSON struct {
	Type        string      `json:"type"`
	Timestamp   string      `json:"timestamp"`
	Cause       int         `json:"cause"`
	CauseTxt    string      `json:"cause_txt"`
	Channel     channelJSON `json:"channel"`
	AsteriskID  string      `json:"asterisk_id"`
	Application string      `json:"application"`
}

type eventTypeJSON struct {
	Type string `json:"type"`
}

type applicationJSON struct {
	Name             string          `json:"name"`
	ChannelIDs       []string        `json:"channel_ids"`
	BridgeIDs        []string        `json:"bridge_ids"`
	EndpointIDs      []string        `json:"endpoint_ids"`
	DeviceNames      []string        `json:"device_names"`
	EventsAllowed    []eventTypeJSON `json:"events_allowed"`
	EventsDisallowed []eventTypeJSON `json:"events_disallowed"`
}

type messageJSON struct {
	Message string `json:"message"`
}

type valueJSON struct {
	Value string `json:"value"`
}

// infoJSON is GET /ari/asterisk/info; build values are the recorded system's.
type infoJSON struct {
	Build struct {
		OS      string `json:"os"`
		Kernel  string `json:"kernel"`
		Machine string `json:"machine"`
		Options string `json:"options"`
		Date    string `json:"date"`
		User    string `json:"user"`
	} `json:"build"`
	System struct {
		Version  string `json:"version"`
		EntityID string `json:"entity_id"`
	} `json:"system"`
	Config struct {
		Name            string `json:"name"`
		DefaultLanguage string `json:"default_language"`
		SetID           struct {
			User  string `json:"user"`
			Group string `json:"group"`
		} `json:"setid"`
	} `json:"config"`
	Status struct {
		StartupTime    string `json:"startup_time"`
		LastReloadTime string `json:"last_reload_time"`
	} `json:"status"`
}

// marshal encodes like Asterisk: compact, and no HTML escaping ("a=b & c"
// stays as is; encoding/json would write \u0026).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("arisrv: marshal: " + err.Error()) // our own types: cannot fail
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func ariTime(t time.Time) string { return t.Format(dateFormat) }

// reasonCodes maps DELETE ?reason= names to causes (res/ari/resource_channels.c).
var reasonCodes = map[string]int{
	"normal":             16,
	"busy":               17,
	"congestion":         34,
	"no_answer":          19,
	"timeout":            18,
	"rejected":           21,
	"unallocated":        1,
	"normal_unspecified": 31,
	"number_incomplete":  28,
	"codec_mismatch":     58,
	"interworking":       127,
	"failure":            38,
	"answered_elsewhere": 26,
}
