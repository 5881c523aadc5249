package amisrv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/licbridge/licbridge/ami/proto"
)

// session is one client connection.
type session struct {
	srv *Server
	nc  net.Conn

	wmu sync.Mutex
	w   *proto.Writer

	mu     sync.Mutex
	auth   bool
	events eventMask
	closed bool
}

func (ss *session) authed() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.auth
}

func (ss *session) mask() eventMask {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.events
}

func (ss *session) close() {
	ss.mu.Lock()
	ss.closed = true
	ss.mu.Unlock()
	_ = ss.nc.Close()
}

// write sends one message whole; a stuck client cannot hold the server long.
func (ss *session) write(m *proto.Message) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	return ss.writeLocked(m)
}

// writeLocked writes m; the caller holds wmu.
func (ss *session) writeLocked(m *proto.Message) error {
	_ = ss.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return ss.w.WriteMessage(m)
}

func (ss *session) writeRaw(b string) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(ss.nc, b)
	return err
}

func (ss *session) serve() {
	defer ss.close()
	if err := ss.writeRaw(Banner + "\r\n"); err != nil {
		return
	}
	rd := proto.NewReader(ss.nc, proto.Limits{MaxLineBytes: 8 << 10, MaxFields: 512})
	for {
		req, err := rd.ReadMessage()
		if err != nil {
			var fe *proto.FrameError
			if errors.As(err, &fe) {
				// Asterisk ignores lines it cannot parse; the double says why in its log.
				ss.srv.log.Warn("bad input from client", "err", err)
				continue
			}
			return
		}
		ss.srv.mu.Lock()
		ss.srv.actions = append(ss.srv.actions, req.Clone())
		mute := ss.srv.unresponsive
		ss.srv.mu.Unlock()
		if mute {
			continue
		}
		if !ss.handle(req) {
			return
		}
	}
}

// reply builds "Response: <status>", then ActionID if the request had one,
// then the given headers.
func reply(req *proto.Message, status string, kv ...string) *proto.Message {
	m := proto.NewMessage("Response", status)
	if id, ok := req.Lookup("ActionID"); ok {
		m.Add("ActionID", id)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	return m
}

// handle answers one request; false closes the connection.
func (ss *session) handle(req *proto.Message) bool {
	action := req.Get("Action")
	if req.Kind() != proto.KindAction || action == "" {
		// Asterisk answers a message without Action this way.
		_ = ss.write(reply(req, "Error", "Message", "Missing action in request"))
		return true
	}
	if !ss.authed() && !strings.EqualFold(action, "Login") {
		return ss.write(reply(req, "Error", "Message", "Permission denied")) == nil
	}
	s := ss.srv
	s.mu.Lock()
	refused := s.refused[strings.ToLower(action)]
	s.mu.Unlock()
	if refused {
		// As Asterisk answers an action outside the user's write classes.
		return ss.write(reply(req, "Error", "Message", "Permission denied")) == nil
	}
	switch strings.ToLower(action) {
	case "login":
		return ss.login(req)
	case "logoff":
		_ = ss.write(reply(req, "Goodbye", "Message", "Thanks for all the fish."))
		return false
	case "ping":
		now := time.Now()
		return ss.write(reply(req, "Success", "Ping", "Pong", "Timestamp", fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000))) == nil
	case "events":
		mask := parseMask(req.Get("EventMask"))
		ss.mu.Lock()
		ss.events = mask
		ss.mu.Unlock()
		state := "On"
		if !mask.all && len(mask.classes) == 0 {
			state = "Off"
		}
		return ss.write(reply(req, "Success", "Events", state)) == nil
	case "coreshowchannels":
		return ss.coreShowChannels(req)
	case "getvar":
		return ss.write(s.getvar(req)) == nil
	case "setvar":
		return ss.setvar(req)
	case "hangup":
		return ss.hangup(req)
	case "command":
		return ss.command(req)
	case "faxsessions":
		// As a real Asterisk 22 lists them (fixture ami_fax_spandsp): one
		// FAXSessionsEntry per current session, then FAXSessionsComplete.
		s.mu.Lock()
		n := s.fax.CurrentSessions
		s.mu.Unlock()
		if err := ss.write(reply(req, "Success", "EventList", "Start", "Message", "FAXSessionsEntry event list will follow")); err != nil {
			return false
		}
		for i := range n {
			ev := proto.NewMessage("Event", "FAXSessionsEntry")
			if id, ok := req.Lookup("ActionID"); ok {
				ev.Add("ActionID", id)
			}
			ev.Add("Channel", fmt.Sprintf("Local/rx@lic-fax-%08x;2", i)).Add("Technology", "Spandsp").
				Add("SessionNumber", strconv.Itoa(i)).Add("SessionType", "G.711").Add("Operation", "receive").
				Add("State", "Active").Add("Files", "/var/fax/received.tif")
			if err := ss.write(ev); err != nil {
				return false
			}
		}
		ev := proto.NewMessage("Event", "FAXSessionsComplete")
		if id, ok := req.Lookup("ActionID"); ok {
			ev.Add("ActionID", id)
		}
		ev.Add("EventList", "Complete").Add("ListItems", strconv.Itoa(n)).Add("Total", strconv.Itoa(n))
		return ss.write(ev) == nil
	case "faxstats":
		s.mu.Lock()
		f := s.fax
		s.mu.Unlock()
		if err := ss.write(reply(req, "Success", "Message", "FAXStats event will follow")); err != nil {
			return false
		}
		ev := proto.NewMessage("Event", "FAXStats")
		if id, ok := req.Lookup("ActionID"); ok {
			ev.Add("ActionID", id)
		}
		ev.Add("CurrentSessions", strconv.Itoa(f.CurrentSessions)).
			Add("ReservedSessions", strconv.Itoa(f.ReservedSessions)).
			Add("TransmitAttempts", strconv.Itoa(f.TransmitAttempts)).
			Add("ReceiveAttempts", strconv.Itoa(f.ReceiveAttempts)).
			Add("CompletedFAXes", strconv.Itoa(f.CompletedFAXes)).
			Add("FailedFAXes", strconv.Itoa(f.FailedFAXes))
		return ss.write(ev) == nil
	}
	return ss.write(reply(req, "Error", "Message", "Invalid/unknown command: "+action+". Use Action: ListCommands to show available commands.")) == nil
}

