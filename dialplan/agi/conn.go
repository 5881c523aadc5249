package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Conn is the server end of one FastAGI session: read the environment, then send
// commands one at a time, each answered before the next is sent. Asterisk reads the
// socket a line at a time through stdio, so pipelining commands could leave some
// unread in its buffer; Conn never does it. A Conn is not safe for concurrent use.
type Conn struct {
	nc     net.Conn
	r      *bufio.Reader
	lim    Limits
	hungUp bool
	// wbuf is reused for every command line; deadline is the socket's
	// deadline as last set, so that an unchanged one is not set again.
	wbuf     []byte
	deadline time.Time
	closed   bool
	// shut: the write side is closed (Answer sent its last command).
	shut bool
}

// readers recycles the sessions' read buffers: a session is short, and a
// fresh 4 KiB per session is most of what the FastAGI path allocates.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// NewConn wraps an accepted FastAGI connection. Zero Limits mean the defaults.
func NewConn(nc net.Conn, lim Limits) *Conn {
	lim = lim.withDefaults()
	r := readers.Get().(*bufio.Reader)
	r.Reset(nc)
	return &Conn{nc: nc, r: r, lim: lim}
}

// HungUp reports whether Asterisk has sent its HANGUP notice: the channel is gone,
// variables can still be read and set, most other commands answer 511.
func (c *Conn) HungUp() bool { return c.hungUp }

// Close closes the connection; Asterisk then ends AGI() and the dialplan
// continues. The Conn must not be used afterwards.
func (c *Conn) Close() error {
	err := c.nc.Close()
	if !c.closed {
		c.closed = true
		c.r.Reset(nil) // drop the connection and any unread bytes
		readers.Put(c.r)
		c.r = bufio.NewReaderSize(closedReader{}, 16)
	}
	return err
}

// closedReader stands in for the connection after Close, so that a read on a
// closed Conn fails as a read on the closed socket would, without touching
// the recycled buffer.
type closedReader struct{}

func (closedReader) Read([]byte) (int, error) { return 0, net.ErrClosed }

// ReadEnv reads the agi_* environment block.
func (c *Conn) ReadEnv(ctx context.Context) (Env, error) {
	defer c.watch(ctx)()
	env, err := ReadEnv(c.r, c.lim)
	return env, c.ctxErr(ctx, err)
}

// Command sends one command line, built by joining words with spaces (the caller
// quotes arguments that need it, see Quote), and reads its reply. A reply other than
// 200 is returned with a *ReplyError.
func (c *Conn) Command(ctx context.Context, words ...string) (Reply, error) {
	line := strings.Join(words, " ")
	if err := checkValue(line); err != nil {
		return Reply{}, fmt.Errorf("agi: command: %w", err)
	}
	c.wbuf = append(append(c.wbuf[:0], line...), '\n')
	return c.roundTrip(ctx, verb(words))
}

// SetVariable sets a channel variable, quoting the value.
func (c *Conn) SetVariable(ctx context.Context, name, value string) error {
	line, err := appendSetVariable(c.wbuf[:0], name, value)
	if err != nil {
		return fmt.Errorf("agi: SET VARIABLE: %w", err)
	}
	c.wbuf = line
	_, err = c.roundTrip(ctx, "SET VARIABLE")
	return err
}

// Exec runs a dialplan application on the channel: `EXEC app "data"`.
// Asterisk answers 200 with the application's return as the result ("-2": no
// such application); a negative result is returned with an *ExecError.
func (c *Conn) Exec(ctx context.Context, app, data string) (Reply, error) {
	if err := checkName(app); err != nil {
		return Reply{}, fmt.Errorf("agi: EXEC: %w", err)
	}
	if err := checkValue(data); err != nil {
		return Reply{}, fmt.Errorf("agi: EXEC %s: %w", app, err)
	}
	c.wbuf = append(appendQuote(append(append(append(c.wbuf[:0], "EXEC "...), app...), ' '), data), '\n')
	return c.execReply(ctx, "EXEC "+app)
}

