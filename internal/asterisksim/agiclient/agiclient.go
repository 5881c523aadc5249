package agiclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AGISTATUS values, as the AGI() application sets them.
const (
	StatusSuccess = "SUCCESS" // the server closed the socket (with or without setting anything)
	StatusFailure = "FAILURE" // the connection could not be made
	StatusHangup  = "HANGUP"  // the channel hung up during AGI()
)

// Channel is the calling channel as Asterisk would describe it. Empty fields take
// the values a plain Local channel had in the recordings.
type Channel struct {
	Name         string // agi_channel; default Local/s@licbridge-test-00000001;2
	Uniqueid     string // agi_uniqueid; default 1795386360.29
	Linkedid     string // CHANNEL(linkedid); default Uniqueid
	CallerID     string // agi_callerid; "" is sent as "unknown"
	CallerIDName string // agi_calleridname; "" is sent as "unknown"
	DNID         string // agi_dnid; "" is sent as "unknown"
	RDNIS        string // agi_rdnis; "" is sent as "unknown"
	Context      string // agi_context; default default
	Exten        string // agi_extension; default s
	Priority     int    // agi_priority; default 1
	Language     string // agi_language; default en
	AccountCode  string // agi_accountcode; default ""
	ThreadID     string // agi_threadid; default 139825867007680
	// Vars are the channel variables before AGI() runs; GET VARIABLE reads them.
	Vars map[string]string
}

// Version is the agi_version the double reports.
const Version = "22.10.1"

// Option adjusts one call.
type Option func(*options)

type options struct {
	split          []int
	hangup         <-chan struct{}
	hangupAfterEnv bool
	refuseExec     bool
}

// WithExecRefused answers EXEC with a 511, as Asterisk answers the commands a
// channel may not run. Asterisk 22 itself runs EXEC even from the h extension
// (TestE2EAsteriskMSet); this is for the fallback of a server that is refused.
func WithExecRefused() Option {
	return func(o *options) { o.refuseExec = true }
}

// WithHangupAfterEnv hangs the channel up right after the environment is sent, so
// that the HANGUP line is the first thing the server reads after it.
func WithHangupAfterEnv() Option {
	return func(o *options) { o.hangupAfterEnv = true }
}

// WithSplit sends the environment in several writes, cut at these byte offsets. By
// default it is cut after the agi_context line, as in the recording.
func WithSplit(offsets ...int) Option {
	return func(o *options) { o.split = append([]int{}, offsets...) }
}

// WithHangup hangs the channel up when ch is closed: the double then sends
// Asterisk's unsolicited `HANGUP` line (once, between replies) and answers 511 to
// the commands a dead channel refuses.
func WithHangup(ch <-chan struct{}) Option {
	return func(o *options) { o.hangup = ch }
}

// Set is one variable the server set: by SET VARIABLE, or by one of the
// pairs of EXEC MSet.
type Set struct{ Name, Value string }

// Result is what Asterisk would have seen of one AGI() call.
type Result struct {
	// AGIStatus is what AGI() sets: SUCCESS, FAILURE or HANGUP; "" while the server
	// still holds the session (Call's context ended first).
	AGIStatus string
	// Vars are the channel variables after AGI(): Channel.Vars plus what was set.
	Vars map[string]string
	// Sets lists the variables set (SET VARIABLE, EXEC MSet), in order.
	Sets []Set
	// Commands are the command lines received, without their LF.
	Commands []string
	// Sent holds every byte the double wrote (environment, replies, HANGUP);
	// Received every byte the server wrote.
	Sent, Received []byte
	// ServerClosed tells whether the server closed the socket; Elapsed is the time
	// from connecting to that close (or to the end of Call).
	ServerClosed bool
	Elapsed      time.Duration
	// DialError is why the connection failed, when AGIStatus is FAILURE.
	DialError error
}

// ErrServerHeld is returned when the context ends while the server keeps the
// session open: the channel would still be stuck in AGI().
var ErrServerHeld = errors.New("agiclient: server did not close the session")

