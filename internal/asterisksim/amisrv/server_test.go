package amisrv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

// capture decodes a recorded stream (banner, then messages).
func capture(t *testing.T, name, dir string) (banner string, msgs []*proto.Message) {
	t.Helper()
	raw := fixtures.Read(t, "asterisk", name+"."+dir+".raw")
	rd := proto.NewReader(bytes.NewReader(raw), proto.Limits{})
	if dir == "rx" {
		b, err := rd.ReadBanner()
		if err != nil {
			t.Fatal(err)
		}
		banner = b
	}
	for {
		m, err := rd.ReadMessage()
		if errors.Is(err, io.EOF) {
			return banner, msgs
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
}

// client is a raw AMI socket to the double, as the recording scripts used.
type client struct {
	t   *testing.T
	nc  net.Conn
	rd  *proto.Reader
	raw *bytes.Buffer // every byte received
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	raw := &bytes.Buffer{}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, rd: proto.NewReader(io.TeeReader(nc, raw), proto.Limits{}), raw: raw}
}

func (c *client) banner() string {
	c.t.Helper()
	b, err := c.rd.ReadBanner()
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *client) send(m *proto.Message) {
	c.t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() *proto.Message {
	c.t.Helper()
	m, err := c.rd.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// answer reads the full answer to req: the response and, for lists, the
// items through the Complete event, or the FAXStats follow-up event.
func (c *client) answer(req *proto.Message) []*proto.Message {
	c.t.Helper()
	first := c.read()
	out := []*proto.Message{first}
	switch {
	case strings.EqualFold(first.Get("EventList"), "start"):
		for {
			m := c.read()
			out = append(out, m)
			if strings.EqualFold(m.Get("EventList"), "Complete") {
				return out
			}
		}
	case strings.EqualFold(req.Get("Action"), "FAXStats") && first.Name() == "Success":
		out = append(out, c.read())
	}
	return out
}

// masked renders m with the values of the given keys replaced by "*":
// timestamps and per-run ids are not deterministic.
func masked(m *proto.Message, keys ...string) string {
	c := m.Clone()
	for i, f := range c.Fields {
		for _, k := range keys {
			if strings.EqualFold(f.Key, k) {
				c.Fields[i].Value = "*"
			}
		}
	}
	return c.String()
}

func byActionID(msgs []*proto.Message, id string) []*proto.Message {
	var out []*proto.Message
	for _, m := range msgs {
		if v, ok := m.Lookup("ActionID"); ok && v == id {
			out = append(out, m)
		}
	}
	return out
}

func TestBytesActionBeforeLogin(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s)
	_, reqs := capture(t, "ami_action_before_login", "tx")
	c.banner()
	for _, r := range reqs {
		c.send(r)
		c.answer(r)
	}
	want := fixtures.Read(t, "asterisk", "ami_action_before_login.rx.raw")
	if !bytes.Equal(c.raw.Bytes(), want) {
		t.Fatalf("got\n%q\nwant\n%q", c.raw.Bytes(), want)
	}
	// The connection stays open: a login still works.
	c.send(proto.NewMessage("Action", "Login", "Username", "licbridge", "Secret", "licsecret", "Events", "off"))
	if m := c.read(); m.Get("Message") != "Authentication accepted" {
		t.Fatalf("login after denial: %v", m)
	}
}

func TestBytesLoginFailed(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s)
	_, reqs := capture(t, "ami_login_failed", "tx")
	c.banner()
	c.send(reqs[0])
	c.read()
	if _, err := c.rd.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Fatalf("after a failed login: %v, want EOF", err)
	}
	want := fixtures.Read(t, "asterisk", "ami_login_failed.rx.raw")
	if !bytes.Equal(c.raw.Bytes(), want) {
		t.Fatalf("got\n%q\nwant\n%q", c.raw.Bytes(), want)
	}
}

