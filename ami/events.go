package ami

import (
	"strconv"
	"strings"

	"github.com/licbridge/licbridge/ami/proto"
)

// Event is a decoded AMI event. The concrete type is one of the types below
// (*Newchannel, *Hangup, ...) or *OtherEvent for everything else; every one
// keeps the full message, all headers in wire order, in Message().
type Event interface {
	// EventName is the value of the "Event:" header.
	EventName() string
	// Message is the whole event as received.
	Message() *proto.Message
}

// Base carries the raw message of an event.
type Base struct {
	Msg *proto.Message
}

// EventName returns the "Event:" header.
func (b Base) EventName() string { return b.Msg.Name() }

// Message returns the whole event.
func (b Base) Message() *proto.Message { return b.Msg }

// Get returns the first value of a header (case-insensitive) or "".
func (b Base) Get(key string) string { return b.Msg.Get(key) }

// ChannelFields are the channel snapshot headers Asterisk puts on every
// channel event (and, with a prefix such as "Dest", on dial events).
type ChannelFields struct {
	Channel           string
	ChannelState      int // 0 Down, 4 Ring, 5 Ringing, 6 Up, ...
	ChannelStateDesc  string
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
	Linkedid          string // shared by every channel of one call (both halves of a Local pair)
}

func channelFields(m *proto.Message, prefix string) ChannelFields {
	g := func(k string) string { return m.Get(prefix + k) }
	return ChannelFields{
		Channel:           g("Channel"),
		ChannelState:      atoi(g("ChannelState")),
		ChannelStateDesc:  g("ChannelStateDesc"),
		CallerIDNum:       g("CallerIDNum"),
		CallerIDName:      g("CallerIDName"),
		ConnectedLineNum:  g("ConnectedLineNum"),
		ConnectedLineName: g("ConnectedLineName"),
		Language:          g("Language"),
		AccountCode:       g("AccountCode"),
		Context:           g("Context"),
		Exten:             g("Exten"),
		Priority:          atoi(g("Priority")),
		Uniqueid:          g("Uniqueid"),
		Linkedid:          g("Linkedid"),
	}
}

// atoi is lenient: AMI numbers that are missing or odd read as 0.
func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

// Newchannel: a channel was created.
type Newchannel struct {
	Base
	ChannelFields
}

// Newstate: a channel changed state (ChannelState).
type Newstate struct {
	Base
	ChannelFields
}

// NewCallerid: a channel's caller ID changed.
type NewCallerid struct {
	Base
	ChannelFields
	CIDCallingPres string
}

// Hangup: a channel is gone. Cause is the Q.850 cause.
type Hangup struct {
	Base
	ChannelFields
	Cause     int
	CauseText string // "Cause-txt", e.g. "Normal Clearing"
}

// HangupRequest: a hangup was requested for the channel, with a Q.850 cause.
type HangupRequest struct {
	Base
	ChannelFields
	Cause int
}

// SoftHangupRequest: a soft hangup was requested. Its Cause header is an
// internal Asterisk flag (16, 32), not a Q.850 cause; it is kept as Flags.
type SoftHangupRequest struct {
	Base
	ChannelFields
	Flags int
}

// VarSet: a channel (or, with an empty Channel, global) variable was set.
type VarSet struct {
	Base
	ChannelFields
	Variable string
	Value    string
}

// DialBegin: Caller started dialling Dest.
type DialBegin struct {
	Base
	Caller     ChannelFields // empty Channel when the dial came from Originate
	Dest       ChannelFields
	DialString string
}

// DialEnd: a dial attempt ended with DialStatus (ANSWER, NOANSWER, BUSY, ...).
type DialEnd struct {
	Base
	Caller     ChannelFields
	Dest       ChannelFields
	DialStatus string
}

// BridgeFields describe the bridge of a BridgeEnter or BridgeLeave.
type BridgeFields struct {
	BridgeUniqueid    string
	BridgeType        string
	BridgeTechnology  string
	BridgeNumChannels int
}

func bridgeFields(m *proto.Message) BridgeFields {
	return BridgeFields{
		BridgeUniqueid:    m.Get("BridgeUniqueid"),
		BridgeType:        m.Get("BridgeType"),
		BridgeTechnology:  m.Get("BridgeTechnology"),
		BridgeNumChannels: atoi(m.Get("BridgeNumChannels")),
	}
}

// BridgeEnter: a channel joined a bridge.
type BridgeEnter struct {
	Base
	ChannelFields
	Bridge BridgeFields
}

// BridgeLeave: a channel left a bridge.
type BridgeLeave struct {
	Base
	ChannelFields
	Bridge BridgeFields
}

// FullyBooted: Asterisk finished starting (also sent right after login).
type FullyBooted struct {
	Base
	Status string
}