// Call runs `AGI(agi://ADDR/SCRIPT)` on ch. script is the rest of AGI()'s argument,
// commas included: "admit,g729" sends agi_network_script "admit" and agi_arg_1
// "g729", as Asterisk does. ${NAME} and ${FUNC(arg)} in it are expanded first,
// as the dialplan does before AGI() runs (${CHANNEL(linkedid)}, say). It returns when the server closes, or with
// ErrServerHeld (and the Result so far) when ctx ends first.
func Call(ctx context.Context, addr string, ch Channel, script string, opts ...Option) (Result, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	ch = ch.withDefaults()
	s := &session{ch: ch, vars: make(map[string]string, len(ch.Vars)+4), refuseExec: o.refuseExec}
	for k, v := range ch.Vars {
		s.vars[k] = v
	}
	res, err := s.run(ctx, addr, script, o)
	res.Vars = s.vars
	return res, err
}

func (c Channel) withDefaults() Channel {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Name, "Local/s@licbridge-test-00000001;2")
	def(&c.Uniqueid, "1795386360.29")
	def(&c.Linkedid, c.Uniqueid)
	def(&c.Context, "default")
	def(&c.Exten, "s")
	def(&c.Language, "en")
	def(&c.ThreadID, "139825867007680")
	if c.Priority == 0 {
		c.Priority = 1
	}
	return c
}

// Env returns the environment block Asterisk sends for `AGI(agi://ADDR/SCRIPT)` on
// ch, byte for byte: `agi_network: yes`, `agi_network_script`, then setup_env's keys
// in res_agi.c's order, the arguments, and the empty line.
func Env(addr string, ch Channel, script string) []byte {
	ch = ch.withDefaults()
	script = (&session{ch: ch, vars: ch.Vars}).substitute(script)
	parts := strings.Split("agi://"+addr+"/"+script, ",")
	url := parts[0]
	_, netScript, _ := strings.Cut(strings.TrimPrefix(url, "agi://"), "/")
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	pres := "67" // "unavailable": what Asterisk reports for a channel without caller ID
	if ch.CallerID != "" {
		pres = "0"
	}
	tech, _, _ := strings.Cut(ch.Name, "/")
	var b bytes.Buffer
	line := func(k, v string) { b.WriteString("agi_" + k + ": " + v + "\n") }
	line("network", "yes")
	if netScript != "" {
		line("network_script", netScript)
	}
	line("request", url)
	line("channel", ch.Name)
	line("language", ch.Language)
	line("type", tech)
	line("uniqueid", ch.Uniqueid)
	line("version", Version)
	line("callerid", unknown(ch.CallerID))
	line("calleridname", unknown(ch.CallerIDName))
	line("callingpres", pres)
	line("callingani2", "0")
	line("callington", "0")
	line("callingtns", "0")
	line("dnid", unknown(ch.DNID))
	line("rdnis", unknown(ch.RDNIS))
	line("context", ch.Context)
	line("extension", ch.Exten)
	line("priority", strconv.Itoa(ch.Priority))
	line("enhanced", "0.0")
	line("accountcode", ch.AccountCode)
	line("threadid", ch.ThreadID)
	for i, a := range parts[1:] {
		line("arg_"+strconv.Itoa(i+1), a)
	}
	b.WriteString("\n")
	return b.Bytes()
}

type session struct {
	ch         Channel
	vars       map[string]string
	refuseExec bool

	mu   sync.Mutex // guards nc writes, sent and dead
	nc   net.Conn
	sent bytes.Buffer
	dead bool
}