// replay sends the recorded requests (those listed in only, or all) and checks
// each answer against the recorded one, byte for byte but for masked keys.
func replay(t *testing.T, c *client, name string, skip map[string]bool, mask ...string) {
	t.Helper()
	_, reqs := capture(t, name, "tx")
	banner, rx := capture(t, name, "rx")
	if got := c.banner(); got != banner {
		t.Fatalf("banner %q, recorded %q", got, banner)
	}
	noID := 0
	for _, req := range reqs {
		id, hasID := req.Lookup("ActionID")
		if skip[id] {
			continue
		}
		c.send(req)
		got := c.answer(req)
		var want []*proto.Message
		if hasID {
			want = byActionID(rx, id)
			if strings.EqualFold(req.Get("Action"), "Login") {
				want = want[:1]
			}
		} else {
			// Answers without ActionID, in order (the bare Ping).
			var bare []*proto.Message
			for _, m := range rx {
				if _, ok := m.Lookup("ActionID"); !ok && m.Kind() == proto.KindResponse {
					bare = append(bare, m)
				}
			}
			want = bare[noID : noID+1]
			noID++
		}
		t.Run(req.Get("Action")+"/"+id, func(t *testing.T) {
			if len(got) != len(want) {
				t.Fatalf("%d messages, recorded %d", len(got), len(want))
			}
			for i := range got {
				if g, w := masked(got[i], mask...), masked(want[i], mask...); g != w {
					t.Errorf("message %d:\n got %q\nwant %q", i, g, w)
				}
			}
		})
	}
}

func TestBytesActionsBasic(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s)
	// Not implemented by the double: Status, CoreSettings, CoreStatus, Challenge.
	skip := map[string]bool{"status-empty": true, "coresettings-1": true, "corestatus-1": true, "challenge-1": true}
	replay(t, c, "ami_actions_basic", skip, "Timestamp")
	if _, err := c.rd.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Logoff: %v, want EOF", err)
	}
}

// channelFrom rebuilds a table entry from a recorded channel event.
func channelFrom(m *proto.Message) Channel {
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return Channel{
		Name: m.Get("Channel"), State: atoi(m.Get("ChannelState")),
		CallerIDNum: m.Get("CallerIDNum"), CallerIDName: m.Get("CallerIDName"),
		ConnectedLineNum: m.Get("ConnectedLineNum"), ConnectedLineName: m.Get("ConnectedLineName"),
		Language: m.Get("Language"), AccountCode: m.Get("AccountCode"), Context: m.Get("Context"),
		Exten: m.Get("Exten"), Priority: atoi(m.Get("Priority")), Uniqueid: m.Get("Uniqueid"),
		Linkedid: m.Get("Linkedid"), Application: m.Get("Application"),
		ApplicationData: m.Get("ApplicationData"), BridgeID: m.Get("BridgeId"),
	}
}

func TestBytesCallActions(t *testing.T) {
	s := Start(t, Options{})
	_, rx := capture(t, "ami_call_local_dial_actions", "rx")
	var ids []string
	for _, m := range byActionID(rx, "csc-active") {
		if m.Name() == "CoreShowChannel" {
			ch := channelFrom(m)
			if strings.HasSuffix(ch.Name, "lic-dial-00000000;2") {
				ch.Vars = map[string]string{"LICENSE_FEATURE": "g729"}
			}
			ids = append(ids, s.AddChannel(ch).Uniqueid)
		}
	}
	if len(ids) != 4 {
		t.Fatalf("%d channels in the recording", len(ids))
	}
	c := dial(t, s)
	skip := map[string]bool{"status-live": true, "status-all": true, "bridgelist": true, "csc-after": true}
	replay(t, c, "ami_call_local_dial_actions", skip)

	// The call ends, then the list is empty, as recorded.
	c2 := dial(t, s)
	c2.banner()
	c2.send(proto.NewMessage("Action", "Login", "Username", "licbridge", "Secret", "licsecret", "Events", "off"))
	c2.read()
	for _, id := range ids {
		if err := s.Hangup(id, 16); err != nil {
			t.Fatal(err)
		}
	}
	req := proto.NewMessage("Action", "CoreShowChannels", "ActionID", "csc-after")
	c2.send(req)
	got := c2.answer(req)
	want := byActionID(rx, "csc-after")
	if len(got) != 2 || got[0].String() != want[0].String() || got[1].String() != want[1].String() {
		t.Fatalf("csc-after: %v, recorded %v", got, want)
	}
}

