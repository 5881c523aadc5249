package amisrv

import (
	"fmt"
	"strconv"

	"github.com/licbridge/licbridge/ami/proto"
)

// privilegeOf is the class Asterisk files an event under.
func privilegeOf(event string) string {
	switch event {
	case "VarSet", "Newexten":
		return "dialplan,all"
	case "AGIExecStart", "AGIExecEnd":
		return "agi,all"
	case "FullyBooted", "Shutdown", "Reload":
		return "system,all"
	}
	return "call,all"
}

// EmitChannel emits a channel event: Event, Privilege (Asterisk's class for
// that event), the channel's snapshot headers, then extra as alternating keys
// and values. For events without a helper of their own: Newexten, FAXStatus,
// ReceiveFAX, SendFAX, NewCallerid, Hold, ...
func (s *Server) EmitChannel(event, uniqueid string, extra ...string) error {
	s.mu.Lock()
	ch := s.byID(uniqueid)
	if ch == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, uniqueid)
	}
	m := ch.snapshot(proto.NewMessage("Event", event, "Privilege", privilegeOf(event)), "")
	s.mu.Unlock()
	for i := 0; i < len(extra); i += 2 {
		v := ""
		if i+1 < len(extra) {
			v = extra[i+1]
		}
		m.Add(extra[i], v)
	}
	s.broadcast(m)
	return nil
}

// dial builds DialBegin/DialEnd: the caller's snapshot (absent when
// callerUID is "", as for an Originate), then the destination's with "Dest".
func (s *Server) dial(event, callerUID, destUID, key, value string) error {
	s.mu.Lock()
	m := proto.NewMessage("Event", event, "Privilege", "call,all")
	if callerUID != "" {
		caller := s.byID(callerUID)
		if caller == nil {
			s.mu.Unlock()
			return fmt.Errorf("%w: %s", ErrNoSuchChannel, callerUID)
		}
		caller.snapshot(m, "")
	}
	dest := s.byID(destUID)
	if dest == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, destUID)
	}
	dest.snapshot(m, "Dest")
	s.mu.Unlock()
	m.Add(key, value)
	s.broadcast(m)
	return nil
}

// DialBegin emits DialBegin from caller (or none) to dest.
func (s *Server) DialBegin(callerUID, destUID, dialString string) error {
	return s.dial("DialBegin", callerUID, destUID, "DialString", dialString)
}

// DialEnd emits DialEnd with a DialStatus (ANSWER, NOANSWER, BUSY, ...).
func (s *Server) DialEnd(callerUID, destUID, status string) error {
	return s.dial("DialEnd", callerUID, destUID, "DialStatus", status)
}

// Bridge describes a bridge for BridgeEnter/BridgeLeave. Zero fields take the
// recorded defaults: Type "basic", Technology "simple_bridge", Creator and
// Name "<unknown>", VideoSourceMode "none".
type Bridge struct {
	Uniqueid, Type, Technology, Creator, Name, VideoSourceMode string
}

func (b Bridge) headers(m *proto.Message, n int) {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	m.Add("BridgeUniqueid", b.Uniqueid).
		Add("BridgeType", def(b.Type, "basic")).
		Add("BridgeTechnology", def(b.Technology, "simple_bridge")).
		Add("BridgeCreator", def(b.Creator, "<unknown>")).
		Add("BridgeName", def(b.Name, "<unknown>")).
		Add("BridgeNumChannels", strconv.Itoa(n)).
		Add("BridgeVideoSourceMode", def(b.VideoSourceMode, "none"))
}

// BridgeEnter puts the channel in bridge b and emits BridgeEnter (bridge
// headers first, then the channel's, with BridgeNumChannels counted from the
// table).
func (s *Server) BridgeEnter(b Bridge, uniqueid string) error {
	return s.bridgeMove("BridgeEnter", b, uniqueid, b.Uniqueid)
}

// BridgeLeave takes the channel out of bridge b and emits BridgeLeave.
func (s *Server) BridgeLeave(b Bridge, uniqueid string) error {
	return s.bridgeMove("BridgeLeave", b, uniqueid, "")
}

func (s *Server) bridgeMove(event string, b Bridge, uniqueid, newBridge string) error {
	s.mu.Lock()
	ch := s.byID(uniqueid)
	if ch == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, uniqueid)
	}
	ch.BridgeID = newBridge
	n := 0
	for _, c := range s.channels {
		if c.BridgeID == b.Uniqueid {
			n++
		}
	}
	m := proto.NewMessage("Event", event, "Privilege", "call,all")
	b.headers(m, n)
	ch.snapshot(m, "")
	s.mu.Unlock()
	s.broadcast(m)
	return nil
}