func (s *session) run(ctx context.Context, addr, script string, o options) (Result, error) {
	start := time.Now()
	// Asterisk gives a FastAGI connect 2 s (MAX_AGI_CONNECT).
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Result{AGIStatus: StatusFailure, DialError: err}, nil
	}
	defer nc.Close()
	s.nc = nc
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var res Result
	env := Env(addr, s.ch, script)
	split := o.split
	if split == nil {
		if i := bytes.Index(env, []byte("agi_extension:")); i > 0 {
			split = []int{i}
		}
	}
	prev := 0
	for _, at := range append(split, len(env)) {
		if at <= prev || at > len(env) {
			continue
		}
		if err := s.write(env[prev:at]); err != nil {
			// The server closed before taking the whole environment: Asterisk
			// carries on reading, finds EOF, and AGI() ends with SUCCESS.
			res.ServerClosed = true
			return s.finish(res, start, false), nil
		}
		prev = at
	}

	if o.hangupAfterEnv {
		s.mu.Lock()
		s.dead = true
		err := s.writeLocked([]byte("HANGUP\n"))
		s.mu.Unlock()
		if err != nil {
			res.ServerClosed = true
			return s.finish(res, start, false), nil
		}
	}

	hangDone := make(chan struct{})
	sessionDone := make(chan struct{})
	go func() {
		defer close(hangDone)
		if o.hangup == nil {
			return
		}
		select {
		case <-o.hangup:
			s.mu.Lock()
			if !s.dead {
				s.dead = true
				s.writeLocked([]byte("HANGUP\n"))
			}
			s.mu.Unlock()
		case <-sessionDone:
		}
	}()
	defer func() { close(sessionDone); <-hangDone }()

	var recv bytes.Buffer
	r := bufio.NewReader(io.TeeReader(nc, &recv))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			res.Received = recv.Bytes()
			if ctx.Err() != nil {
				return s.finish(res, start, true), fmt.Errorf("%w: %w", ErrServerHeld, ctx.Err())
			}
			// EOF or a reset: the server is done. Asterisk treats both as the
			// script's end.
			res.ServerClosed = true
			return s.finish(res, start, false), nil
		}
		line = strings.TrimSuffix(line, "\n")
		res.Commands = append(res.Commands, line)
		reply := s.handle(line, &res)
		s.mu.Lock()
		werr := s.writeLocked([]byte(reply))
		s.mu.Unlock()
		if werr != nil {
			res.Received = recv.Bytes()
			res.ServerClosed = true
			return s.finish(res, start, false), nil
		}
	}
}

func (s *session) finish(res Result, start time.Time, held bool) Result {
	res.Elapsed = time.Since(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	res.Sent = bytes.Clone(s.sent.Bytes())
	switch {
	case held:
		res.AGIStatus = ""
	case s.dead:
		res.AGIStatus = StatusHangup
	default:
		res.AGIStatus = StatusSuccess
	}
	return res
}

func (s *session) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b)
}

func (s *session) writeLocked(b []byte) error {
	s.sent.Write(b)
	_, err := s.nc.Write(b)
	return err
}

// Replies, as recorded from Asterisk 22.10.1 (agi_errors_1, agi_hangtest_1).
const (
	replyInvalid  = "510 Invalid or unknown command\n"
	replyDead     = "511 Command Not Permitted on a dead channel or intercept routine\n"
	usageGetVar   = "520-Invalid command syntax.  Proper usage follows:\nReturns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.\nExample return code: 200 result=1 (testvariable)\n520 End of proper usage.\n"
	usageSetVar   = "520-Invalid command syntax.  Proper usage follows:\nSets a variable to the current channel.\n520 End of proper usage.\n"
	usageFullVar  = "520-Invalid command syntax.  Proper usage follows:\nEvaluates the given <replaceable>expression</replaceable> against the channel specified by <replaceable>variablename</replaceable>, or the current channel if <replaceable>channelname</replaceable> is not set.\n520 End of proper usage.\n"
	usageExec     = "520-Invalid command syntax.  Proper usage follows:\nExecutes <replaceable>application</replaceable> with given <replaceable>options</replaceable>.\nReturns whatever the <replaceable>application</replaceable> returns, or <literal>-2</literal> on failure to find <replaceable>application</replaceable>.\n<note>NOTE:</note> exec does not evaluate dialplan functions and variables unless it is explicitly enabled by setting the <variable>AGIEXECFULL</variable> variable to <literal>yes</literal>.\n520 End of proper usage.\n"
	channelStatus = "6" // AST_STATE_UP: the recorded channels were answered
)