// The Hangup action's events (Events on) match the recorded ones for the hung
// up channel; the Setvar answer precedes its VarSet.
func TestBytesHangupAction(t *testing.T) {
	s := Start(t, Options{})
	_, rx := capture(t, "ami_hangup_action", "rx")
	var target *proto.Message
	for _, m := range rx {
		// The ;2 half as it was when hung up: the VarSet of LIC_DECISION.
		if m.Name() == "VarSet" && m.Get("Variable") == "LIC_DECISION" {
			target = m
		}
	}
	ch := channelFrom(target)
	ch.Vars = map[string]string{"LICENSE_FEATURE": "g729"}
	s.AddChannel(ch)

	c := dial(t, s)
	c.banner()
	_, reqs := capture(t, "ami_hangup_action", "tx")
	c.send(reqs[0]) // Login, Events on
	if c.read().Name() != "Success" || c.read().Name() != "FullyBooted" || c.read().Name() != "SuccessfulAuth" {
		t.Fatal("login sequence differs")
	}
	want := func(pred func(*proto.Message) bool) string {
		for _, m := range rx {
			if pred(m) {
				return m.String()
			}
		}
		t.Fatal("not in recording")
		return ""
	}
	for _, req := range reqs[2:4] { // Getvar, Setvar
		c.send(req)
		id := req.Get("ActionID")
		if got, w := c.read().String(), byActionID(rx, id)[0].String(); got != w {
			t.Errorf("%s:\n got %q\nwant %q", id, got, w)
		}
	}
	isOn2 := func(name string) func(*proto.Message) bool {
		return func(m *proto.Message) bool { return m.Name() == name && m.Get("Channel") == ch.Name }
	}
	if got, w := c.read().String(), target.String(); got != w {
		t.Errorf("VarSet:\n got %q\nwant %q", got, w)
	}
	c.send(reqs[4]) // Hangup Cause 21
	if got, w := c.read().String(), byActionID(rx, "hangup-1")[0].String(); got != w {
		t.Errorf("hangup-1:\n got %q\nwant %q", got, w)
	}
	soft := c.read()
	if got, w := soft.String(), want(isOn2("SoftHangupRequest")); got != w {
		t.Errorf("SoftHangupRequest:\n got %q\nwant %q", got, w)
	}
	hr := c.read()
	if hr.Name() != "HangupRequest" || hr.Get("Cause") != "21" {
		t.Errorf("HangupRequest: %v", hr)
	}
	if got, w := c.read().String(), want(isOn2("Hangup")); got != w {
		t.Errorf("Hangup:\n got %q\nwant %q", got, w)
	}
	for _, req := range reqs[5:] { // regex Hangup with no match, Logoff
		c.send(req)
		got := c.answer(req)
		w := byActionID(rx, req.Get("ActionID"))
		if len(got) != len(w) {
			t.Fatalf("%s: %d messages, recorded %d", req.Get("ActionID"), len(got), len(w))
		}
		for i := range got {
			if got[i].String() != w[i].String() {
				t.Errorf("%s[%d]:\n got %q\nwant %q", req.Get("ActionID"), i, got[i], w[i])
			}
		}
	}
}

func TestBytesLoginEventsOn(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s)
	c.banner()
	_, reqs := capture(t, "ami_login_events_on", "tx")
	_, rx := capture(t, "ami_login_events_on", "rx")
	c.send(reqs[0])
	// Per-run values: uptime, clock, session pointer, socket addresses.
	mask := []string{"Uptime", "LastReload", "EventTV", "SessionTV", "SessionID", "LocalAddress", "RemoteAddress"}
	for i := 0; i < 3; i++ {
		if g, w := masked(c.read(), mask...), masked(rx[i], mask...); g != w {
			t.Errorf("message %d:\n got %q\nwant %q", i, g, w)
		}
	}
	c.send(reqs[1])
	if g, w := c.read().String(), rx[3].String(); g != w {
		t.Errorf("logoff:\n got %q\nwant %q", g, w)
	}
}

