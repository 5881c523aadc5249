package amisrv

import (
	"fmt"
	"github.com/licbridge/licbridge/internal/asterisksim/q850"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

// byName finds a channel by name; s.mu must be held.
func (s *Server) byName(name string) *Channel {
	for _, ch := range s.channels {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// byID finds a channel by Uniqueid; s.mu must be held.
func (s *Server) byID(uid string) *Channel {
	for _, ch := range s.channels {
		if ch.Uniqueid == uid {
			return ch
		}
	}
	return nil
}

// ErrNoSuchChannel is returned by the table methods for an unknown Uniqueid.
var ErrNoSuchChannel = fmt.Errorf("amisrv: no such channel")

// AddChannel adds ch to the table (filling defaults, see Channel) and emits
// Newchannel. It returns the channel as stored, with its Uniqueid.
func (s *Server) AddChannel(ch Channel) Channel {
	s.mu.Lock()
	ch.fillDefaults(func() string {
		id := fmt.Sprintf("%d.%d", s.epoch, s.seq)
		s.seq++
		return id
	})
	c := ch
	s.channels = append(s.channels, &c)
	if !strings.HasSuffix(c.Name, ";2") {
		s.processed++
	}
	ev := c.snapshot(proto.NewMessage("Event", "Newchannel", "Privilege", "call,all"), "")
	out := c.clone()
	s.mu.Unlock()
	s.broadcast(ev)
	return out
}

// Channels returns a copy of the table, in creation order.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, len(s.channels))
	for i, ch := range s.channels {
		out[i] = ch.clone()
	}
	return out
}

// Update changes a channel's fields through fn without emitting anything
// (for Application, BridgeID, NativeFormat, ...). Uniqueid must not change.
func (s *Server) Update(uniqueid string, fn func(*Channel)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.byID(uniqueid)
	if ch == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, uniqueid)
	}
	fn(ch)
	ch.Uniqueid = uniqueid
	return nil
}

// SetState changes a channel's state and emits Newstate.
func (s *Server) SetState(uniqueid string, state int) error {
	s.mu.Lock()
	ch := s.byID(uniqueid)
	if ch == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, uniqueid)
	}
	ch.State = state
	ev := ch.snapshot(proto.NewMessage("Event", "Newstate", "Privilege", "call,all"), "")
	s.mu.Unlock()
	s.broadcast(ev)
	return nil
}

// SetVar sets a channel variable and emits VarSet (Privilege dialplan). An
// empty uniqueid sets a global variable, with no event.
func (s *Server) SetVar(uniqueid, name, value string) error {
	if uniqueid == "" {
		s.SetGlobal(name, value)
		return nil
	}
	s.mu.Lock()
	ch := s.byID(uniqueid)
	if ch == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, uniqueid)
	}
	ch.Vars[name] = value
	ev := ch.snapshot(proto.NewMessage("Event", "VarSet", "Privilege", "dialplan,all"), "")
	ev.Add("Variable", name).Add("Value", value)
	s.mu.Unlock()
	s.broadcast(ev)
	return nil
}

// Hangup ends a channel from the far side: HangupRequest and Hangup with the
// Q.850 cause (and its Cause-txt), then the channel leaves the table.
func (s *Server) Hangup(uniqueid string, cause int) error {
	return s.hangup(uniqueid, cause, false)
}

// hangupAction is what the Hangup action causes: SoftHangupRequest (Cause 16,
// Asterisk's internal "explicit" flag), HangupRequest and Hangup with the
// cause. On a real Local pair those are spread over both halves.
func (s *Server) hangupAction(uniqueid string, cause int) {
	_ = s.hangup(uniqueid, cause, true)
}

func (s *Server) hangup(uniqueid string, cause int, soft bool) error {
	s.mu.Lock()
	ch := s.byID(uniqueid)
	if ch == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchChannel, uniqueid)
	}
	for i, c := range s.channels {
		if c == ch {
			s.channels = append(s.channels[:i], s.channels[i+1:]...)
			break
		}
	}
	var evs []*proto.Message
	c := strconv.Itoa(cause)
	if soft {
		evs = append(evs, ch.snapshot(proto.NewMessage("Event", "SoftHangupRequest", "Privilege", "call,all"), "").Add("Cause", "16"))
	}
	evs = append(evs,
		ch.snapshot(proto.NewMessage("Event", "HangupRequest", "Privilege", "call,all"), "").Add("Cause", c),
		ch.snapshot(proto.NewMessage("Event", "Hangup", "Privilege", "call,all"), "").Add("Cause", c).Add("Cause-txt", q850.Text(cause)))
	s.mu.Unlock()
	for _, ev := range evs {
		s.broadcast(ev)
	}
	return nil
}