// handle answers one command line as Asterisk's agi_handle_command would.
func (s *session) handle(line string, res *Result) string {
	argv := ParseArgs(line)
	if len(argv) == 0 {
		return replyInvalid
	}
	// words is the command's first n words in upper case, as Asterisk matches
	// command names case-insensitively word by word.
	words := func(n int) string {
		if len(argv) < n {
			return ""
		}
		return strings.ToUpper(strings.Join(argv[:n], " "))
	}
	s.mu.Lock()
	dead := s.dead
	s.mu.Unlock()
	switch {
	case words(1) == "EXEC":
		if s.refuseExec {
			return replyDead
		}
		if len(argv) < 2 {
			return usageExec
		}
		data := ""
		if len(argv) >= 3 {
			data = argv[2]
			if isTrue(s.vars["AGIEXECFULL"]) {
				data = s.substitute(data)
			}
		}
		switch strings.ToUpper(argv[1]) {
		case "MSET":
			s.mset(data, res)
			return "200 result=0\n"
		case "NOOP", "VERBOSE", "LOG":
			return "200 result=0\n"
		}
		return "200 result=-2\n" // no such application

	case words(3) == "GET FULL VARIABLE":
		if len(argv) != 4 && len(argv) != 5 {
			return usageFullVar
		}
		return "200 result=1 (" + s.substitute(argv[3]) + ")\n"
	case words(2) == "GET VARIABLE":
		if len(argv) != 3 {
			return usageGetVar
		}
		if v, ok := s.lookup(argv[2]); ok {
			return "200 result=1 (" + v + ")\n"
		}
		return "200 result=0\n"
	case words(2) == "SET VARIABLE":
		if len(argv) != 4 {
			return usageSetVar
		}
		s.vars[argv[2]] = argv[3]
		res.Sets = append(res.Sets, Set{Name: argv[2], Value: argv[3]})
		return "200 result=1\n"
	case words(1) == "VERBOSE", words(1) == "NOOP":
		return "200 result=1\n"
	case words(1) == "ANSWER", words(2) == "STREAM FILE", words(2) == "CHANNEL STATUS":
		switch {
		case dead:
			return replyDead
		case words(1) == "ANSWER":
			return "200 result=0\n"
		case words(2) == "STREAM FILE":
			return "200 result=0 endpos=0\n"
		default:
			return "200 result=" + channelStatus + "\n"
		}
	}
	return replyInvalid
}

// lookup is GET VARIABLE: a function (name ending in ')') or a channel variable.
func (s *session) lookup(name string) (string, bool) {
	switch strings.ToUpper(name) {
	case "CHANNEL(LINKEDID)":
		return s.ch.Linkedid, true
	case "CHANNEL(UNIQUEID)", "UNIQUEID":
		return s.ch.Uniqueid, true
	case "CHANNEL(NAME)", "CHANNEL":
		return s.ch.Name, true
	case "CONTEXT":
		return s.ch.Context, true
	case "EXTEN":
		return s.ch.Exten, true
	}
	v, ok := s.vars[name]
	return v, ok
}

// substitute is GET FULL VARIABLE's expansion of ${NAME} and ${FUNC(arg)}; unknown
// names expand to "" as in Asterisk.
func (s *session) substitute(expr string) string {
	var b strings.Builder
	for {
		i := strings.Index(expr, "${")
		if i < 0 {
			b.WriteString(expr)
			return b.String()
		}
		j := strings.IndexByte(expr[i:], '}')
		if j < 0 {
			b.WriteString(expr)
			return b.String()
		}
		b.WriteString(expr[:i])
		v, _ := s.lookup(expr[i+2 : i+j])
		b.WriteString(v)
		expr = expr[i+j+1:]
	}
}