func TestShutdownLikeAsterisk(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s)
	c.banner()
	_, reqs := capture(t, "ami_asterisk_shutdown", "tx")
	c.send(reqs[0]) // Events: system
	_, rx := capture(t, "ami_asterisk_shutdown", "rx")
	for i := 0; i < 2; i++ {
		if g, w := masked(c.read(), "Uptime", "LastReload"), masked(rx[i], "Uptime", "LastReload"); g != w {
			t.Fatalf("message %d:\n got %q\nwant %q", i, g, w)
		}
	}
	// A call event is not in the "system" mask and must not arrive.
	s.AddChannel(Channel{Name: "PJSIP/1-00000001"})
	s.Shutdown()
	if g, w := c.read().String(), rx[2].String(); g != w {
		t.Fatalf("got %q, want %q", g, w)
	}
	if _, err := c.rd.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Shutdown: %v, want EOF", err)
	}
}

func TestDropConnections(t *testing.T) {
	s := Start(t, Options{})
	c := dial(t, s)
	c.banner()
	s.DropConnections()
	if _, err := c.rd.ReadMessage(); err == nil {
		t.Fatal("connection survived DropConnections")
	}
	c2 := dial(t, s)
	if c2.banner() != Banner {
		t.Fatal("no banner after drop")
	}
}