// hangupRegex is Hangup with a "/regex/" channel: a list of the channels hung up.
func (ss *session) hangupRegex(req *proto.Message, expr string, cause int) bool {
	s := ss.srv
	re, err := regexp.Compile(expr)
	if err != nil {
		return ss.write(reply(req, "Error", "Message", "Invalid regex")) == nil
	}
	s.mu.Lock()
	var hit []*Channel
	for _, ch := range s.channels {
		if re.MatchString(ch.Name) {
			hit = append(hit, ch)
		}
	}
	s.mu.Unlock()
	id, hasID := req.Lookup("ActionID")
	if ss.write(reply(req, "Success", "EventList", "start", "Message", "Channels hung up will follow")) != nil {
		return false
	}
	for _, ch := range hit {
		m := proto.NewMessage("Event", "ChannelHungup", "Channel", ch.Name)
		if hasID {
			m.Add("ActionID", id)
		}
		if ss.write(m) != nil {
			return false
		}
		s.hangupAction(ch.Uniqueid, cause)
	}
	done := proto.NewMessage("Event", "ChannelsHungupListComplete")
	if hasID {
		done.Add("ActionID", id)
	}
	done.Add("EventList", "Complete").Add("ListItems", strconv.Itoa(len(hit)))
	return ss.write(done) == nil
}

// cli answers a CLI command; false for an unknown one (Response: Error).
func (s *Server) cli(cmd string) ([]string, bool) {
	if out, ok := s.opts.Commands[cmd]; ok {
		return out, true
	}
	switch cmd {
	case "core show version":
		return []string{s.opts.VersionLine}, true
	case "core show channels":
		return s.showChannels(false), true
	case "core show channels concise":
		return s.showChannels(true), true
	}
	words := strings.Fields(cmd)
	if len(words) > 2 {
		words = words[:2]
	}
	return []string{fmt.Sprintf("No such command '%s' (type 'core show help %s' for other possible commands)", cmd, strings.Join(words, " "))}, false
}

func ess(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// showChannels renders "core show channels" (or its concise form) as
// Asterisk 22 does. "Active calls" counts channels that are not the ;2 half of
// a Local pair, which is how the recorded numbers come out.
func (s *Server) showChannels(concise bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var out []string
	if !concise {
		out = append(out, fmt.Sprintf("%-64.64s %-32.32s %-7.7s %-30.30s", "Channel", "Location", "State", "Application(Data)"))
	}
	calls := 0
	for _, ch := range s.channels {
		if !strings.HasSuffix(ch.Name, ";2") {
			calls++
		}
		if concise {
			cid := ch.CallerIDNum
			if cid == "<unknown>" {
				cid = ""
			}
			out = append(out, strings.Join([]string{ch.Name, ch.Context, ch.Exten, strconv.Itoa(ch.Priority),
				StateDesc(ch.State), ch.Application, ch.ApplicationData, cid, ch.AccountCode, "", "3",
				strconv.Itoa(int(now.Sub(ch.Created).Seconds())), ch.BridgeID, ch.Uniqueid}, "!"))
			continue
		}
		loc := "(None)"
		if ch.Exten != "" {
			loc = fmt.Sprintf("%s@%s:%d", ch.Exten, ch.Context, ch.Priority)
		}
		app := "(None)"
		if ch.Application != "" {
			app = ch.Application + "(" + ch.ApplicationData + ")"
		}
		out = append(out, fmt.Sprintf("%-64.64s %-32.32s %-7.7s %-30.30s", ch.Name, loc, StateDesc(ch.State), app))
	}
	if !concise {
		n := len(s.channels)
		out = append(out, fmt.Sprintf("%d active channel%s", n, ess(n)),
			fmt.Sprintf("%d active call%s", calls, ess(calls)),
			fmt.Sprintf("%d call%s processed", s.processed, ess(s.processed)))
	}
	return out
}

// RemoveChannel drops a channel from the table without any event, as if the
// events announcing its end had been lost (for resynchronisation tests).
func (s *Server) RemoveChannel(uniqueid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ch := range s.channels {
		if ch.Uniqueid == uniqueid {
			s.channels = append(s.channels[:i], s.channels[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrNoSuchChannel, uniqueid)
}

// AddLocalPair adds the two halves of a Local channel, as Asterisk creates
// them for "Local/<base>": "<base>-<seq>;1" and ";2", both Linkedid to the ;1
// half's Uniqueid (unless set), emitting Newchannel for each. one and two give
// the other fields; their Name is ignored.
func (s *Server) AddLocalPair(base string, one, two Channel) (Channel, Channel) {
	s.mu.Lock()
	n := 0
	for _, ch := range s.channels {
		if strings.HasPrefix(ch.Name, "Local/") && strings.HasSuffix(ch.Name, ";1") {
			n++
		}
	}
	s.mu.Unlock()
	name := fmt.Sprintf("Local/%s-%08x", base, n)
	one.Name, two.Name = name+";1", name+";2"
	a := s.AddChannel(one)
	if two.Linkedid == "" {
		two.Linkedid = a.Linkedid
	}
	return a, s.AddChannel(two)
}