func (ss *session) login(req *proto.Message) bool {
	s := ss.srv
	if req.Get("Username") != s.opts.User || req.Get("Secret") != s.opts.Secret {
		time.Sleep(s.opts.AuthFailDelay)
		_ = ss.write(reply(req, "Error", "Message", "Authentication failed"))
		return false
	}
	mask := parseMask(req.Get("Events"))
	// Asterisk writes the login answer, FullyBooted and SuccessfulAuth from the
	// action handler itself, so no channel event can come between them: hold the
	// write lock from the moment the session counts as logged in.
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	ss.mu.Lock()
	ss.auth = true
	ss.events = mask
	ss.mu.Unlock()
	if err := ss.writeLocked(reply(req, "Success", "Message", "Authentication accepted")); err != nil {
		return false
	}
	if mask.allows("system,all") {
		up := strconv.Itoa(int(time.Since(s.bootTime).Seconds()))
		_ = ss.writeLocked(proto.NewMessage("Event", "FullyBooted", "Privilege", "system,all", "Uptime", up, "LastReload", up, "Status", "Fully Booted"))
	}
	if mask.allows("security,all") {
		now := time.Now().UTC().Format("2006-01-02T15:04:05.000+0000")
		_ = ss.writeLocked(proto.NewMessage("Event", "SuccessfulAuth", "Privilege", "security,all", "EventTV", now,
			"Severity", "Informational", "Service", "AMI", "EventVersion", "1", "AccountID", s.opts.User,
			"SessionID", fmt.Sprintf("%p", ss), "LocalAddress", astAddr(ss.nc.LocalAddr()),
			"RemoteAddress", astAddr(ss.nc.RemoteAddr()), "UsingPassword", "0", "SessionTV", now))
	}
	s.mu.Lock()
	s.logins++
	close(s.loginNotify)
	s.loginNotify = make(chan struct{})
	s.mu.Unlock()
	return true
}