func (c *Conn) execReply(ctx context.Context, cmd string) (Reply, error) {
	rep, err := c.roundTrip(ctx, cmd)
	if err == nil && strings.HasPrefix(rep.Result, "-") {
		err = &ExecError{Command: cmd, Reply: rep}
	}
	return rep, err
}

// SetVariables sets vars in order. When every name and value survives MSet's
// argument parsing as it is (values with no comma, quote, backslash,
// parenthesis, bracket, '$' or '|'), it takes one exchange, `EXEC MSet
// "A=1,B=2"`, which sets them in order as the SET VARIABLEs would; else, or
// when Asterisk refuses the EXEC (510, 511, 520, a negative result), one SET
// VARIABLE each. It reports how many exchanges it took.
func (c *Conn) SetVariables(ctx context.Context, vars ...Variable) (exchanges int, err error) {
	if line, ok := appendMSet(c.wbuf[:0], vars); ok {
		c.wbuf = line
		_, err := c.execReply(ctx, "EXEC MSet")
		exchanges++
		if err == nil {
			return exchanges, nil
		}
		if !errors.As(err, new(*ReplyError)) && !errors.As(err, new(*ExecError)) {
			return exchanges, err // the session is broken: no fallback can be sent
		}
	}
	for _, v := range vars {
		exchanges++
		if err := c.SetVariable(ctx, v.Name, v.Value); err != nil {
			return exchanges, fmt.Errorf("agi: set %s: %w", v.Name, err)
		}
	}
	return exchanges, nil
}

// ErrMSetRefused is Answer's error when Asterisk refused its EXEC MSet: the
// write side was already shut, so no SET VARIABLE could follow and the
// variables are not set. Ask with oneByOne from then on.
var ErrMSetRefused = errors.New("EXEC MSet refused after the last command was sent")

// errShut is a command after Answer.
var errShut = errors.New("agi: the session is answered: nothing more can be sent")

// Answer sets vars in order as the session's last word and shuts the write
// side as soon as its last command is sent, then reads that command's reply.
// Asterisk ends AGI() when it reads EOF, so the dialplan continues as soon as
// Asterisk has run the last command, instead of half a round trip later, when
// the server has read the reply and closed (issue 14). The reply is still read,
// so that a failure is reported. Nothing can be sent afterwards; Close the Conn.
//
// Without oneByOne it sends one `EXEC MSet` when the values allow it (see
// SetVariables); as no SET VARIABLE can follow once the write side is shut, a
// refused EXEC (510, 511, 520, a negative result) leaves the variables unset
// and is returned wrapping ErrMSetRefused and the *ReplyError or *ExecError.
// With oneByOne, or values MSet would change, it sends one SET VARIABLE each,
// waiting for each reply, and shuts the write side after the last one.
// It reports how many exchanges it took. A conn that cannot be half-closed
// (not TCP) is only closed by Close, as before.
func (c *Conn) Answer(ctx context.Context, oneByOne bool, vars ...Variable) (exchanges int, err error) {
	if !oneByOne {
		if line, ok := appendMSet(c.wbuf[:0], vars); ok {
			c.wbuf = line
			rep, err := c.exchange(ctx, "EXEC MSet", true)
			if err == nil && strings.HasPrefix(rep.Result, "-") {
				err = &ExecError{Command: "EXEC MSet", Reply: rep}
			}
			if errors.As(err, new(*ReplyError)) || errors.As(err, new(*ExecError)) {
				err = fmt.Errorf("agi: %w: %w", ErrMSetRefused, err)
			}
			return 1, err
		}
	}
	for i, v := range vars {
		exchanges++
		line, err := appendSetVariable(c.wbuf[:0], v.Name, v.Value)
		if err != nil {
			return exchanges, fmt.Errorf("agi: set %s: %w", v.Name, err)
		}
		c.wbuf = line
		if _, err := c.exchange(ctx, "SET VARIABLE", i == len(vars)-1); err != nil {
			return exchanges, fmt.Errorf("agi: set %s: %w", v.Name, err)
		}
	}
	return exchanges, nil
}

