package amisrv

import (
	"fmt"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

// Channel is one channel in the double's table. Zero fields take Asterisk's
// defaults when added: CallerID/ConnectedLine "<unknown>", Language "en",
// Priority 1, Uniqueid generated ("epoch.seq"), Linkedid = Uniqueid,
// NativeFormat "slin".
type Channel struct {
	Name              string // e.g. "PJSIP/201-00000002" or "Local/100@lic-dial-00000000;1"
	State             int    // 0 Down, 4 Ring, 5 Ringing, 6 Up (see StateDesc)
	CallerIDNum       string
	CallerIDName      string
	ConnectedLineNum  string
	ConnectedLineName string
	Language          string
	AccountCode       string
	Context           string
	Exten             string
	Priority          int
	Uniqueid          string
	Linkedid          string
	Application       string // the running dialplan application, for CoreShowChannels
	ApplicationData   string
	BridgeID          string
	// NativeFormat is what CHANNEL(audionativeformat) answers, without the
	// parentheses Asterisk adds: "g729", "ulaw".
	NativeFormat string
	// Vars are the channel variables Getvar can read.
	Vars map[string]string
	// Created sets the start of Duration in CoreShowChannels; zero means when added.
	Created time.Time
}

var stateDescs = []string{"Down", "Rsrvd", "OffHook", "Dialing", "Ring", "Ringing", "Up", "Busy", "Dialing Offhook", "Pre-ring"}

// StateDesc is Asterisk's name for a channel state number.
func StateDesc(state int) string {
	if state >= 0 && state < len(stateDescs) {
		return stateDescs[state]
	}
	return "Unknown"
}

func unknownIfEmpty(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func (ch *Channel) fillDefaults(uniqueid func() string) {
	ch.CallerIDNum = unknownIfEmpty(ch.CallerIDNum)
	ch.CallerIDName = unknownIfEmpty(ch.CallerIDName)
	ch.ConnectedLineNum = unknownIfEmpty(ch.ConnectedLineNum)
	ch.ConnectedLineName = unknownIfEmpty(ch.ConnectedLineName)
	if ch.Language == "" {
		ch.Language = "en"
	}
	if ch.Priority == 0 {
		ch.Priority = 1
	}
	if ch.Uniqueid == "" {
		ch.Uniqueid = uniqueid()
	}
	if ch.Linkedid == "" {
		ch.Linkedid = ch.Uniqueid
	}
	if ch.NativeFormat == "" {
		ch.NativeFormat = "slin"
	}
	if ch.Created.IsZero() {
		ch.Created = time.Now()
	}
	vars := make(map[string]string, len(ch.Vars))
	for k, v := range ch.Vars {
		vars[k] = v
	}
	ch.Vars = vars
}

// snapshot appends the channel headers every channel event carries, in
// Asterisk's order, with an optional prefix ("Dest" for dial events).
func (ch *Channel) snapshot(m *proto.Message, prefix string) *proto.Message {
	m.Add(prefix+"Channel", ch.Name).
		Add(prefix+"ChannelState", fmt.Sprint(ch.State)).
		Add(prefix+"ChannelStateDesc", StateDesc(ch.State)).
		Add(prefix+"CallerIDNum", ch.CallerIDNum).
		Add(prefix+"CallerIDName", ch.CallerIDName).
		Add(prefix+"ConnectedLineNum", ch.ConnectedLineNum).
		Add(prefix+"ConnectedLineName", ch.ConnectedLineName).
		Add(prefix+"Language", ch.Language).
		Add(prefix+"AccountCode", ch.AccountCode).
		Add(prefix+"Context", ch.Context).
		Add(prefix+"Exten", ch.Exten).
		Add(prefix+"Priority", fmt.Sprint(ch.Priority)).
		Add(prefix+"Uniqueid", ch.Uniqueid).
		Add(prefix+"Linkedid", ch.Linkedid)
	return m
}

func (ch *Channel) clone() Channel {
	c := *ch
	c.Vars = make(map[string]string, len(ch.Vars))
	for k, v := range ch.Vars {
		c.Vars[k] = v
	}
	return c
}

// duration formats the channel's age as CoreShowChannels does.
func (ch *Channel) duration(now time.Time) string {
	s := int(now.Sub(ch.Created).Seconds())
	if s < 0 {
		s = 0
	}
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, (s/60)%60, s%60)
}