func (ss *session) coreShowChannels(req *proto.Message) bool {
	s := ss.srv
	now := time.Now()
	s.mu.Lock()
	items := make([]*proto.Message, 0, len(s.channels))
	for _, ch := range s.channels {
		m := proto.NewMessage("Event", "CoreShowChannel")
		if id, ok := req.Lookup("ActionID"); ok {
			m.Add("ActionID", id)
		}
		ch.snapshot(m, "")
		m.Add("Application", ch.Application).Add("ApplicationData", ch.ApplicationData).
			Add("Duration", ch.duration(now)).Add("BridgeId", ch.BridgeID)
		items = append(items, m)
	}
	s.mu.Unlock()
	if ss.write(reply(req, "Success", "EventList", "start", "Message", "Channels will follow")) != nil {
		return false
	}
	for _, m := range items {
		if ss.write(m) != nil {
			return false
		}
	}
	done := proto.NewMessage("Event", "CoreShowChannelsComplete")
	if id, ok := req.Lookup("ActionID"); ok {
		done.Add("ActionID", id)
	}
	done.Add("EventList", "Complete").Add("ListItems", strconv.Itoa(len(items)))
	return ss.write(done) == nil
}

// getvar answers as Asterisk does: an unset variable is "Value: " with
// Success, a missing channel is "No such channel".
func (s *Server) getvar(req *proto.Message) *proto.Message {
	name := req.Get("Variable")
	if name == "" {
		return reply(req, "Error", "Message", "No variable specified")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	chName, hasChan := req.Lookup("Channel")
	if !hasChan || chName == "" {
		return reply(req, "Success", "Variable", name, "Value", s.globals[name])
	}
	ch := s.byName(chName)
	if ch == nil {
		return reply(req, "Error", "Message", "No such channel")
	}
	var v string
	switch strings.ToUpper(name) {
	case "CHANNEL(STATE)":
		v = StateDesc(ch.State)
	case "CHANNEL(AUDIONATIVEFORMAT)":
		v = "(" + ch.NativeFormat + ")"
	case "CHANNEL(NAME)":
		v = ch.Name
	case "CHANNEL(UNIQUEID)", "UNIQUEID":
		v = ch.Uniqueid
	case "CHANNEL(LINKEDID)":
		v = ch.Linkedid
	default:
		v = ch.Vars[name]
	}
	return reply(req, "Success", "Variable", name, "Value", v)
}

func (ss *session) setvar(req *proto.Message) bool {
	s := ss.srv
	name, value := req.Get("Variable"), req.Get("Value")
	if name == "" {
		return ss.write(reply(req, "Error", "Message", "No variable specified")) == nil
	}
	chName := req.Get("Channel")
	if chName == "" {
		s.SetGlobal(name, value)
		return ss.write(reply(req, "Success", "Message", "Variable Set")) == nil
	}
	s.mu.Lock()
	ch := s.byName(chName)
	var uid string
	if ch != nil {
		uid = ch.Uniqueid
	}
	s.mu.Unlock()
	if ch == nil {
		return ss.write(reply(req, "Error", "Message", "No such channel")) == nil
	}
	// The answer goes out before the VarSet it causes, as recorded.
	if ss.write(reply(req, "Success", "Message", "Variable Set")) != nil {
		return false
	}
	_ = s.SetVar(uid, name, value)
	return true
}

func (ss *session) hangup(req *proto.Message) bool {
	s := ss.srv
	chName := req.Get("Channel")
	cause := 16
	if c, err := strconv.Atoi(strings.TrimSpace(req.Get("Cause"))); err == nil && c > 0 {
		cause = c
	}
	if len(chName) > 1 && strings.HasPrefix(chName, "/") && strings.HasSuffix(chName, "/") {
		return ss.hangupRegex(req, chName[1:len(chName)-1], cause)
	}
	s.mu.Lock()
	ch := s.byName(chName)
	s.mu.Unlock()
	if ch == nil {
		return ss.write(reply(req, "Error", "Message", "No such channel")) == nil
	}
	if ss.write(reply(req, "Success", "Message", "Channel Hungup")) != nil {
		return false
	}
	s.hangupAction(ch.Uniqueid, cause)
	return true
}

func (ss *session) command(req *proto.Message) bool {
	cmd := strings.Join(strings.Fields(req.Get("Command")), " ")
	out, ok := ss.srv.cli(cmd)
	status := "Success"
	if !ok {
		status = "Error"
	}
	m := reply(req, status, "Message", "Command output follows")
	for _, l := range out {
		m.Add("Output", l)
	}
	return ss.write(m) == nil
}

// astAddr writes an address the way Asterisk's security events do:
// "IPV4/TCP/127.0.0.1/5038".
func astAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "IPV4/TCP/" + a.String()
	}
	return "IPV4/TCP/" + host + "/" + port
}