// GetVariable reads a channel variable or a function such as CHANNEL(linkedid).
// ok is false when Asterisk answers result=0 (not set).
func (c *Conn) GetVariable(ctx context.Context, name string) (value string, ok bool, err error) {
	if err := checkName(name); err != nil {
		return "", false, fmt.Errorf("agi: GET VARIABLE: %w", err)
	}
	c.wbuf = append(append(append(c.wbuf[:0], "GET VARIABLE "...), name...), '\n')
	rep, err := c.roundTrip(ctx, "GET VARIABLE")
	if err != nil {
		return "", false, err
	}
	return rep.Data, rep.Result == "1", nil
}

// GetFullVariable evaluates an expression such as ${CHANNEL(linkedid)} on the channel.
func (c *Conn) GetFullVariable(ctx context.Context, expr string) (string, error) {
	if err := checkValue(expr); err != nil {
		return "", fmt.Errorf("agi: GET FULL VARIABLE: %w", err)
	}
	c.wbuf = append(appendQuote(append(c.wbuf[:0], "GET FULL VARIABLE "...), expr), '\n')
	rep, err := c.roundTrip(ctx, "GET FULL VARIABLE")
	if err != nil {
		return "", err
	}
	return rep.Data, nil
}

// roundTrip sends the command line in c.wbuf and reads its reply.
func (c *Conn) roundTrip(ctx context.Context, cmd string) (Reply, error) {
	return c.exchange(ctx, cmd, false)
}

// exchange sends the command line in c.wbuf, shuts the write side after it
// when last is set, and reads its reply.
func (c *Conn) exchange(ctx context.Context, cmd string, last bool) (Reply, error) {
	if c.shut {
		return Reply{}, fmt.Errorf("%w (%s)", errShut, cmd)
	}
	defer c.watch(ctx)()
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return Reply{}, c.ctxErr(ctx, fmt.Errorf("agi: send %s: %w", cmd, err))
	}
	if last {
		c.shut = true
		if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
			// Asterisk has the command already: the FIN follows it, and
			// the reply can still arrive on the read side.
			_ = hc.CloseWrite()
		}
	}
	rep, hangup, err := readReply(c.r, c.lim)
	if hangup {
		c.hungUp = true
	}
	if err != nil {
		return Reply{}, c.ctxErr(ctx, fmt.Errorf("agi: %s: %w", cmd, err))
	}
	if rep.Code != CodeOK {
		return rep, &ReplyError{Command: cmd, Reply: rep}
	}
	return rep, nil
}

// watch makes blocking socket calls honour ctx: its deadline becomes the socket's,
// and its cancellation unblocks them at once. The returned func stops watching.
func (c *Conn) watch(ctx context.Context) func() {
	d, _ := ctx.Deadline()    // zero time: no deadline
	if !d.Equal(c.deadline) { // a session's calls mostly share one deadline
		_ = c.nc.SetDeadline(d)
		c.deadline = d
	}
	if ctx.Done() == nil {
		return func() {}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() {
		if !stop() {
			// The cancellation moved the socket's deadline into the past:
			// the next call must set its own again.
			c.deadline = time.Unix(1, 0)
		}
	}
}

// ctxErr names the context's error when it is why a socket call failed, so callers
// can tell a deadline from a broken peer.
func (c *Conn) ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}

// verb is the command's leading upper-case words, for error messages.
func verb(words []string) string {
	var v []string
	for _, w := range words {
		if w == "" || strings.ToUpper(w) != w || strings.ContainsAny(w, `"$ `) {
			break
		}
		v = append(v, w)
	}
	return strings.Join(v, " ")
}