// Shutdown: Asterisk is stopping; the connection ends right after it.
type Shutdown struct {
	Base
	Shutdown string // "Cleanly" or "Uncleanly"
	Restart  bool
}

// FAXStatus: progress of a fax on a channel.
type FAXStatus struct {
	Base
	ChannelFields
	Operation string // "send" or "receive"
	Status    string
	FileName  string
}

// FAXResult is the outcome carried by ReceiveFAX and SendFAX.
type FAXResult struct {
	LocalStationID   string
	RemoteStationID  string
	PagesTransferred int
	Resolution       string
	TransferRate     int
	FileName         string
}

func faxResult(m *proto.Message) FAXResult {
	return FAXResult{
		LocalStationID:   m.Get("LocalStationID"),
		RemoteStationID:  m.Get("RemoteStationID"),
		PagesTransferred: atoi(m.Get("PagesTransferred")),
		Resolution:       m.Get("Resolution"),
		TransferRate:     atoi(m.Get("TransferRate")),
		FileName:         m.Get("FileName"),
	}
}

// ReceiveFAX: a fax reception ended on the channel.
type ReceiveFAX struct {
	Base
	ChannelFields
	FAXResult
}

// SendFAX: a fax transmission ended on the channel.
type SendFAX struct {
	Base
	ChannelFields
	FAXResult
}

// CoreShowChannel is one item of a CoreShowChannels list.
type CoreShowChannel struct {
	Base
	ChannelFields
	Application     string
	ApplicationData string
	Duration        string // "HH:MM:SS"
	BridgeID        string
}

// OriginateResponse: the outcome of an asynchronous Originate. It is an event
// even though it carries a "Response:" header.
type OriginateResponse struct {
	Base
	ActionID string
	Response string // "Success" or "Failure"
	Channel  string
	Uniqueid string
	Reason   int
}

// OtherEvent is any event without a type of its own.
type OtherEvent struct {
	Base
}

// DecodeEvent types an event message. It never fails: unknown or odd events
// come back as *OtherEvent, missing numbers as 0.
func DecodeEvent(m *proto.Message) Event {
	b := Base{Msg: m}
	ch := func() ChannelFields { return channelFields(m, "") }
	switch m.Name() {
	case "Newchannel":
		return &Newchannel{b, ch()}
	case "Newstate":
		return &Newstate{b, ch()}
	case "NewCallerid":
		return &NewCallerid{b, ch(), m.Get("CID-CallingPres")}
	case "Hangup":
		return &Hangup{b, ch(), atoi(m.Get("Cause")), m.Get("Cause-txt")}
	case "HangupRequest":
		return &HangupRequest{b, ch(), atoi(m.Get("Cause"))}
	case "SoftHangupRequest":
		return &SoftHangupRequest{b, ch(), atoi(m.Get("Cause"))}
	case "VarSet":
		return &VarSet{b, ch(), m.Get("Variable"), m.Get("Value")}
	case "DialBegin":
		return &DialBegin{b, ch(), channelFields(m, "Dest"), m.Get("DialString")}
	case "DialEnd":
		return &DialEnd{b, ch(), channelFields(m, "Dest"), m.Get("DialStatus")}
	case "BridgeEnter":
		return &BridgeEnter{b, ch(), bridgeFields(m)}
	case "BridgeLeave":
		return &BridgeLeave{b, ch(), bridgeFields(m)}
	case "FullyBooted":
		return &FullyBooted{b, m.Get("Status")}
	case "Shutdown":
		return &Shutdown{b, m.Get("Shutdown"), strings.EqualFold(m.Get("Restart"), "True")}
	case "FAXStatus":
		return &FAXStatus{b, ch(), m.Get("Operation"), m.Get("Status"), m.Get("FileName")}
	case "ReceiveFAX":
		return &ReceiveFAX{b, ch(), faxResult(m)}
	case "SendFAX":
		return &SendFAX{b, ch(), faxResult(m)}
	case "CoreShowChannel":
		return decodeCoreShowChannel(m)
	case "OriginateResponse":
		return &OriginateResponse{b, m.Get("ActionID"), m.Get("Response"), m.Get("Channel"), m.Get("Uniqueid"), atoi(m.Get("Reason"))}
	}
	return &OtherEvent{b}
}

func decodeCoreShowChannel(m *proto.Message) *CoreShowChannel {
	return &CoreShowChannel{Base{m}, channelFields(m, ""), m.Get("Application"), m.Get("ApplicationData"), m.Get("Duration"), m.Get("BridgeId")}
}

// Interface guards.
var (
	_ Event = (*Newchannel)(nil)
	_ Event = (*OtherEvent)(nil)
	_ Event = (*CoreShowChannel)(nil)
)