func TestEventMasks(t *testing.T) {
	tests := []struct {
		events string
		want   []string // event names received after login, in order
	}{
		{"off", nil},
		{"call", []string{"Newchannel", "Newstate", "HangupRequest", "Hangup"}},
		{"dialplan", []string{"VarSet"}},
		{"on", []string{"FullyBooted", "SuccessfulAuth", "Newchannel", "VarSet", "Newstate", "HangupRequest", "Hangup"}},
		{"system,call", []string{"FullyBooted", "Newchannel", "Newstate", "HangupRequest", "Hangup"}},
	}
	for _, tc := range tests {
		t.Run(tc.events, func(t *testing.T) {
			s := Start(t, Options{})
			c := dial(t, s)
			c.banner()
			c.send(proto.NewMessage("Action", "Login", "ActionID", "l", "Username", "licbridge", "Secret", "licsecret", "Events", tc.events))
			c.read()
			ch := s.AddChannel(Channel{Name: "PJSIP/100-00000001", Context: "from-pbx", Exten: "100"})
			_ = s.SetVar(ch.Uniqueid, "LICENSE_FEATURE", "g729")
			_ = s.SetState(ch.Uniqueid, 6)
			_ = s.Hangup(ch.Uniqueid, 16)
			// A Ping answer marks the end of what was sent before it.
			c.send(proto.NewMessage("Action", "Ping", "ActionID", "end"))
			var got []string
			for {
				m := c.read()
				if m.Get("ActionID") == "end" {
					break
				}
				got = append(got, m.Name())
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFAXStatsAndGetvarFormats(t *testing.T) {
	s := Start(t, Options{})
	s.SetFAXStats(FAXStats{CurrentSessions: 2, TransmitAttempts: 1, ReceiveAttempts: 1})
	ch := s.AddChannel(Channel{Name: "PJSIP/201-00000002", NativeFormat: "g729", State: 6})
	c := dial(t, s)
	c.banner()
	c.send(proto.NewMessage("Action", "Login", "Username", "licbridge", "Secret", "licsecret", "Events", "off"))
	c.read()
	req := proto.NewMessage("Action", "FAXStats", "ActionID", "faxstats")
	c.send(req)
	got := c.answer(req)
	_, rx := capture(t, "ami_fax_spandsp", "rx")
	want := byActionID(rx, "faxstats")
	if len(got) != 2 || got[0].String() != want[0].String() || got[1].String() != want[1].String() {
		t.Fatalf("FAXStats: %v, recorded %v", got, want)
	}
	c.send(proto.NewMessage("Action", "Getvar", "ActionID", "g", "Channel", ch.Name, "Variable", "CHANNEL(audionativeformat)"))
	if v := c.read().Get("Value"); v != "(g729)" {
		t.Fatalf("audionativeformat %q", v)
	}
}

// Events built through the API carry the recorded bytes, given channels in the
// recorded state.
func TestBytesCallEvents(t *testing.T) {
	_, rx := capture(t, "ami_call_local_dial_events", "rx")
	find := func(pred func(*proto.Message) bool) *proto.Message {
		for _, m := range rx {
			if pred(m) {
				return m
			}
		}
		t.Fatal("not in recording")
		return nil
	}
	// channelAt rebuilds a channel from the (prefixed) snapshot inside m.
	channelAt := func(m *proto.Message, prefix string) Channel {
		c := proto.NewMessage()
		for _, f := range m.Fields {
			if strings.HasPrefix(f.Key, prefix) {
				c.Add(strings.TrimPrefix(f.Key, prefix), f.Value)
			}
		}
		return channelFrom(c)
	}
	tests := []struct {
		name string
		want *proto.Message
		emit func(s *Server, want *proto.Message) error
	}{
		{"dialend_with_caller", find(func(m *proto.Message) bool { return m.Name() == "DialEnd" && m.Get("Channel") != "" }),
			func(s *Server, w *proto.Message) error {
				caller, dest := s.AddChannel(channelAt(w, "")), s.AddChannel(channelAt(w, "Dest"))
				return s.DialEnd(caller.Uniqueid, dest.Uniqueid, w.Get("DialStatus"))
			}},
		{"dialbegin_from_originate", find(func(m *proto.Message) bool { return m.Name() == "DialBegin" && m.Get("Channel") == "" }),
			func(s *Server, w *proto.Message) error {
				return s.DialBegin("", s.AddChannel(channelAt(w, "Dest")).Uniqueid, w.Get("DialString"))
			}},
		{"bridgeenter_second", find(func(m *proto.Message) bool { return m.Name() == "BridgeEnter" && m.Get("BridgeNumChannels") == "2" }),
			func(s *Server, w *proto.Message) error {
				b := Bridge{Uniqueid: w.Get("BridgeUniqueid")}
				first := s.AddChannel(Channel{Name: "Local/200@lic-answer-00000001;1"})
				if err := s.BridgeEnter(b, first.Uniqueid); err != nil {
					return err
				}
				return s.BridgeEnter(b, s.AddChannel(channelAt(w, "")).Uniqueid)
			}},
		{"varset", find(func(m *proto.Message) bool { return m.Name() == "VarSet" }),
			func(s *Server, w *proto.Message) error {
				return s.SetVar(s.AddChannel(channelAt(w, "")).Uniqueid, w.Get("Variable"), w.Get("Value"))
			}},
		{"newexten_via_emitchannel", find(func(m *proto.Message) bool { return m.Name() == "Newexten" }),
			func(s *Server, w *proto.Message) error {
				return s.EmitChannel("Newexten", s.AddChannel(channelAt(w, "")).Uniqueid,
					"Extension", w.Get("Extension"), "Application", w.Get("Application"), "AppData", w.Get("AppData"))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, Options{})
			c := dial(t, s)
			c.banner()
			c.send(proto.NewMessage("Action", "Login", "Username", "licbridge", "Secret", "licsecret", "Events", "call,dialplan"))
			c.read()
			if err := tc.emit(s, tc.want); err != nil {
				t.Fatal(err)
			}
			var got *proto.Message
			for got == nil || got.Name() != tc.want.Name() || got.Get("Uniqueid") != tc.want.Get("Uniqueid") {
				got = c.read()
			}
			if got.String() != tc.want.String() {
				t.Fatalf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLocalPairAndCommandCounts(t *testing.T) {
	s := Start(t, Options{})
	a, b := s.AddLocalPair("100@lic-dial", Channel{Context: "lic-dial", Exten: "100", State: 6}, Channel{Context: "lic-dial", Exten: "100", State: 6})
	if a.Name != "Local/100@lic-dial-00000000;1" || b.Name != "Local/100@lic-dial-00000000;2" || b.Linkedid != a.Uniqueid || a.Uniqueid == b.Uniqueid {
		t.Fatalf("%+v %+v", a, b)
	}
	out, ok := s.cli("core show channels")
	if !ok || out[len(out)-3] != "2 active channels" || out[len(out)-2] != "1 active call" || out[len(out)-1] != "1 call processed" {
		t.Fatalf("%q", out)
	}
	if err := s.RemoveChannel(a.Uniqueid); err != nil || len(s.Channels()) != 1 {
		t.Fatalf("remove: %v, %d left", err, len(s.Channels()))
	}
	if err := s.Hangup(a.Uniqueid, 16); !errors.Is(err, ErrNoSuchChannel) {
		t.Fatalf("hangup of removed channel: %v", err)
	}
}
